package dispatch

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// fastCfg is a 1 MW plant whose ramp limit does not get in the way.
func fastCfg() Config {
	c := DefaultConfig(1000)
	c.RampRate = 1e6
	return c
}

func TestManualRampAndReport(t *testing.T) {
	c := mustNew(t, DefaultConfig(1000)) // ramp 100 kW/s
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: 400})
	for i, want := range []float64{100, 200, 300, 400, 400} {
		r := s.step(c, time.Second)
		if !near(r.P, want, 1e-6) || !near(sumP(s.out), want, 1e-6) {
			t.Fatalf("step %d: P %v, want %v", i, r.P, want)
		}
		if want < 400 && (r.Binding != ConstraintRamp || !near(r.Cut, 400-want, 1e-6)) {
			t.Errorf("step %d: binding %v cut %v, want ramp %v", i, r.Binding, r.Cut, 400-want)
		}
	}
	for i, sp := range s.out {
		if !near(sp.P, 100, 1e-6) {
			t.Errorf("unit %d: %v, want equal split 100", i, sp.P)
		}
	}
}

func TestModeSwitchWithoutStep(t *testing.T) {
	cfg := DefaultConfig(1000)
	c := mustNew(t, cfg)
	s := newSim(healthyUnits(4, 250))
	for i := range s.in.Units { // plant already running at 400 kW when the daemon starts
		s.out[i].P = 100
	}
	r := s.step(c, 0)
	if !near(r.P, 400, 1e-6) {
		t.Fatalf("first step in standby jumped to %v, want 400 (start from current output)", r.P)
	}
	r = s.step(c, time.Second)
	if !near(r.P, 300, 1e-6) {
		t.Fatalf("standby ramps down: got %v, want 300", r.P)
	}
	mustApply(t, c, AGCTarget{P: -500})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	prev := r.P
	for i := 0; i < 20; i++ {
		r = s.step(c, time.Second)
		if d := math.Abs(r.P - prev); d > cfg.RampRate+1e-6 {
			t.Fatalf("step %d: power step %v kW exceeds ramp limit", i, d)
		}
		prev = r.P
	}
	// AGC ramp is 0.2 MW/min = 3.33 kW/s, so after 20 s we are still near 300.
	if r.P < 200 || r.P > 300 {
		t.Errorf("AGC did not start from the current output: %v", r.P)
	}
}

func TestSchedule(t *testing.T) {
	pts := make([]float64, PointsPerDay)
	pts[48] = 300  // 12:00-12:15
	pts[49] = -200 // 12:15-12:30
	tou := &TOUPlan{Periods: []TOUPeriod{{"00:00", "12:00", TOUFlat}, {"12:00", "13:00", TOUValley},
		{"13:00", "18:00", TOUPeak}, {"18:00", "24:00", TOUFlat}}, ChargeP: 400, DischargeP: 600, ChargeToSOC: 90, DischargeToSOC: 20}
	for _, tc := range []struct {
		name string
		up   ScheduleUpload
		at   time.Duration // after 12:00
		soc  float64
		want float64
	}{
		{"points 12:00", ScheduleUpload{Points: pts}, 0, 50, 300},
		{"points 12:14:59", ScheduleUpload{Points: pts}, 15*time.Minute - time.Second, 50, 300},
		{"points 12:15", ScheduleUpload{Points: pts}, 15 * time.Minute, 50, -200},
		{"points 12:30", ScheduleUpload{Points: pts}, 30 * time.Minute, 50, 0},
		{"segments", ScheduleUpload{Segments: []Segment{{"00:00", "12:30", 100}, {"12:30", "24:00", -50}}}, 29 * time.Minute, 50, 100},
		{"segments next", ScheduleUpload{Segments: []Segment{{"00:00", "12:30", 100}, {"12:30", "24:00", -50}}}, 30 * time.Minute, 50, -50},
		{"segments 30 s into the next", ScheduleUpload{Segments: []Segment{{"00:00", "12:30", 100}, {"12:30", "24:00", -50}}}, 30*time.Minute + 30*time.Second, 50, -50},
		{"tou valley charges", ScheduleUpload{TOU: tou}, 0, 50, -400},
		{"tou valley tapers near target", ScheduleUpload{TOU: tou}, 0, 89, -200},
		{"tou valley stops at target", ScheduleUpload{TOU: tou}, 0, 90, 0},
		{"tou peak discharges", ScheduleUpload{TOU: tou}, time.Hour, 50, 600},
		{"tou peak tapers near target", ScheduleUpload{TOU: tou}, time.Hour, 21, 300},
		{"tou peak stops at target", ScheduleUpload{TOU: tou}, time.Hour, 20, 0},
		{"tou flat", ScheduleUpload{TOU: tou}, 7 * time.Hour, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, fastCfg())
			mustApply(t, c, tc.up)
			mustApply(t, c, SetMode{Mode: ModeSchedule})
			s := newSim(healthyUnits(4, 250))
			for i := range s.in.Units {
				s.in.Units[i].SOC = tc.soc
			}
			s.in.Now = t0.Add(tc.at - time.Second)
			s.step(c, 0)
			r := s.step(c, time.Second)
			if !near(r.Base, tc.want, 1e-6) || !near(r.P, tc.want, 1e-6) {
				t.Errorf("base %v P %v, want %v", r.Base, r.P, tc.want)
			}
		})
	}
}

