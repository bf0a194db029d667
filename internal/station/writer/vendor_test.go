package writer_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station/writer"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
	"github.com/emsd/emsd/internal/testutil/vendorpcs"
)

// TestOrderIsAcknowledgedOnlyWhenThePCSCanDeliver: a PCS whose interlock
// refuses start accepts the order's writes, but the order is not
// acknowledged (nor reported, nor Confirmed) while it reads fault; once
// the interlock is released, a start retry runs it and the order is
// acknowledged.
func TestOrderIsAcknowledgedOnlyWhenThePCSCanDeliver(t *testing.T) {
	v := vendorpcs.Start(t, vendorpcs.Options{})
	poke := func(addr, val uint16) {
		t.Helper()
		h := modbus.NewTCPClientHandler(v.Addr())
		h.Timeout, h.SlaveId = 2*time.Second, 1
		if err := h.Connect(); err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		if _, err := modbus.NewClient(h).WriteSingleRegister(addr, val); err != nil {
			t.Fatal(err)
		}
	}
	poke(901, 1) // interlock: start is refused
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	pcs, err := devices.New(devices.Options{
		Name: "u1.pcs", Address: v.Addr(), UnitID: 1, Profile: planttest.Profiles(t)["example-pcs"],
		Timeout: time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}, procimg.New(), log)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var acks []uint64
	var events []writer.Event
	w := writer.New(writer.Options{PCS: pcs, Heartbeat: 100 * time.Millisecond, Log: log,
		OnAck:   func(c uint64, _ time.Time) { mu.Lock(); acks = append(acks, c); mu.Unlock() },
		OnEvent: func(e writer.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pcs.Run(ctx) }()
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	state := func() procimg.Value { return pcs.Value(pcs.Profile().Point(plant.PointState), time.Now()) }
	w.Set(plant.Setpoint{P: 50}, 1)
	testutil.WaitFor(t, 10*time.Second, "the PCS refusing start (fault)", func() bool {
		s := state()
		return s.Good() && s.V == plant.RunFault
	})
	testutil.WaitFor(t, 5*time.Second, "the order's writes accepted", func() bool {
		_, _, alive := w.AckState()
		return !alive.IsZero()
	})
	time.Sleep(300 * time.Millisecond) // several heartbeats, each writing the order
	sp, _ := w.Acked()
	mu.Lock()
	gotAcks := slices.Clone(acks)
	mu.Unlock()
	if w.Confirmed() || sp.P != 0 || len(gotAcks) != 0 {
		t.Errorf("PCS in fault: confirmed %v, acked %+v, reported %v; want nothing acknowledged", w.Confirmed(), sp, gotAcks)
	}

	poke(901, 0)
	testutil.WaitFor(t, 20*time.Second, "the order acknowledged once the PCS runs", w.Confirmed)
	if sp, _ := w.Acked(); sp.P != 50 {
		t.Errorf("acked %+v, want P 50", sp)
	}
	testutil.WaitFor(t, 5*time.Second, "the running PCS delivering", func() bool {
		p := pcs.Value(pcs.Profile().Point(plant.PointP), time.Now())
		return p.Good() && p.V > 45
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(acks, []uint64{1}) {
		t.Errorf("reported acknowledgements %v, want [1]", acks)
	}
	for _, e := range events {
		if e.Kind == writer.EventRestart {
			t.Errorf("a restart event without a restart: %+v", e)
		}
	}
}
