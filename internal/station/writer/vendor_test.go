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
	var mu sync.Mutex
	var acks []uint64
	var events []writer.Event
	pcs, w, state := runVendorWriter(t, v, writer.Options{Heartbeat: 100 * time.Millisecond,
		OnAck:   func(c uint64, _ time.Time) { mu.Lock(); acks = append(acks, c); mu.Unlock() },
		OnEvent: func(e writer.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
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

// TestOrderIsAcknowledgedAtTheStateRead: an order written while the PCS
// reads stopped is acknowledged as soon as a state read shows it starting
// or running, not at the next heartbeat: the heartbeat here is 30 s, the
// PCS is polled every 100 ms and starts within 200 ms.
func TestOrderIsAcknowledgedAtTheStateRead(t *testing.T) {
	v := vendorpcs.Start(t, vendorpcs.Options{StartDelay: 200 * time.Millisecond})
	_, w, state := runVendorWriter(t, v, writer.Options{Heartbeat: 30 * time.Second})
	testutil.WaitFor(t, 10*time.Second, "the PCS read stopped", func() bool {
		s := state()
		return s.Good() && s.V == plant.RunStopped
	})
	w.Set(plant.Setpoint{P: 50}, 1)
	testutil.WaitFor(t, 10*time.Second, "the order acknowledged after a state read, well before the 30 s heartbeat", w.Confirmed)
	if s := state(); !s.Good() || (s.V != plant.RunStarting && s.V != plant.RunRunning) {
		t.Errorf("acknowledged while the PCS reads %+v, want starting or running", s)
	}
}

// runVendorWriter polls the vendor PCS v with the example-pcs profile and
// runs a writer of o on it until the test ends. It returns the device, the
// writer and a reader of the PCS's run state.
func runVendorWriter(t *testing.T, v *vendorpcs.PCS, o writer.Options) (*devices.Device, *writer.Writer, func() procimg.Value) {
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	pcs, err := devices.New(devices.Options{
		Name: "u1.pcs", Address: v.Addr(), UnitID: 1, Profile: planttest.Profiles(t)["example-pcs"],
		Timeout: time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}, procimg.New(), log)
	if err != nil {
		t.Fatal(err)
	}
	o.PCS, o.Log = pcs, log
	w := writer.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pcs.Run(ctx) }()
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return pcs, w, func() procimg.Value { return pcs.Value(pcs.Profile().Point(plant.PointState), time.Now()) }
}