func TestPeakShaving(t *testing.T) {
	cfg := fastCfg()
	for _, tc := range []struct {
		name    string
		params  PeakParams
		load    float64 // site POI power without battery; < 0 import
		soc     float64
		poiOK   bool
		wantBat float64
	}{
		{"shave import above limit", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 100, RechargeSOC: 90}, -1500, 50, true, 500},
		{"idle between thresholds", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 100, RechargeSOC: 90}, -700, 50, true, 0},
		{"recharge below threshold", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 100, RechargeSOC: 90}, -200, 50, true, -100},
		{"recharge limited by threshold", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 400, RechargeSOC: 90}, -450, 50, true, -50},
		{"no recharge when full", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 100, RechargeSOC: 80}, -200, 85, true, 0},
		{"anti-backflow absorbs export", PeakParams{ImportLimit: 1000, RechargeP: 0, RechargeSOC: 90, ExportLimit: ptr(0)}, 300, 50, true, -300},
		{"meter lost holds 0", PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 100, RechargeSOC: 90}, -1500, 50, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, cfg)
			mustApply(t, c, SetPeakShaving{tc.params})
			mustApply(t, c, SetMode{Mode: ModePeakShaving})
			s := newSim(healthyUnits(4, 250))
			s.load = tc.load
			s.in.POIOK = tc.poiOK
			for i := range s.in.Units {
				s.in.Units[i].SOC = tc.soc
			}
			var r Report
			for i := 0; i < 5; i++ { // closed loop: the meter sees last cycle's output
				r = s.step(c, time.Second)
			}
			if !near(r.P, tc.wantBat, 1e-6) {
				t.Errorf("battery %v, want %v", r.P, tc.wantBat)
			}
			if tc.poiOK && tc.load < -tc.params.ImportLimit {
				if s.in.POIP < -tc.params.ImportLimit-1 {
					t.Errorf("POI import %v above limit %v", -s.in.POIP, tc.params.ImportLimit)
				}
			}
		})
	}
}

func TestAGCSteadyStateWithLosses(t *testing.T) {
	cfg := DefaultConfig(1000)
	c := mustNew(t, cfg)
	mustApply(t, c, SetAGCParams{AGCParams{RampRate: 0.6, DeadBand: 5, Ki: 0.2, IntegralLimit: 300}})
	s := newSim(healthyUnits(4, 300))
	s.eff, s.load = 0.96, -40 // transformer/converter losses and auxiliary load
	s.step(c, 0)
	mustApply(t, c, AGCTarget{P: 600})
	mustApply(t, c, SetMode{Mode: ModeAGC})
	prevPOI := s.in.POIP
	for k := 0; k < 200; k++ {
		s.step(c, time.Second)
		if k > 1 && s.in.POIP-prevPOI > 10+1e-6+0.2*300 { // 10 kW/s ramp plus trim
			t.Fatalf("t=%d: POI jumped %v kW", k, s.in.POIP-prevPOI)
		}
		prevPOI = s.in.POIP
	}
	for k := 0; k < 30; k++ {
		s.step(c, time.Second)
		if err := math.Abs(s.in.POIP - 600); err > 0.005*cfg.RatedP {
			t.Fatalf("steady-state error %v kW exceeds 0.5 %% of rated", err)
		}
	}
	// Unreachable target: output saturates; the trim must not wind up, so
	// the next reachable target settles quickly.
	mustApply(t, c, AGCTarget{P: 1000})
	for k := 0; k < 200; k++ {
		s.step(c, time.Second)
	}
	if math.Abs(c.agc.integ) > 300+1e-9 {
		t.Fatalf("integral trim %v exceeds its limit", c.agc.integ)
	}
	mustApply(t, c, AGCTarget{P: 950})
	for k := 0; k < 60; k++ {
		s.step(c, time.Second)
	}
	mustApply(t, c, AGCTarget{P: 500})
	settled := -1
	for k := 0; k < 120; k++ {
		s.step(c, time.Second)
		if math.Abs(s.in.POIP-500) <= 5 {
			if settled < 0 {
				settled = k
			}
		} else {
			settled = -1
		}
	}
	if settled < 0 || settled > 90 {
		t.Errorf("after saturation AGC did not settle within 90 s (settled at %d)", settled)
	}
}

