package dispatch

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/reactive"
)

// qMode applies a reactive mode with limits of ±1000 kvar.
func qMode(t *testing.T, c *Controller, p reactive.Params) {
	t.Helper()
	if p.QMax == 0 && p.QMin == 0 {
		p.QMax, p.QMin = 1000, -1000
	}
	mustApply(t, c, &SetReactive{p})
}

func TestSetReactiveRefusedWithReason(t *testing.T) {
	c := mustNew(t, fastCfg()) // 1000 kW plant
	for _, x := range []struct {
		cmd  SetReactive
		want string
	}{
		{SetReactive{reactive.Params{Mode: "vars"}}, "mode: unknown reactive mode"},
		{SetReactive{reactive.Params{Mode: reactive.ModeFixedQ, Q: 500, QMax: 1001, QMin: -10}}, "reactive refused: q_max: 1001 kvar exceeds the plant rating 1000"},
		{SetReactive{reactive.Params{Mode: reactive.ModeFixedQ, Q: -500, QMax: 10, QMin: -1001}}, "reactive refused: q_min"},
		{SetReactive{reactive.Params{Mode: reactive.ModeVoltage, VRef: 10000, QMax: 100}}, "ki"},
	} {
		err := c.Apply(x.cmd, t0)
		if err == nil || !strings.Contains(err.Error(), x.want) {
			t.Errorf("%+v: %v, want a refusal containing %q", x.cmd, err, x.want)
		}
	}
	if c.params.reactive.Mode != reactive.ModeOff {
		t.Errorf("a refused command changed the mode to %v", c.params.reactive.Mode)
	}
	mustApply(t, c, EStop{})
	err := c.Apply(&SetReactive{reactive.Params{Mode: reactive.ModeFixedQ, Q: 10, QMax: 100}}, t0)
	if !errors.Is(err, ErrEStopActive) || !strings.HasPrefix(err.Error(), "reactive refused") {
		t.Errorf("during estop: %v, want reactive refused: ErrEStopActive", err)
	}
	if err := c.Apply((*SetReactive)(nil), t0); err == nil {
		t.Error("a nil *SetReactive was accepted")
	}
}

// manualAt runs the plant in manual mode at p kW and q kvar for a step.
func manualAt(t *testing.T, units []Unit, p, q float64, mode reactive.Params) (*Controller, *sim, Report) {
	t.Helper()
	c := mustNew(t, fastCfg())
	s := newSim(units)
	s.step(c, 0)
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: p, Q: q})
	qMode(t, c, mode)
	return c, s, s.step(c, time.Second)
}

func checkS(t *testing.T, s *sim) {
	t.Helper()
	for i, sp := range s.out {
		if st := unitS(&s.in.Units[i]); math.Hypot(sp.P, sp.Q) > st*(1+1e-9) {
			t.Errorf("unit %d: %+v outside its S %v", i, sp, st)
		}
	}
}

// TestFixedQPFirst: P keeps its request; Q gets what S leaves, and the
// apparent-power cut is reported as Q's binding.
func TestFixedQPFirst(t *testing.T) {
	_, s, r := manualAt(t, healthyUnits(4, 250), 1000, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 600})
	qcap := 4 * math.Sqrt(275*275-250*250)
	if !near(r.P, 1000, 1e-6) || r.Binding != ConstraintNone {
		t.Errorf("P %v binding %v, want 1000 none", r.P, r.Binding)
	}
	if !near(r.Q, qcap, 1e-6) || r.QTarget != 600 || r.QBinding != reactive.BindApparent || !near(r.Cuts[ConstraintApparent], 600-qcap, 1e-6) {
		t.Errorf("Q %v target %v binding %v cut %v; want %v 600 apparent_power %v", r.Q, r.QTarget, r.QBinding, r.Cuts[ConstraintApparent], qcap, 600-qcap)
	}
	checkS(t, s)
}

