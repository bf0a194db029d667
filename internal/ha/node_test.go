package ha

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/etcdtest"
)

const testTTL = 2 * time.Second

func newNode(t *testing.T, endpoints []string, name, prefix string) *Node {
	t.Helper()
	n, err := New(Options{Endpoints: endpoints, Name: name, Prefix: prefix, TTL: testTTL, Margin: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pair starts two nodes at once and returns them with a stop for each.
func pair(t *testing.T, endpoints ...string) ([2]*Node, [2]context.CancelFunc) {
	var nodes [2]*Node
	var stops [2]context.CancelFunc
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		nodes[i] = newNode(t, endpoints, fmt.Sprintf("ctl-%c", 'a'+i), "/emsd/test")
		ctx, cancel := context.WithCancel(context.Background())
		stops[i] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); <-start; nodes[i].Run(ctx) }()
	}
	close(start)
	t.Cleanup(func() {
		for i := range nodes {
			stops[i]()
		}
		wg.Wait()
		for _, n := range nodes {
			n.Close()
		}
	})
	return nodes, stops
}

func leaders(nodes [2]*Node) (n int, who int) {
	who = -1
	for i, x := range nodes {
		if x.Role() == Leader {
			n, who = n+1, i
		}
	}
	return n, who
}

// TestBothStartAtOnceExactlyOneLeads starts two nodes at the same instant
// against a real etcd: exactly one leads and has its fence open, the other
// names it when refusing, and that holds for several TTLs.
func TestBothStartAtOnceExactlyOneLeads(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, _ := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	other := nodes[1-who]
	testutil.WaitFor(t, 5*time.Second, "the standby to learn the leader", func() bool { return other.Leader() == nodes[who].Name() })
	want := "standby; the active controller is " + nodes[who].Name()
	if got := other.StandbyReason(); got != want {
		t.Errorf("standby reason %q, want %q", got, want)
	}
	end := time.Now().Add(3 * testTTL)
	for time.Now().Before(end) {
		n, w := leaders(nodes)
		if n != 1 || w != who {
			t.Fatalf("%d leaders (leader %d, first %d)", n, w, who)
		}
		if !nodes[who].Writable() || other.Writable() {
			t.Fatalf("fence: leader writable %v, standby writable %v", nodes[who].Writable(), other.Writable())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if nodes[who].Takeovers() != 1 || other.Takeovers() != 0 {
		t.Errorf("takeovers: leader %d, standby %d; want 1 and 0", nodes[who].Takeovers(), other.Takeovers())
	}
}

// TestStandbyTakesOverWithinTTL closes the leader's etcd connection
// without resigning, as a crash would: it stops writing at once, and the
// standby leads within TTL + 1 s.
func TestStandbyTakesOverWithinTTL(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, stops := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	other := nodes[1-who]
	// A crash: the lease is neither renewed nor revoked.
	nodes[who].Close()
	lost := time.Now()
	testutil.WaitFor(t, 10*time.Second, "the standby to take over", func() bool { return other.Writable() })
	took := time.Since(lost)
	t.Logf("takeover %v after the leader's last renewal could have been sent (TTL %v)", took.Round(time.Millisecond), testTTL)
	if took > testTTL+time.Second {
		t.Errorf("takeover took %v, want within TTL+1s = %v", took, testTTL+time.Second)
	}
	if nodes[who].Writable() {
		t.Error("the crashed leader's fence is still open")
	}
	stops[who]()
}

// TestHandover moves the active role on request: the leader resigns, the
// standby leads, and the old leader stays standby.
func TestHandover(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, _ := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	if err := nodes[1-who].Resign(); err == nil {
		t.Error("the standby accepted a handover")
	}
	if err := nodes[who].Resign(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "the other node to lead", func() bool { return nodes[1-who].Writable() })
	if n, w := leaders(nodes); n != 1 || w != 1-who {
		t.Fatalf("%d leaders, leader %d, after the handover from %d", n, w, who)
	}
	if nodes[who].Writable() {
		t.Fatal("the old leader still writable")
	}
}

// TestEtcdRestartNoTakeover restarts the (single-member) etcd under a
// pair, down for longer than the TTL: etcd's leases survive a restart, so
// the leader keeps the role and the standby never leads. The leader's
// fence closes while etcd is away (it stops writing), and opens again once
// etcd answers.
func TestEtcdRestartNoTakeover(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, _ := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	var mu sync.Mutex
	var bad []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if nodes[1-who].Role() == Leader || nodes[1-who].Writable() {
				mu.Lock()
				bad = append(bad, time.Now().Format("15:04:05.000"))
				mu.Unlock()
			}
		}
	}()
	etcd.Stop()
	time.Sleep(testTTL + time.Second) // longer than the TTL: the client's own keep-alive gives up
	etcd.Start()
	testutil.WaitFor(t, 15*time.Second, "the leader writable again", nodes[who].Writable)
	time.Sleep(2 * testTTL)
	close(stop)
	<-done
	if len(bad) > 0 {
		t.Fatalf("the standby led or was writable during the etcd restart, at %v", bad)
	}
	if nodes[who].Role() != Leader || nodes[who].Takeovers() != 1 || nodes[1-who].Takeovers() != 0 {
		t.Fatalf("after the restart: leader role %v takeovers %d, standby takeovers %d; want leader, 1, 0",
			nodes[who].Role(), nodes[who].Takeovers(), nodes[1-who].Takeovers())
	}
}

