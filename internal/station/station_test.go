package station_test

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// rigSpec is a simulated plant of n units with one BMS each.
func rigSpec(n int) planttest.Spec {
	return planttest.Spec{
		Name: "test", Units: n, RatedKW: 1000, CapKWh: 2000,
		Devices: "lost_after: 500ms, backoff_max: 200ms",
		Control: "period: 20ms, heartbeat_period: 100ms, shutdown_timeout: 3s, summary_period: 0s",
		Battery: "soc_spread_pct: 0",
	}
}

// rig is a simulated plant polled by a running station.
type rig struct {
	*planttest.Running
	cfg   *config.Config
	plant *sim.Plant
	st    *station.Station
}

func startRig(t *testing.T, n int, o station.Options) *rig {
	t.Helper()
	cfg := planttest.Config(t, rigSpec(n))
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	plant := planttest.StartPlant(t, cfg, log)
	st := planttest.NewStation(t, cfg, log, o)
	return &rig{Running: planttest.Run(t, st), cfg: cfg, plant: plant, st: st}
}

// constant orders the same power from every unit.
type constant struct{ p atomic.Value }

func (c *constant) Step(_ *plant.View, out []plant.Setpoint) {
	p, _ := c.p.Load().(float64)
	for i := range out {
		out[i] = plant.Setpoint{P: p}
	}
}

func TestStationWritesSetpointsAndRampsToZeroOnShutdown(t *testing.T) {
	ctl := &constant{}
	ctl.p.Store(800.0)
	r := startRig(t, 3, station.Options{Controller: ctl})

	testutil.WaitFor(t, 5*time.Second, "every PCS to deliver 800 kW", func() bool {
		s := r.plant.Snapshot()
		for _, u := range s.Units {
			if math.Abs(u.PCS.PKW-800) > 8 || !u.PCS.Run {
				return false
			}
		}
		return true
	})
	testutil.WaitFor(t, 2*time.Second, "the view to show the delivered power", func() bool {
		v := r.st.Latest()
		return len(v.Units) == 3 && v.Units[0].P.Good() && math.Abs(v.Units[0].P.V-800) < 10
	})

	// Sample the simulated setpoints during shutdown: the ramp must pass
	// through intermediate values, not jump from 800 to 0.
	var mu sync.Mutex
	var seen []float64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for i := 0; i < 300; i++ {
			s := r.plant.Snapshot()
			mu.Lock()
			seen = append(seen, s.Units[0].PCS.PSetKW)
			mu.Unlock()
			if s.Units[0].PCS.PSetKW == 0 {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start := time.Now()
	r.Cancel()
	err := r.Wait(5 * time.Second)
	<-sampling
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	took := time.Since(start)
	// 800 kW at the default rate of rated P (1000 kW) per second: about 0.8 s.
	if took < 500*time.Millisecond {
		t.Errorf("shutdown took %v: too fast for a 1000 kW/s ramp from 800 kW", took)
	}
	s := r.plant.Snapshot()
	for _, u := range s.Units {
		if u.PCS.PSetKW != 0 {
			t.Errorf("%s: setpoint %v after shutdown, want 0", u.ID, u.PCS.PSetKW)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	mid := 0
	for _, p := range seen {
		if p > 50 && p < 750 {
			mid++
		}
	}
	if mid < 3 {
		t.Errorf("setpoints during shutdown %v: want a ramp through intermediate values", seen)
	}
	acked, _ := r.st.Acked()
	for i, a := range acked {
		if a != (plant.Setpoint{}) {
			t.Errorf("unit %d acked %v, want 0", i, a)
		}
	}
}

func TestShutdownIsBoundedWhenAPCSIsUnreachable(t *testing.T) {
	ctl := &constant{}
	ctl.p.Store(500.0)
	r := startRig(t, 2, station.Options{Controller: ctl})
	testutil.WaitFor(t, 5*time.Second, "units at 500 kW", func() bool {
		a, _ := r.st.Acked()
		return a[0].P == 500 && a[1].P == 500
	})
	if err := r.plant.DropDevice("u2.pcs"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.Cancel()
	err := r.Wait(10 * time.Second)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "u2") || strings.Contains(err.Error(), "u1") {
		t.Fatalf("want an error naming only u2, got %v", err)
	}
	bound := r.cfg.Control.ShutdownTimeout
	if took < bound || took > bound+2*time.Second {
		t.Errorf("shutdown took %v, want about the %v bound", took, bound)
	}
	if p := r.plant.Snapshot().Units[0].PCS.PSetKW; p != 0 {
		t.Errorf("u1 setpoint %v, want 0", p)
	}
}

// stuck blocks its Step after a few calls, like a hung control loop.
type stuck struct {
	calls   atomic.Int64
	release chan struct{}
}

func (s *stuck) Step(_ *plant.View, out []plant.Setpoint) {
	if s.calls.Add(1) > 10 {
		<-s.release
	}
	for i := range out {
		out[i] = plant.Setpoint{}
	}
}

type countingNotifier struct{ ready, watchdog, stopping atomic.Int64 }

func (n *countingNotifier) Ready()    { n.ready.Add(1) }
func (n *countingNotifier) Watchdog() { n.watchdog.Add(1) }
func (n *countingNotifier) Stopping() { n.stopping.Add(1) }

func TestWatchdogPingsStopWhenTheLoopIsStuck(t *testing.T) {
	ctl := &stuck{release: make(chan struct{})}
	ntf := &countingNotifier{}
	r := startRig(t, 1, station.Options{Controller: ctl, Notifier: ntf})
	testutil.WaitFor(t, 5*time.Second, "READY", func() bool { return ntf.ready.Load() == 1 })
	testutil.WaitFor(t, 5*time.Second, "the loop to hang", func() bool { return ctl.calls.Load() > 10 })
	time.Sleep(50 * time.Millisecond)
	before := ntf.watchdog.Load()
	if before < 5 {
		t.Fatalf("only %d watchdog pings before the hang, want one per cycle", before)
	}
	time.Sleep(300 * time.Millisecond) // 15 control periods
	if after := ntf.watchdog.Load(); after != before {
		t.Fatalf("watchdog pinged %d times while the loop was stuck", after-before)
	}
	close(ctl.release)
	testutil.WaitFor(t, 2*time.Second, "pings to resume", func() bool { return ntf.watchdog.Load() > before })
	r.Cancel()
	if err := r.Wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ntf.stopping.Load() != 1 {
		t.Errorf("STOPPING sent %d times, want 1", ntf.stopping.Load())
	}
}

func TestLostBatteryIsLostInTheView(t *testing.T) {
	r := startRig(t, 2, station.Options{})
	testutil.WaitFor(t, 5*time.Second, "good SOC everywhere", func() bool {
		v := r.st.Latest()
		return len(v.Units) == 2 && v.Units[0].BMS[0].SOC.Good() && v.Units[1].BMS[0].SOC.Good()
	})
	if err := r.plant.DropDevice("u1.bms0"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 3*time.Second, "u1.bms0 lost in the view", func() bool {
		return r.st.Latest().Units[0].BMS[0].SOC.Q == procimg.Lost
	})
	if v := r.st.Latest(); !v.Units[1].BMS[0].SOC.Good() {
		t.Errorf("u2's battery lost quality when u1's battery dropped: %v", v.Units[1].BMS[0].SOC.Q)
	}
	if err := r.plant.RestoreDevice("u1.bms0"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 3*time.Second, "u1.bms0 good again", func() bool {
		return r.st.Latest().Units[0].BMS[0].SOC.Good()
	})
}