func TestPFROverlay(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 2, DeadBand: 0.033, Reserve: 200}})
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	dp, on := c.DroopParams()
	if !on || dp.RatedP != 1000 || dp.DroopPct != 2 {
		t.Fatalf("DroopParams %+v %v", dp, on)
	}
	for _, tc := range []struct {
		name   string
		manual float64
		f      float64
		fok    bool
		want   float64
		bind   Constraint
	}{
		{"dead band", 0, 50.02, true, 0, ConstraintNone},
		{"low f discharges", 0, 49.867, true, Droop(49.867, dp), ConstraintNone},
		{"high f charges", 0, 50.2, true, Droop(50.2, dp), ConstraintNone},
		{"stale frequency ignored", 0, 49, false, 0, ConstraintNone},
		{"reserve keeps base off headroom", 1000, 50, true, 800, ConstraintReserve},
		{"reserve is used by PFR", 1000, 49.917, true, 800 + Droop(49.917, dp), ConstraintReserve},
		{"charging responds too", -1000, 49.917, true, -800 + Droop(49.917, dp), ConstraintReserve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustApply(t, c, ManualSetpoint{P: tc.manual})
			s.in.F, s.in.FOK = tc.f, tc.fok
			r := s.step(c, time.Second)
			if !near(r.P, tc.want, 1e-6) {
				t.Errorf("P %v, want %v", r.P, tc.want)
			}
			if r.Binding != tc.bind {
				t.Errorf("binding %v, want %v", r.Binding, tc.bind)
			}
		})
	}
	if Droop(49.867, dp) <= 0 || Droop(50.2, dp) >= 0 {
		t.Fatal("droop signs wrong")
	}
	mustApply(t, c, SetPFR{Enable: false})
	mustApply(t, c, ManualSetpoint{P: 0})
	s.in.F = 49
	if r := s.step(c, time.Second); r.P != 0 || r.PFR != 0 {
		t.Errorf("disabled PFR still acts: %+v", r)
	}
}

func TestFFR(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.8, HighTrigger: 50.2, Power: 300, HoldS: 10, RecoveryP: 100}})
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	var got []float64
	for k := 0; k < 50; k++ {
		s.in.F = 50
		if k == 2 {
			s.in.F = 49.7 // one low reading triggers the hold
		}
		r := s.step(c, time.Second)
		got = append(got, r.P)
	}
	// k=2..11 hold 300 kW (10 s), then recover 300·10 kWs at 100 kW for 30 s.
	for k, p := range got {
		var want float64
		switch {
		case k >= 2 && k < 12:
			want = 300
		case k >= 12 && k < 42:
			want = -100
		}
		if !near(p, want, 1e-6) {
			t.Fatalf("t=%d: P %v, want %v (sequence %v)", k, p, want, got)
		}
	}
	// High frequency charges.
	s.in.F = 50.3
	if r := s.step(c, time.Second); !near(r.P, -300, 1e-6) {
		t.Errorf("high-frequency trigger: %v, want -300", r.P)
	}
}