// TestFixedQQFirst: Q keeps its request; P gets what S leaves, reported
// as the q_priority binding.
func TestFixedQQFirst(t *testing.T) {
	_, s, r := manualAt(t, healthyUnits(4, 250), 1000, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 600, Priority: reactive.QFirst})
	pcap := 4 * math.Sqrt(275*275-150*150)
	if !near(r.Q, 600, 1e-6) || r.QBinding != reactive.BindNone {
		t.Errorf("Q %v binding %v, want 600 none", r.Q, r.QBinding)
	}
	if !near(r.P, pcap, 1e-6) || r.Binding != ConstraintQPriority || !near(r.Cut, 1000-pcap, 1e-6) || !near(r.Target, pcap, 1e-6) {
		t.Errorf("P %v binding %v cut %v target %v; want %v q_priority %v, target what Q leaves", r.P, r.Binding, r.Cut, r.Target, pcap, 1000-pcap)
	}
	for i, sp := range s.out {
		if !near(sp.Q, 150, 1e-6) {
			t.Errorf("unit %d Q %v, want 150", i, sp.Q)
		}
	}
	checkS(t, s)
	// Charging too.
	_, s, r = manualAt(t, healthyUnits(4, 250), -1000, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: -600, Priority: reactive.QFirst})
	if !near(r.P, -pcap, 1e-6) || !near(r.Q, -600, 1e-6) || r.Binding != ConstraintQPriority {
		t.Errorf("charging: P %v Q %v binding %v; want %v -600 q_priority", r.P, r.Q, r.Binding, -pcap)
	}
	checkS(t, s)
	// Within S nothing is cut.
	_, _, r = manualAt(t, healthyUnits(4, 250), 400, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 600, Priority: reactive.QFirst})
	if !near(r.P, 400, 1e-6) || r.Binding != ConstraintNone || r.Cuts[ConstraintQPriority] > 1e-9 {
		t.Errorf("within S: P %v binding %v q cut %v", r.P, r.Binding, r.Cuts[ConstraintQPriority])
	}
}

// TestQSplitByHeadroom: a unit at its S limit gets no Q; a derated unit
// offers its derated S.
func TestQSplitByHeadroom(t *testing.T) {
	us := healthyUnits(4, 250)
	us[0].RatedS = 250 // at full P, no headroom
	_, s, r := manualAt(t, us, 1000, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 100})
	if s.out[0].Q != 0 || !near(r.Q, 100, 1e-6) {
		t.Errorf("unit at its S limit got Q %v; plant Q %v, want 100", s.out[0].Q, r.Q)
	}
	for i := 1; i < 4; i++ {
		if !near(s.out[i].Q, 100.0/3, 1e-6) {
			t.Errorf("unit %d Q %v, want 33.3", i, s.out[i].Q)
		}
	}
	for level := 1; level <= 2; level++ {
		us = healthyUnits(4, 250)
		us[0].AlarmLevel = level // derate, limit: S × 0.5 = 137.5
		_, s, r = manualAt(t, us, 0, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 1000})
		if !near(s.out[0].Q, 137.5, 1e-6) || !near(s.out[1].Q, 275, 1e-6) || !near(r.Q, 137.5+3*275, 1e-6) {
			t.Errorf("alarm level %d: unit Q %v, healthy %v, plant %v", level, s.out[0].Q, s.out[1].Q, r.Q)
		}
	}
}

// TestManualQBinding: with the reactive mode off, the manual Q is the
// target, and S cutting it is Q's binding.
func TestManualQBinding(t *testing.T) {
	_, _, r := manualAt(t, healthyUnits(4, 250), 1000, 600, reactive.Params{Mode: reactive.ModeOff})
	qcap := 4 * math.Sqrt(275*275-250*250)
	if r.QTarget != 600 || r.QBinding != reactive.BindApparent || !near(r.Q, qcap, 1e-6) {
		t.Errorf("manual Q: target %v binding %v Q %v; want 600 apparent_power %v", r.QTarget, r.QBinding, r.Q, qcap)
	}
	_, _, r = manualAt(t, healthyUnits(4, 250), 1000, 100, reactive.Params{Mode: reactive.ModeOff})
	if r.QTarget != 100 || r.QBinding != reactive.BindNone || !near(r.Q, 100, 1e-6) {
		t.Errorf("manual Q within S: target %v binding %v Q %v", r.QTarget, r.QBinding, r.Q)
	}
}

// TestApparentCutFromTheLimit: the apparent-power cut counts from the
// mode's limit, not from what the mode asked beyond it.
func TestApparentCutFromTheLimit(t *testing.T) {
	_, _, r := manualAt(t, healthyUnits(4, 250), 1000, 0, reactive.Params{Mode: reactive.ModePowerFactor, PF: 0.5, QMax: 600, QMin: -600})
	qcap := 4 * math.Sqrt(275*275-250*250)
	if !near(r.QTarget, 1000*math.Sqrt(3), 1e-6) || !near(r.Q, qcap, 1e-6) || !near(r.Cuts[ConstraintApparent], 600-qcap, 1e-6) {
		t.Errorf("target %v Q %v cut %v; want %v %v %v", r.QTarget, r.Q, r.Cuts[ConstraintApparent], 1000*math.Sqrt(3), qcap, 600-qcap)
	}
}

