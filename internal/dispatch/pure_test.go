package dispatch

import (
	"math"
	"testing"
	"time"
)

func TestDroop(t *testing.T) {
	p := DroopParams{RatedP: 100000, NominalF: 50, DroopPct: 1, DeadBand: 0.033}
	lim := p
	lim.Limit = 20000
	for _, tc := range []struct {
		name string
		f    float64
		p    DroopParams
		want float64
	}{
		{"nominal", 50, p, 0},
		{"inside dead band high", 50.033, p, 0},
		{"inside dead band low", 49.97, p, 0},
		// 0.05 Hz beyond the dead band at 1 % droop = 10 % of rated.
		{"low f discharges", 50 - 0.033 - 0.05, p, 10000},
		{"high f charges", 50 + 0.033 + 0.05, p, -10000},
		{"2 % droop halves", 50 - 0.033 - 0.05, DroopParams{RatedP: 100000, NominalF: 50, DroopPct: 2, DeadBand: 0.033}, 5000},
		{"limit clips", 49, lim, 20000},
		{"limit clips charge", 51, lim, -20000},
		{"NaN frequency", math.NaN(), p, 0},
		{"zero droop is off", 49, DroopParams{RatedP: 1, NominalF: 50}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Droop(tc.f, tc.p); !near(got, tc.want, 1e-6) {
				t.Errorf("Droop(%v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}

func TestAllocate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		total float64
		units []Share
		gain  float64
		want  []float64
	}{
		{"proportional to capacity", 300, []Share{{DischargeMax: 100, SOC: 50}, {DischargeMax: 200, SOC: 50}, {DischargeMax: 300, SOC: 50}}, 0, []float64{50, 100, 150}},
		{"charge uses charge limits", -60, []Share{{ChargeMax: 10, DischargeMax: 99, SOC: 50}, {ChargeMax: 50, DischargeMax: 1, SOC: 50}}, 0, []float64{-10, -50}},
		{"over request saturates all", 1000, []Share{{DischargeMax: 100}, {DischargeMax: 200}}, 0, []float64{100, 200}},
		{"zero request", 0, []Share{{DischargeMax: 100}}, 1, []float64{0}},
		{"no capacity", 50, []Share{{}, {ChargeMax: 10}}, 1, []float64{0, 0}},
		// gain 10: weights 100·(1+10·(60-50)/100)=200 and 100·(1+10·(40-50)/100)=0.
		{"soc balance discharge", 100, []Share{{DischargeMax: 100, SOC: 60}, {DischargeMax: 100, SOC: 40}}, 10, []float64{100, 0}},
		{"soc balance charge", -100, []Share{{ChargeMax: 100, SOC: 60}, {ChargeMax: 100, SOC: 40}}, 10, []float64{0, -100}},
		// gain 5: weights 150 and 50 → 150, 50 but unit 0 saturates at 120; the rest goes to unit 1.
		{"saturated share re-spread", 200, []Share{{DischargeMax: 120, SOC: 60}, {DischargeMax: 100, SOC: 40}}, 5, []float64{120, 80}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := make([]float64, len(tc.units))
			sum := Allocate(tc.total, tc.units, tc.gain, out)
			var s float64
			for i := range out {
				s += out[i]
				if !near(out[i], tc.want[i], 1e-6) {
					t.Errorf("out[%d] = %v, want %v", i, out[i], tc.want[i])
				}
			}
			if !near(sum, s, 1e-9) {
				t.Errorf("returned %v, sum of out %v", sum, s)
			}
		})
	}
}

func TestAllocateSOCBalanceOrdering(t *testing.T) {
	units := []Share{{DischargeMax: 100, ChargeMax: 100, SOC: 30}, {DischargeMax: 100, ChargeMax: 100, SOC: 50}, {DischargeMax: 100, ChargeMax: 100, SOC: 70}}
	out := make([]float64, 3)
	Allocate(150, units, 2, out)
	if !(out[0] < out[1] && out[1] < out[2]) {
		t.Errorf("discharge not ordered by SOC: %v", out)
	}
	Allocate(-150, units, 2, out)
	if !(out[0] < out[1] && out[1] < out[2]) { // more negative = more charge for low SOC
		t.Errorf("charge not ordered by SOC: %v", out)
	}
}

func TestNextState(t *testing.T) {
	const to = 5 * time.Second
	base := healthy("a", 100)
	with := func(f func(u *Unit)) *Unit { u := base; f(&u); return &u }
	for _, tc := range []struct {
		name    string
		cur     State
		u       *Unit
		reset   bool
		want    State
		cause   Cause
		changed bool
	}{
		{"normal stays", StateNormal, &base, false, StateNormal, "", false},
		{"alarm 1 derates", StateNormal, with(func(u *Unit) { u.AlarmLevel = 1 }), false, StateDerate, CauseAlarm1, true},
		{"alarm 2 limits", StateDerate, with(func(u *Unit) { u.AlarmLevel = 2 }), false, StateLimit, CauseAlarm2, true},
		{"alarm clears", StateLimit, &base, false, StateNormal, CauseAlarmCleared, true},
		{"alarm 3 trips", StateNormal, with(func(u *Unit) { u.AlarmLevel = 3 }), false, StateTrip, CauseAlarm3, true},
		{"pcs fault trips", StateDerate, with(func(u *Unit) { u.PCSFault = true }), false, StateTrip, CausePCSFault, true},
		{"bms stale holds state", StateDerate, with(func(u *Unit) { u.BMSOK = false; u.BMSAge = time.Second }), false, StateDerate, "", false},
		{"bms lost trips", StateNormal, with(func(u *Unit) { u.BMSOK = false; u.BMSAge = 6 * time.Second }), false, StateTrip, CauseBMSLost, true},
		{"bms bad for exactly the timeout holds", StateNormal, with(func(u *Unit) { u.BMSOK = false; u.BMSAge = to }), false, StateNormal, "", false},
		{"bms bad just past the timeout trips", StateNormal, with(func(u *Unit) { u.BMSOK = false; u.BMSAge = to + 1 }), false, StateTrip, CauseBMSLost, true},
		{"trip latched after cause gone", StateTrip, &base, false, StateTrip, "", false},
		{"reset clears", StateTrip, &base, true, StateNormal, CauseReset, true},
		{"reset to alarm level state", StateTrip, with(func(u *Unit) { u.AlarmLevel = 1 }), true, StateDerate, CauseReset, true},
		{"reset refused while cause", StateTrip, with(func(u *Unit) { u.PCSFault = true }), true, StateTrip, CauseResetRefused, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, ch := NextState(tc.cur, tc.u, to, tc.reset)
			if s != tc.want || c != tc.cause || ch != tc.changed {
				t.Errorf("got (%v, %q, %v), want (%v, %q, %v)", s, c, ch, tc.want, tc.cause, tc.changed)
			}
		})
	}
}

func TestUnitLimits(t *testing.T) {
	cfg := DefaultConfig(1000)
	base := healthy("a", 100)
	base.RatedS = 100
	with := func(f func(u *Unit)) Unit { u := base; f(&u); return u }
	for _, tc := range []struct {
		name   string
		u      Unit
		st     State
		wd, wc float64
	}{
		{"healthy", base, StateNormal, 100, 100},
		{"S below P", with(func(u *Unit) { u.RatedS = 80 }), StateNormal, 80, 80},
		{"bms limits", with(func(u *Unit) { u.DischargeMax, u.ChargeMax = 30, 40 }), StateNormal, 30, 40},
		{"negative bms limit is zero", with(func(u *Unit) { u.ChargeMax = -5 }), StateNormal, 100, 0},
		{"soc at max blocks charge", with(func(u *Unit) { u.SOC = 95 }), StateNormal, 100, 0},
		{"soc above max blocks charge", with(func(u *Unit) { u.SOC = 99 }), StateNormal, 100, 0},
		{"soc taper high", with(func(u *Unit) { u.SOC = 92.5 }), StateNormal, 100, 50},
		{"soc at min blocks discharge", with(func(u *Unit) { u.SOC = 5 }), StateNormal, 0, 100},
		{"soc taper low", with(func(u *Unit) { u.SOC = 6 }), StateNormal, 20, 100},
		{"cell high V tapers charge", with(func(u *Unit) { u.CellVMax = 3.60 }), StateNormal, 100, 50},
		{"cell high V hard", with(func(u *Unit) { u.CellVMax = 3.65 }), StateNormal, 100, 0},
		{"cell low V tapers discharge", with(func(u *Unit) { u.CellVMin = 2.8 }), StateNormal, 50, 100},
		{"hot cell tapers both", with(func(u *Unit) { u.CellTMax = 52.5 }), StateNormal, 50, 50},
		{"cold cell blocks charge", with(func(u *Unit) { u.CellTMin = -1 }), StateNormal, 100, 0},
		{"derate", base, StateDerate, 50, 50},
		{"limit unknown direction both", base, StateLimit, 0, 0},
		{"limit high V stresses charge", with(func(u *Unit) { u.CellVMax = 3.56 }), StateLimit, 50, 0},
		{"limit low SOC stresses discharge", with(func(u *Unit) { u.SOC = 10 }), StateLimit, 0, 50},
		// At exactly a soft limit the stressed direction is known.
		{"limit at high V soft stresses charge", with(func(u *Unit) { u.CellVMax = 3.55 }), StateLimit, 50, 0},
		{"limit at high SOC soft stresses charge", with(func(u *Unit) { u.SOC = 90 }), StateLimit, 50, 0},
		{"limit at cold soft stresses charge", with(func(u *Unit) { u.CellTMin = 5 }), StateLimit, 50, 0},
		{"limit at low V soft stresses discharge", with(func(u *Unit) { u.CellVMin = 2.90 }), StateLimit, 0, 50},
		{"rated S 0 means S equals P", with(func(u *Unit) { u.RatedS = 0 }), StateNormal, 100, 100},
		{"negative rating", with(func(u *Unit) { u.RatedP = -100 }), StateNormal, 0, 0},
		{"infinite cell temperature", with(func(u *Unit) { u.CellTMax = math.Inf(1) }), StateNormal, 0, 0},
		{"trip", base, StateTrip, 0, 0},
		{"contactor open", with(func(u *Unit) { u.Contactor = false }), StateNormal, 0, 0},
		{"pcs comm lost", with(func(u *Unit) { u.PCSOK = false }), StateNormal, 0, 0},
		{"bms stale", with(func(u *Unit) { u.BMSOK = false }), StateNormal, 0, 0},
		{"NaN data", with(func(u *Unit) { u.SOC = math.NaN() }), StateNormal, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, c := UnitLimits(&tc.u, tc.st, &cfg)
			if !near(d, tc.wd, 1e-6) || !near(c, tc.wc, 1e-6) {
				t.Errorf("got discharge %v charge %v, want %v %v", d, c, tc.wd, tc.wc)
			}
		})
	}
}