func TestProtectionInStep(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: 600})
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	r := s.step(c, time.Second)
	if !near(r.P, 600, 1e-6) {
		t.Fatalf("P %v", r.P)
	}
	// Alarm 3 on u000: trips at once, others pick up its share.
	s.in.Units[0].AlarmLevel = 3
	r = s.step(c, time.Second)
	if s.out[0].P != 0 || !near(r.P, 600, 1e-6) || r.Tripped != 1 {
		t.Fatalf("trip: unit0 %v, plant %v, tripped %d", s.out[0].P, r.P, r.Tripped)
	}
	if len(r.Events) != 1 || r.Events[0] != (Event{Unit: "u000", From: StateNormal, To: StateTrip, Cause: CauseAlarm3, Time: s.in.Now}) {
		t.Fatalf("events %+v", r.Events)
	}
	// Reset while the alarm persists is refused.
	mustApply(t, c, Reset{Unit: "u000"})
	r = s.step(c, time.Second)
	if s.out[0].P != 0 || len(r.Events) != 1 || r.Events[0].Cause != CauseResetRefused {
		t.Fatalf("reset with cause present: unit0 %v events %+v", s.out[0].P, r.Events)
	}
	// Cause gone: still latched until Reset.
	s.in.Units[0].AlarmLevel = 0
	r = s.step(c, time.Second)
	if s.out[0].P != 0 || len(r.Events) != 0 {
		t.Fatalf("latch: unit0 %v events %+v", s.out[0].P, r.Events)
	}
	mustApply(t, c, Reset{})
	r = s.step(c, time.Second)
	if !near(s.out[0].P, 150, 1e-6) || len(r.Events) != 1 || r.Events[0].To != StateNormal {
		t.Fatalf("after reset: unit0 %v events %+v", s.out[0].P, r.Events)
	}
	// Alarm 1 derates to 50 %: 125 kW available on u001.
	s.in.Units[1].AlarmLevel = 1
	mustApply(t, c, ManualSetpoint{P: 1000})
	r = s.step(c, time.Second)
	if !near(s.out[1].P, 125, 1e-6) || r.Binding != ConstraintProtection || !near(r.Cut, 125, 1e-6) {
		t.Fatalf("derate: unit1 %v binding %v cut %v", s.out[1].P, r.Binding, r.Cut)
	}
	// BMS data bad: unit out at once; trips only after the timeout.
	s.in.Units[2].BMSOK, s.in.Units[2].BMSAge = false, 2*time.Second
	r = s.step(c, time.Second)
	if s.out[2].P != 0 || len(r.Events) != 0 {
		t.Fatalf("stale BMS: unit2 %v events %+v", s.out[2].P, r.Events)
	}
	s.in.Units[2].BMSAge = 6 * time.Second
	r = s.step(c, time.Second)
	if len(r.Events) != 1 || r.Events[0].Cause != CauseBMSLost || r.Events[0].Unit != "u002" {
		t.Fatalf("BMS lost: events %+v", r.Events)
	}
}

func TestEStop(t *testing.T) {
	c := mustNew(t, DefaultConfig(1000))
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: 800})
	s := newSim(healthyUnits(4, 250))
	s.step(c, 0)
	for i := 0; i < 10; i++ {
		s.step(c, time.Second)
	}
	mustApply(t, c, EStop{})
	r := s.step(c, time.Second)
	if r.P != 0 || sumP(s.out) != 0 || !r.EStop {
		t.Fatalf("estop did not zero at once: %v", r.P)
	}
	if len(r.Events) != 1 || r.Events[0].Unit != PlantID || r.Events[0].Cause != CauseEStop {
		t.Fatalf("events %+v", r.Events)
	}
	for i := 0; i < 3; i++ {
		if r = s.step(c, time.Second); r.P != 0 || !r.EStop {
			t.Fatal("estop not latched")
		}
	}
	// Nothing set during the stop is kept for after it.
	for _, cmd := range []Command{ManualSetpoint{P: 500}, SetMode{Mode: ModeAGC}, AGCTarget{P: 300}} {
		if err := c.Apply(cmd, s.in.Now); !errors.Is(err, ErrEStopActive) {
			t.Errorf("%T during estop: %v, want ErrEStopActive", cmd, err)
		}
	}
	// A unit reset leaves the plant stop latched.
	mustApply(t, c, Reset{Unit: "u001"})
	if r = s.step(c, time.Second); r.P != 0 || !r.EStop {
		t.Fatalf("unit reset cleared the plant estop: estop %v P %v", r.EStop, r.P)
	}
	mustApply(t, c, Reset{})
	if err := c.Apply(SetMode{Mode: ModeManual}, s.in.Now); err == nil {
		t.Error("mode accepted between reset and the step that clears the stop")
	}
	for i := 0; i < 3; i++ {
		if r = s.step(c, time.Second); r.EStop || r.P != 0 || r.Mode != ModeStandby {
			t.Fatalf("after reset: estop %v P %v mode %s, want standby at 0", r.EStop, r.P, r.Mode)
		}
	}
	mustApply(t, c, SetMode{Mode: ModeManual})
	if r = s.step(c, time.Second); r.P != 0 {
		t.Fatalf("manual after reset: P %v, want 0 (the old setpoint is gone)", r.P)
	}
	mustApply(t, c, ManualSetpoint{P: 800})
	if r = s.step(c, time.Second); !near(r.P, 100, 1e-6) {
		t.Fatalf("new setpoint after reset: P %v, want ramp from 0 to 100", r.P)
	}
}