func TestPowerFactorMode(t *testing.T) {
	_, s, r := manualAt(t, healthyUnits(4, 250), 800, 0, reactive.Params{Mode: reactive.ModePowerFactor, PF: -0.8})
	if !near(r.Q, -600, 1e-6) || r.QBinding != reactive.BindNone {
		t.Errorf("Q %v binding %v, want -600 none", r.Q, r.QBinding)
	}
	checkS(t, s)
}

// TestVoltageMode: the loop reads the POI voltage, starts from the measured
// Q with no step, and goes to 0 Q without a good voltage.
func TestVoltageMode(t *testing.T) {
	c, s, r := manualAt(t, healthyUnits(4, 250), 0, 0, reactive.Params{Mode: reactive.ModeFixedQ, Q: 100})
	if !near(r.Q, 100, 1e-6) {
		t.Fatalf("fixed Q %v", r.Q)
	}
	s.in.V, s.in.VOK = 10000, true
	qMode(t, c, reactive.Params{Mode: reactive.ModeVoltage, VRef: 10000, Ki: 1})
	r = s.step(c, time.Second)
	if !near(r.Q, 100, 1e-6) {
		t.Errorf("voltage mode at its setpoint: Q %v, want the measured 100", r.Q)
	}
	s.in.V = 9800
	r = s.step(c, time.Second)
	if !near(r.Q, 120, 1e-6) { // 100 + 1·1000·0.02·1 s
		t.Errorf("after 1 s 2 %% low: Q %v, want 120", r.Q)
	}
	s.in.VOK = false
	r = s.step(c, time.Second)
	if r.Q != 0 || r.QBinding != reactive.BindVoltage {
		t.Errorf("no voltage: Q %v binding %v, want 0 %v", r.Q, r.QBinding, reactive.BindVoltage)
	}
	// An emergency stop takes Q to 0.
	s.in.VOK = true
	mustApply(t, c, EStop{})
	r = s.step(c, time.Second)
	if r.Q != 0 || r.QTarget != 0 {
		t.Errorf("estop: Q %v target %v", r.Q, r.QTarget)
	}
}

// TestPropertyReactive: with any reactive mode and priority, no unit's S
// is exceeded, Q stays within the mode's limits, and the priority holds:
// P first never takes P for Q; Q first delivers the Q the units can carry.
func TestPropertyReactive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "n")
		units := make([]Unit, n)
		var rated float64
		for i := range units {
			units[i] = genUnit(t, i)
			rated += units[i].RatedP
		}
		cfg := DefaultConfig(rated)
		cfg.RampRate = 1e9
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rp := reactive.Params{
			Mode: rapid.SampledFrom([]reactive.Mode{reactive.ModeOff, reactive.ModeFixedQ, reactive.ModePowerFactor, reactive.ModeQU, reactive.ModeVoltage}).Draw(t, "mode"),
			QMax: rapid.Float64Range(0, rated).Draw(t, "qmax"),
			QMin: rapid.Float64Range(-rated, 0).Draw(t, "qmin"),
			PF:   rapid.Float64Range(0.1, 1).Draw(t, "pf"),
			VRef: 10000, DroopPct: 5, Ki: rapid.Float64Range(0.1, 50).Draw(t, "ki"),
			Priority: rapid.SampledFrom([]reactive.Priority{reactive.PFirst, reactive.QFirst}).Draw(t, "prio"),
		}
		rp.Q = rapid.Float64Range(rp.QMin, rp.QMax).Draw(t, "q")
		if err := c.Apply(SetReactive{rp}, t0); err != nil {
			t.Fatal(err)
		}
		_ = c.Apply(SetMode{Mode: ModeManual}, t0)
		_ = c.Apply(ManualSetpoint{P: rapid.Float64Range(-rated, rated).Draw(t, "p"), Q: rapid.Float64Range(-rated, rated).Draw(t, "mq")}, t0)
		in := Input{Now: t0, F: 50, FOK: true, POIOK: true, Units: units, VOK: rapid.Bool().Draw(t, "vok")}
		out := make([]plant.Setpoint, n)
		for k := range rapid.IntRange(1, 5).Draw(t, "steps") {
			in.Now = t0.Add(time.Duration(k) * 200 * time.Millisecond)
			in.V = rapid.Float64Range(9000, 11000).Draw(t, "v")
			r := c.Step(&in, out)
			checkInvariants(t, c, &cfg, &in, out, r)
			var q float64
			for _, sp := range out {
				q += sp.Q
			}
			if !near(q, r.Q, 1e-6*(1+math.Abs(q))) {
				t.Fatalf("report Q %v != sum %v", r.Q, q)
			}
			if rp.Mode != reactive.ModeOff && (q > rp.QMax+1e-6 || q < rp.QMin-1e-6) {
				t.Fatalf("Q %v outside %v..%v", q, rp.QMin, rp.QMax)
			}
			if rp.Priority == reactive.PFirst && (r.Cuts[ConstraintQPriority] != 0 || !near(r.P, r.Target, 1e-6*(1+math.Abs(r.P)))) {
				t.Fatalf("P first: P %v, target %v, q cut %v", r.P, r.Target, r.Cuts[ConstraintQPriority])
			}
			if rp.Priority == reactive.QFirst && rp.Mode == reactive.ModeFixedQ {
				var head float64
				for i := range units {
					if available(&units[i], c.States()[i], r.EStop) {
						head += c.hbuf[i]
					}
				}
				if want := clamp(rp.Q, -head, head); !near(q, want, 1e-6*(1+head)) {
					t.Fatalf("Q first: Q %v, want %v (head %v)", q, want, head)
				}
			}
		}
	})
}

