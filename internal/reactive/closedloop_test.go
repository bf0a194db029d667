package reactive_test

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/reactive"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// qLoop is a simulated 10 MW plant (4 × 2500 kW) on a Thevenin grid of SCR
// 10 and X/R 10 at 10 kV, polled over Modbus by a running station.
type qLoop struct {
	plant *sim.Plant
	disp  *station.Dispatcher
}

func startQLoop(t *testing.T) *qLoop {
	t.Helper()
	cfg := planttest.Config(t, planttest.Spec{
		Name: "reactive", Units: 4, RatedKW: 2500, CapKWh: 5000,
		Control: "period: 50ms, summary_period: 0s",
		Battery: "soc_pct: 50, soc_spread_pct: 4",
		Grid:    "    load_kw: 0\n    scr: 10\n    x_r: 10\n    voltage_v: 10000\n",
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant := planttest.StartPlant(t, cfg, log)
	disp := planttest.NewDispatcher(t, cfg, log)
	st := planttest.NewStation(t, cfg, log, station.Options{Controller: disp})
	planttest.Run(t, st)
	testutil.WaitFor(t, 10*time.Second, "the first full poll", st.Ready)
	return &qLoop{plant: plant, disp: disp}
}

func (l *qLoop) apply(t *testing.T, cmds ...dispatch.Command) {
	t.Helper()
	for _, c := range cmds {
		if _, err := l.disp.Submit(context.Background(), c); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
}

// poi is the POI meter's ground truth: P, Q and V.
func (l *qLoop) poi() (p, q, v float64) {
	s := l.plant.Snapshot().POI
	return s.PKW, s.QKVar, s.VV
}

// waitQ waits until the POI reactive power holds within tol of want.
func (l *qLoop) waitQ(t *testing.T, what string, want, tol float64) {
	t.Helper()
	testutil.WaitFor(t, 20*time.Second, what, func() bool {
		_, q, _ := l.poi()
		return math.Abs(q-want) <= tol
	})
}

// TestClosedLoopFixedQAndPowerFactor: a fixed Q and a power factor reach the
// POI over Modbus, with P unchanged.
func TestClosedLoopFixedQAndPowerFactor(t *testing.T) {
	l := startQLoop(t)
	l.apply(t, dispatch.ManualSetpoint{P: 4000}, dispatch.SetMode{Mode: dispatch.ModeManual},
		dispatch.SetReactive{Params: reactive.Params{Mode: reactive.ModeFixedQ, Q: -1500, QMax: 5000, QMin: -5000}})
	l.waitQ(t, "POI Q at -1500 kvar", -1500, 15)
	testutil.WaitFor(t, 20*time.Second, "POI P at 4000 kW", func() bool { p, _, _ := l.poi(); return math.Abs(p-4000) < 40 })

	l.apply(t, dispatch.SetReactive{Params: reactive.Params{Mode: reactive.ModePowerFactor, PF: 0.9, QMax: 5000, QMin: -5000}})
	want := 4000 * math.Sqrt(1-0.81) / 0.9
	l.waitQ(t, "POI Q at power factor 0.9", want, 20)
	p, q, _ := l.poi()
	if pf := p / math.Hypot(p, q); math.Abs(pf-0.9) > 0.005 {
		t.Errorf("power factor at the POI %.4f, want 0.9", pf)
	}
}

// TestClosedLoopQU: a grid-voltage dip of 3 % draws capacitive Q along the
// droop (with a 1 s response), which lifts the POI voltage part of the way back.
func TestClosedLoopQU(t *testing.T) {
	l := startQLoop(t)
	par := reactive.Params{Mode: reactive.ModeQU, VRef: 10000, DeadBand: 100, DroopPct: 5, TauS: 1, QMax: 4000, QMin: -4000}
	l.apply(t, dispatch.SetReactive{Params: par})
	time.Sleep(time.Second)
	if _, q, _ := l.poi(); math.Abs(q) > 1 {
		t.Errorf("Q %v kvar at nominal voltage, inside the dead band; want 0", q)
	}
	l.plant.SetVoltage(9700, 0)
	// The equilibrium: V = V0 + k·Q with Q = droop(V); iterate the plant's
	// own answer until the loop holds still.
	var q, v float64
	testutil.WaitFor(t, 20*time.Second, "Q(U) settles", func() bool {
		q1, v1 := q, v
		time.Sleep(200 * time.Millisecond)
		_, q, v = l.poi()
		return q > 100 && math.Abs(q-q1) < 2 && math.Abs(v-v1) < 0.5
	})
	if want := reactive.DroopQ(&par, v); math.Abs(q-want) > 30 {
		t.Errorf("at %.1f V: Q %.0f kvar, want the droop's %.0f", v, q, want)
	}
	if v <= 9700 {
		t.Errorf("POI voltage %.1f V did not rise above the source's 9700", v)
	}
}

// TestClosedLoopAVCStep steps the voltage setpoint by 2 % on a grid of SCR
// 10: the POI voltage settles within ±0.5 % of nominal, with the time to
// settle and the overshoot logged (the 2 s target is emsbench's to
// measure; this test's limit is generous).
func TestClosedLoopAVCStep(t *testing.T) {
	l := startQLoop(t)
	par := reactive.Params{Mode: reactive.ModeVoltage, VRef: 10000, DeadBand: 10, Ki: 30, QMax: 5000, QMin: -5000}
	l.apply(t, dispatch.SetReactive{Params: par})
	time.Sleep(500 * time.Millisecond)
	par.VRef = 10200
	type sample struct{ t, v float64 }
	var (
		mu   sync.Mutex
		vs   []sample
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	t0 := time.Now()
	l.apply(t, dispatch.SetReactive{Params: par})
	go func() {
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				_, _, v := l.poi()
				mu.Lock()
				vs = append(vs, sample{now.Sub(t0).Seconds(), v})
				mu.Unlock()
			}
		}
	}()
	time.Sleep(8 * time.Second)
	close(stop)
	<-done
	const band = 0.005 * 10000 // ±0.5 % of nominal
	settle, peak := 0.0, 0.0
	for _, s := range vs {
		if math.Abs(s.v-10200) > band {
			settle = s.t
		}
		peak = max(peak, s.v-10200)
	}
	last := vs[len(vs)-1]
	t.Logf("AVC 2 %% step at SCR 10: settled within ±0.5 %% in %.2f s, overshoot %.1f V (%.1f %% of the step), final %.1f V",
		settle, peak, 100*peak/200, last.v)
	if math.Abs(last.v-10200) > par.DeadBand+5 {
		t.Errorf("final voltage %.1f V, want 10200 ± the dead band", last.v)
	}
	if settle > 6 {
		t.Errorf("settled within ±0.5 %% after %.2f s, want well under 6 s", settle)
	}
	if peak > 0.5*200 {
		t.Errorf("overshoot %.1f V, over half the 200 V step", peak)
	}
}
