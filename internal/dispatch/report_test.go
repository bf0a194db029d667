package dispatch

import (
	"math"
	"testing"
	"time"
)

// Requested is what the base mode and both overlays ask together, before
// any constraint.
func TestReportRequestedIsBasePlusOverlays(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, SetMode{Mode: ModeManual})
	mustApply(t, c, ManualSetpoint{P: 100})
	mustApply(t, c, SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 2, DeadBand: 0.033}})
	mustApply(t, c, SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.9, Power: 150, HoldS: 10, RecoveryP: 50}})
	s := newSim(healthyUnits(4, 250))
	s.in.F = 49.85
	s.step(c, 0)
	r := s.step(c, time.Second)
	dp, _ := c.DroopParams()
	want := 100 + Droop(49.85, dp) + 150
	if r.PFR <= 0 || r.FFR != 150 || !near(r.Requested, want, 1e-9) || !near(r.P, want, 1e-6) {
		t.Errorf("PFR %v FFR %v requested %v P %v, want PFR > 0, FFR 150, requested and P %v", r.PFR, r.FFR, r.Requested, r.P, want)
	}
}

// The reserve's cut is the headroom it keeps from the base mode; with no
// reserve set, a request above the plant's capacity is cut by the
// capacity, never by the reserve.
func TestReserveCutIsTheHeadroomKept(t *testing.T) {
	for _, tc := range []struct {
		name        string
		reserve     float64
		open        bool // one of the four 250 kW units unavailable
		wantReserve float64
		wantBind    Constraint
	}{
		{"reserve 200 of 1000", 200, false, 200, ConstraintReserve},
		{"no reserve, unit out", 0, true, 0, ConstraintAvailability},
	} {
		c := mustNew(t, fastCfg())
		mustApply(t, c, SetMode{Mode: ModeManual})
		mustApply(t, c, ManualSetpoint{P: 1000})
		mustApply(t, c, SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 2, DeadBand: 0.033, Reserve: tc.reserve}})
		s := newSim(healthyUnits(4, 250))
		s.in.Units[3].Contactor = !tc.open
		s.step(c, 0)
		r := s.step(c, time.Second)
		if math.Abs(r.Cuts[ConstraintReserve]-tc.wantReserve) > 1e-9 || r.Binding != tc.wantBind {
			t.Errorf("%s: reserve cut %v, binding %v; want %v, %v", tc.name, r.Cuts[ConstraintReserve], r.Binding, tc.wantReserve, tc.wantBind)
		}
	}
}

// With no unit available the plant's SOC is unknown, and a time-of-use
// plan, which works toward SOC targets, asks for nothing.
func TestTOUWithoutAvailableUnitsAsksNothing(t *testing.T) {
	c := mustNew(t, fastCfg())
	mustApply(t, c, ScheduleUpload{TOU: &TOUPlan{Periods: []TOUPeriod{{"00:00", "24:00", TOUValley}},
		ChargeP: 400, DischargeP: 400, ChargeToSOC: 90, DischargeToSOC: 20}})
	mustApply(t, c, SetMode{Mode: ModeSchedule})
	s := newSim(healthyUnits(2, 250))
	for i := range s.in.Units {
		s.in.Units[i].Contactor = false
	}
	s.step(c, 0)
	if r := s.step(c, time.Second); r.Base != 0 || r.Requested != 0 || r.Target != 0 {
		t.Errorf("no unit available: base %v requested %v target %v, want all 0", r.Base, r.Requested, r.Target)
	}
}