// TestEtcdMemberLossNoTakeover stops the etcd cluster's leader member, one
// of three: the quorum holds, the pair's leader keeps the role and the
// standby never leads or writes.
func TestEtcdMemberLossNoTakeover(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3)
	eps := etcdtest.Endpoints(cluster)
	nodes, _ := pair(t, eps...)
	testutil.WaitFor(t, 30*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	victim := -1
	testutil.WaitFor(t, 10*time.Second, "the etcd leader member", func() bool {
		for i, ep := range eps {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := nodes[0].Client().Status(ctx, ep)
			cancel()
			if err == nil && st.Leader == st.Header.MemberId {
				victim = i
				return true
			}
		}
		return false
	})
	var mu sync.Mutex
	var bad []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if nodes[1-who].Role() == Leader || nodes[1-who].Writable() {
				mu.Lock()
				bad = append(bad, time.Now().Format("15:04:05.000"))
				mu.Unlock()
			}
		}
	}()
	cluster[victim].Stop()
	time.Sleep(3 * testTTL)
	testutil.WaitFor(t, 10*time.Second, "the leader writable", nodes[who].Writable)
	close(stop)
	<-done
	if len(bad) > 0 {
		t.Fatalf("the standby led or was writable after etcd member %d of 3 (its leader) stopped, at %v", victim, bad)
	}
	if nodes[who].Role() != Leader || nodes[who].Takeovers() != 1 || nodes[1-who].Takeovers() != 0 {
		t.Fatalf("after losing one member: leader role %v takeovers %d, standby takeovers %d; want leader, 1, 0",
			nodes[who].Role(), nodes[who].Takeovers(), nodes[1-who].Takeovers())
	}
}

// TestCleanStopRevokes: a leader that stops cleanly revokes its lease, so
// the standby leads at once instead of after the lease runs out.
func TestCleanStopRevokes(t *testing.T) {
	etcd := etcdtest.Start(t)
	nodes, stops := pair(t, etcd.Endpoint())
	testutil.WaitFor(t, 10*time.Second, "a leader", func() bool { n, _ := leaders(nodes); return n == 1 })
	_, who := leaders(nodes)
	time.Sleep(testTTL / 8) // a renewal has just been granted, in any case
	stops[who]()
	stopped := time.Now()
	testutil.WaitFor(t, 10*time.Second, "the standby to lead", nodes[1-who].Writable)
	took := time.Since(stopped)
	t.Logf("standby leads %v after a clean stop (TTL %v)", took.Round(time.Millisecond), testTTL)
	if took >= testTTL {
		t.Errorf("standby led %v after the clean stop: the lease ran out instead of being revoked", took)
	}
}