// TestQFirstCutStopsAGCWindUp: the P that Q first takes is a cut like any
// other: the AGC trim does not integrate the error it leaves.
func TestQFirstCutStopsAGCWindUp(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetAGCParams{AGCParams{RampRate: 1e4, DeadBand: 1, Ki: 0.5, IntegralLimit: 100}})
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	qMode(t, c, reactive.Params{Mode: reactive.ModeFixedQ, Q: 1000, Priority: reactive.QFirst}) // 250 kvar a unit: P room 114.6
	mustApply(t, c, AGCTarget{P: 900})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	var r Report
	for range 200 {
		r = s.step(c, 100*time.Millisecond)
	}
	if pcap := 4 * math.Sqrt(275*275-250*250); !near(r.P, pcap, 1e-6) || r.Binding != ConstraintQPriority {
		t.Errorf("P %v binding %v, want %v q_priority", r.P, r.Binding, pcap)
	}
	if c.agc.integ > 1e-9 {
		t.Errorf("AGC trim wound up to %v kW against the Q-first cut", c.agc.integ)
	}
}

// TestVoltageLoopStartsFromMeasuredQ: the loop starts from the Q the units
// with good data measure, again after each new reactive command, and a
// cleared emergency stop leaves the reactive mode off.
func TestVoltageLoopStartsFromMeasuredQ(t *testing.T) {
	c := mustNew(t, fastCfg())
	in := Input{Now: t0, F: 50, FOK: true, POIOK: true, V: 10000, VOK: true, Units: healthyUnits(4, 250)}
	in.Units[0].PCSOK, in.Units[0].Q = false, 500 // not good: not counted
	in.Units[1].Q = math.NaN()
	in.Units[2].Q, in.Units[3].Q = 40, 60
	out := make([]plant.Setpoint, 4)
	vm := reactive.Params{Mode: reactive.ModeVoltage, VRef: 10000, Ki: 1}
	qMode(t, c, vm)
	if r := c.Step(&in, out); !near(r.Q, 100, 1e-9) {
		t.Fatalf("start: Q %v, want the measured 100", r.Q)
	}
	in.Units[2].Q = 240
	in.Now = in.Now.Add(time.Second)
	if r := c.Step(&in, out); !near(r.Q, 100, 1e-9) {
		t.Fatalf("running: Q %v, want the integrator's 100", r.Q)
	}
	qMode(t, c, vm) // a new command restarts from the measured 300
	in.Now = in.Now.Add(time.Second)
	if r := c.Step(&in, out); !near(r.Q, 300, 1e-9) {
		t.Fatalf("after a new command: Q %v, want the measured 300", r.Q)
	}
	mustApply(t, c, EStop{})
	in.Now = in.Now.Add(time.Second)
	c.Step(&in, out)
	mustApply(t, c, Reset{})
	in.V = 9000
	for range 2 {
		in.Now = in.Now.Add(time.Second)
		if r := c.Step(&in, out); r.Q != 0 || c.params.reactive.Mode != reactive.ModeOff {
			t.Fatalf("after the reset: Q %v, mode %v; want 0, off", r.Q, c.params.reactive.Mode)
		}
	}
}
