package ha

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/etcdtest"
)

func TestCommandRoundTrip(t *testing.T) {
	exp := 300.0
	for _, c := range []dispatch.Command{
		dispatch.SetMode{Mode: dispatch.ModeAGC},
		dispatch.ManualSetpoint{P: 1500, Q: -200},
		dispatch.AGCTarget{P: 2500},
		dispatch.SetPeakShaving{PeakParams: dispatch.PeakParams{ImportLimit: 900, RechargeBelow: 300, RechargeP: 100, RechargeSOC: 80, ExportLimit: &exp}},
		dispatch.ScheduleUpload{Points: []float64{1, 2, 3}},
		dispatch.EStop{Reason: "drill"},
		dispatch.Reset{Unit: "u2"},
	} {
		b, err := EncodeCommand(c, "a@1")
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		got, by, err := DecodeCommand(b)
		if err != nil || by != "a@1" || !reflect.DeepEqual(got, c) {
			t.Errorf("%T: round trip gave %#v by %q (%v), want %#v", c, got, by, err, c)
		}
	}
	if _, _, err := DecodeCommand([]byte(`{"type":"Launch","cmd":{}}`)); err == nil {
		t.Error("an unknown command type decoded")
	}
}

// TestReplicatedCommandsReachTheStandby: the leader's commands reach the
// standby in order through a real etcd, each with a revision, including
// those sent before the standby started; the standby cannot replicate.
func TestReplicatedCommandsReachTheStandby(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, _ := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	ctx := context.Background()
	sent := []dispatch.Command{dispatch.SetMode{Mode: dispatch.ModeManual}, dispatch.ManualSetpoint{P: 1200}}
	for _, c := range sent {
		if _, err := nodes[who].Replicate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes[1-who].Replicate(ctx, dispatch.EStop{}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("standby replicated: %v", err)
	}
	var mu sync.Mutex
	var got []dispatch.Command
	var revs []int64
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go nodes[1-who].Follow(fctx, func(rev int64, c dispatch.Command) {
		mu.Lock()
		got, revs = append(got, c), append(revs, rev)
		mu.Unlock()
	})
	late := dispatch.AGCTarget{P: 800}
	if _, err := nodes[who].Replicate(ctx, late); err != nil {
		t.Fatal(err)
	}
	sent = append(sent, late)
	testutil.WaitFor(t, 10*time.Second, "three commands at the standby", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, sent) {
		t.Fatalf("standby applied %v, want %v", got, sent)
	}
	if revs[0] >= revs[1] || revs[1] >= revs[2] {
		t.Fatalf("revisions %v not increasing", revs)
	}
}