func TestResetUnknownUnit(t *testing.T) {
	c := mustNew(t, DefaultConfig(1000))
	if err := c.Apply(Reset{Unit: "u001"}, time.Now()); err == nil || !strings.Contains(err.Error(), "control loop has not run") {
		t.Errorf("unit reset before any step: %v", err)
	}
	s := newSim(healthyUnits(2, 500))
	s.step(c, 0)
	err := c.Apply(Reset{Unit: "u99"}, time.Now())
	if err == nil || !strings.Contains(err.Error(), `unknown unit "u99" (known: u000, u001)`) {
		t.Errorf("reset of u99: %v", err)
	}
	mustApply(t, c, Reset{Unit: "u001"})
	c = mustNew(t, DefaultConfig(1000))
	c.SetUnits([]string{"a", "b"})
	if err := c.Apply(Reset{Unit: "c"}, time.Now()); err == nil || !strings.Contains(err.Error(), "(known: a, b)") {
		t.Errorf("reset of c with units a, b set: %v", err)
	}
	mustApply(t, c, Reset{Unit: "b"})
}

func TestPOILimits(t *testing.T) {
	for _, tc := range []struct {
		name         string
		imp, exp     *float64
		load, manual float64
		want         float64
		bindingIsPOI bool
	}{
		{"export limit", nil, ptr(500), 0, 800, 500, true},
		{"export limit with site load", nil, ptr(500), -200, 800, 700, true},
		{"import limit on charge", ptr(200), nil, -100, -800, -100, true},
		{"does not force discharge", ptr(200), nil, -500, 0, 0, false},
		{"does not force charge", nil, ptr(0), 300, 0, 0, false},
		{"inside limits", ptr(1000), ptr(1000), 0, 400, 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fastCfg()
			cfg.POIImportLimit, cfg.POIExportLimit = tc.imp, tc.exp
			c := mustNew(t, cfg)
			mustApply(t, c, SetMode{Mode: ModeManual})
			mustApply(t, c, ManualSetpoint{P: tc.manual})
			s := newSim(healthyUnits(4, 250))
			s.load = tc.load
			s.step(c, 0)
			r := s.step(c, time.Second)
			if !near(r.P, tc.want, 1e-6) {
				t.Errorf("P %v, want %v", r.P, tc.want)
			}
			if (r.Binding == ConstraintPOI) != tc.bindingIsPOI {
				t.Errorf("binding %v", r.Binding)
			}
		})
	}
}

func TestBindingAndApparentPower(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetMode{Mode: ModeManual})
	s := newSim(healthyUnits(4, 250))
	for i := range s.in.Units {
		s.in.Units[i].SOC = 94 // charge tapered to 20 %
	}
	s.step(c, 0)
	mustApply(t, c, ManualSetpoint{P: -800})
	r := s.step(c, time.Second)
	if !near(r.P, -200, 1e-6) || r.Binding != ConstraintSOC || !near(r.Cut, 600, 1e-6) {
		t.Fatalf("P %v binding %v cut %v", r.P, r.Binding, r.Cut)
	}
	// Full P with a Q request: Q is limited by each unit's circle (S = 275).
	mustApply(t, c, ManualSetpoint{P: 1000, Q: 600})
	r = s.step(c, time.Second)
	qcap := 4 * math.Sqrt(275*275-250*250)
	if !near(r.Q, qcap, 1e-6) || !near(r.Cuts[ConstraintApparent], 600-qcap, 1e-6) {
		t.Fatalf("Q %v want %v, apparent cut %v", r.Q, qcap, r.Cuts[ConstraintApparent])
	}
	for i, sp := range s.out {
		if sp.P*sp.P+sp.Q*sp.Q > 275*275*(1+1e-9) {
			t.Errorf("unit %d outside its S circle: %+v", i, sp)
		}
	}
}
