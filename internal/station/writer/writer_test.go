package writer_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station/writer"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// rig is one writer on the PCS of a simulated one-unit plant, over
// loopback Modbus, recording the cycles whose orders were acknowledged.
type rig struct {
	w      *writer.Writer
	delay  func(time.Duration) // delays every reply of the PCS
	writes func() uint64       // write requests the PCS accepted

	mu   sync.Mutex
	acks []uint64
}

func startRig(t *testing.T, heartbeat time.Duration) *rig {
	t.Helper()
	return startGatedRig(t, heartbeat, nil)
}

func startGatedRig(t *testing.T, heartbeat time.Duration, gate func() bool) *rig {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	cfg := planttest.Config(t, planttest.Spec{Name: "writer", Units: 1, RatedKW: 100, CapKWh: 200})
	sim := planttest.StartPlant(t, cfg, log)
	name := plant.DeviceName("u1", plant.KindPCS, 0)
	d := &cfg.Units[0].PCS
	pcs, err := devices.New(devices.Options{
		Name: name, Address: d.Address, UnitID: d.UnitIDOf(), Profile: planttest.Profiles(t)[d.Profile],
		Timeout: time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		StalePeriods: 3, LostAfter: 2 * time.Second,
	}, procimg.New(), log.Named(name))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{delay: func(v time.Duration) {
		if err := sim.DelayDevice(name, v); err != nil {
			t.Fatal(err)
		}
	}, writes: func() uint64 {
		var n uint64
		for _, w := range sim.Writes() {
			if w.Device == name {
				n += w.Writes
			}
		}
		return n
	}}
	r.w = writer.New(writer.Options{PCS: pcs, Heartbeat: heartbeat, Log: log, Gate: gate, OnAck: func(cycle uint64, _ time.Time) {
		r.mu.Lock()
		r.acks = append(r.acks, cycle)
		r.mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pcs.Run(ctx) }()
	go func() { defer wg.Done(); r.w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	testutil.WaitFor(t, 10*time.Second, "the PCS online", func() bool { return pcs.Health().State == devices.Online })
	return r
}

func (r *rig) acked() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.acks)
}

// Before any order the writer keeps the PCS's watchdog fed with heartbeats
// and sends no power; an order is then written, acknowledged and reported.
func TestHeartbeatThenOrder(t *testing.T) {
	r := startRig(t, 50*time.Millisecond)
	testutil.WaitFor(t, 5*time.Second, "a heartbeat acknowledged before any order", func() bool {
		_, _, alive := r.w.AckState()
		return !alive.IsZero()
	})
	if sp, at := r.w.Acked(); sp != (plant.Setpoint{}) || !at.IsZero() || r.w.Confirmed() {
		t.Fatalf("before any order: acked %+v at %v, confirmed %v; want nothing acknowledged", sp, at, r.w.Confirmed())
	}
	want := plant.Setpoint{P: 40, Q: 5}
	if !r.w.Set(want, 7) {
		t.Fatal("Set of a new order reported no change")
	}
	if r.w.Set(want, 8) {
		t.Fatal("Set of the same order again reported a change")
	}
	testutil.WaitFor(t, 5*time.Second, "the order acknowledged", r.w.Confirmed)
	if sp, at := r.w.Acked(); sp != want || at.IsZero() {
		t.Fatalf("acked %+v at %v, want %+v", sp, at, want)
	}
	if got := r.acked(); !slices.Equal(got, []uint64{7}) {
		t.Fatalf("acknowledged cycles %v, want [7]", got)
	}
	if r.w.Ordered() != want {
		t.Fatalf("ordered %+v, want %+v", r.w.Ordered(), want)
	}
}

// A newer order replaces one not yet sent: behind a slow PCS, of three
// orders in a row the middle one is never written.
func TestLatestWins(t *testing.T) {
	r := startRig(t, time.Hour)
	r.delay(300 * time.Millisecond)
	r.w.Set(plant.Setpoint{P: 10}, 1)
	time.Sleep(50 * time.Millisecond) // the first write is in flight
	r.w.Set(plant.Setpoint{P: 20}, 2)
	r.w.Set(plant.Setpoint{P: 30}, 3)
	testutil.WaitFor(t, 10*time.Second, "the last order acknowledged", r.w.Confirmed)
	if sp, _ := r.w.Acked(); sp.P != 30 {
		t.Fatalf("acked P %v, want 30", sp.P)
	}
	if got := r.acked(); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("acknowledged cycles %v, want [1 3] (the second order overtaken)", got)
	}
}

// While its gate is closed a writer writes nothing at all, not even the
// heartbeat (so the PCS watchdog takes over), however many orders come;
// once it opens, the latest order goes out without waiting for a beat.
func TestGateHoldsEveryWrite(t *testing.T) {
	var open atomic.Bool
	r := startGatedRig(t, 50*time.Millisecond, open.Load)
	for i := range 20 {
		r.w.Set(plant.Setpoint{P: float64(i + 1)}, uint64(i+1))
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // several heartbeat periods
	if n := r.writes(); n != 0 {
		t.Fatalf("the PCS accepted %d writes through a closed gate", n)
	}
	if _, _, alive := r.w.AckState(); !alive.IsZero() || r.w.Confirmed() {
		t.Fatal("a closed gate's writer reports an acknowledgement")
	}
	open.Store(true)
	testutil.WaitFor(t, 5*time.Second, "the held order written once the gate opens", r.w.Confirmed)
	if sp, _ := r.w.Acked(); sp.P != 20 {
		t.Fatalf("acked P %v, want the latest order 20", sp.P)
	}
	open.Store(false)
	time.Sleep(100 * time.Millisecond) // a write in flight at the close lands
	n := r.writes()
	r.w.Set(plant.Setpoint{P: 5}, 99)
	time.Sleep(200 * time.Millisecond)
	if m := r.writes(); m != n {
		t.Fatalf("%d writes after the gate closed again", m-n)
	}
}
