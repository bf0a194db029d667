package dispatch

import (
	"fmt"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/emsd/emsd/internal/plant"
)

func genUnit(t *rapid.T, i int) Unit {
	rated := rapid.Float64Range(1, 3000).Draw(t, "rated")
	u := Unit{
		ID:           fmt.Sprintf("u%d", i),
		RatedP:       rated,
		RatedS:       rated * rapid.Float64Range(0.8, 1.2).Draw(t, "s"),
		PCSOK:        true,
		BMSOK:        true,
		Contactor:    true,
		SOC:          genSOC(t),
		ChargeMax:    rapid.Float64Range(-10, rated*1.5).Draw(t, "cmax"),
		DischargeMax: rapid.Float64Range(-10, rated*1.5).Draw(t, "dmax"),
		CellVMax:     3.4, CellVMin: 3.1, CellTMax: 35, CellTMin: 20,
	}
	if rapid.IntRange(0, 3).Draw(t, "sick") == 0 { // a quarter of the units have something wrong
		b := func(label string) bool { return rapid.IntRange(0, 3).Draw(t, label) > 0 }
		u.PCSOK, u.PCSFault, u.BMSOK, u.Contactor = b("pcsok"), !b("fault"), b("bmsok"), b("contactor")
		u.BMSAge = time.Duration(rapid.IntRange(0, 10).Draw(t, "age")) * time.Second
		u.CellVMax = rapid.Float64Range(3.2, 3.7).Draw(t, "vmax")
		u.CellVMin = rapid.Float64Range(2.6, 3.3).Draw(t, "vmin")
		u.CellTMax = rapid.Float64Range(20, 60).Draw(t, "tmax")
		u.CellTMin = rapid.Float64Range(-5, 30).Draw(t, "tmin")
		u.AlarmLevel = rapid.IntRange(0, 3).Draw(t, "alarm")
	}
	return u
}

// genSOC favours the SOC window edges (hard and soft limits of DefaultConfig).
func genSOC(t *rapid.T) float64 {
	return rapid.OneOf(
		rapid.SampledFrom([]float64{0, 4.9, 5, 5.1, 7.5, 10, 90, 92.5, 94.9, 95, 95.1, 100}),
		rapid.Float64Range(0, 100),
	).Draw(t, "soc")
}

func genCommand(t *rapid.T, rated float64) Command {
	p := func(label string) float64 { return rapid.Float64Range(-1.2*rated, 1.2*rated).Draw(t, label) }
	// estop (7) and reset (8) are drawn less often than the others.
	switch rapid.SampledFrom([]int{0, 0, 1, 1, 1, 2, 3, 4, 4, 5, 5, 6, 6, 7, 8, 8, 9}).Draw(t, "cmd") {
	case 0:
		return SetMode{Mode: rapid.SampledFrom([]Mode{ModeStandby, ModeManual, ModeSchedule, ModePeakShaving, ModeAGC, "bogus"}).Draw(t, "mode")}
	case 1:
		return ManualSetpoint{P: p("mp"), Q: p("mq")}
	case 2:
		pts := make([]float64, PointsPerDay)
		for i := range pts {
			pts[i] = rated * math.Sin(float64(i)) * rapid.Float64Range(0, 1.1).Draw(t, "pt")
		}
		return ScheduleUpload{Points: pts}
	case 3:
		lim := rapid.Float64Range(0, rated).Draw(t, "imp")
		pp := PeakParams{ImportLimit: lim, RechargeBelow: lim / 2, RechargeP: rapid.Float64Range(0, rated).Draw(t, "rp"), RechargeSOC: 90}
		if rapid.Bool().Draw(t, "exp") {
			pp.ExportLimit = ptr(rapid.Float64Range(0, rated).Draw(t, "explim"))
		}
		return SetPeakShaving{pp}
	case 4:
		return AGCTarget{P: p("agc")}
	case 5:
		return SetPFR{Enable: rapid.Bool().Draw(t, "pfron"), PFRParams: PFRParams{
			DroopPct: rapid.Float64Range(0.3, 5.5).Draw(t, "droop"),
			DeadBand: rapid.Float64Range(0, 0.1).Draw(t, "db"),
			Reserve:  rapid.Float64Range(0, rated/2).Draw(t, "reserve")}}
	case 6:
		return SetFFR{Enable: rapid.Bool().Draw(t, "ffron"), FFRParams: FFRParams{LowTrigger: 49.8, HighTrigger: 50.2,
			Power: rapid.Float64Range(1, rated).Draw(t, "ffrp"), HoldS: rapid.Float64Range(0.1, 20).Draw(t, "hold"), RecoveryP: rated / 10}}
	case 7:
		return EStop{}
	case 8:
		return Reset{}
	default:
		return SetAGCParams{AGCParams{RampRate: rapid.Float64Range(0.01, 100).Draw(t, "agcramp"), Ki: rapid.Float64Range(0, 1).Draw(t, "ki"), IntegralLimit: rated / 10}}
	}
}

// checkInvariants asserts the safety properties of one Step.
func checkInvariants(t *rapid.T, c *Controller, cfg *Config, in *Input, out []plant.Setpoint, r Report) {
	const tol = 1e-6
	var sum, sumMeas float64
	for i := range in.Units {
		u, sp := &in.Units[i], out[i]
		sum += sp.P
		if u.PCSOK {
			sumMeas += u.P
		}
		if math.IsNaN(sp.P) || math.IsNaN(sp.Q) {
			t.Fatalf("unit %d: NaN setpoint", i)
		}
		if sp.P > max(u.DischargeMax, 0)+tol || sp.P < -max(u.ChargeMax, 0)-tol {
			t.Fatalf("unit %d: P %v outside BMS limits [-%v, %v]", i, sp.P, u.ChargeMax, u.DischargeMax)
		}
		if math.Abs(sp.P) > u.RatedP+tol {
			t.Fatalf("unit %d: |P| %v above rated %v", i, sp.P, u.RatedP)
		}
		if s := unitS(u); sp.P*sp.P+sp.Q*sp.Q > s*s*(1+1e-9)+tol {
			t.Fatalf("unit %d: S %v above rated %v", i, math.Hypot(sp.P, sp.Q), s)
		}
		if u.SOC >= cfg.SOCMax && sp.P < -tol {
			t.Fatalf("unit %d: charging %v at SOC %v", i, sp.P, u.SOC)
		}
		if u.SOC <= cfg.SOCMin && sp.P > tol {
			t.Fatalf("unit %d: discharging %v at SOC %v", i, sp.P, u.SOC)
		}
		tripped := c.States()[i] == StateTrip
		if (tripped || r.EStop || !u.PCSOK || !u.BMSOK || !u.Contactor || u.PCSFault || u.AlarmLevel >= 3) && (sp.P != 0 || sp.Q != 0) {
			t.Fatalf("unit %d: unavailable/tripped (state %v) but got %+v", i, c.States()[i], sp)
		}
	}
	if !near(sum, r.P, 1e-6*(1+math.Abs(sum))) {
		t.Fatalf("report P %v != sum %v", r.P, sum)
	}
	load := 0.0
	if in.POIOK {
		load = in.POIP - sumMeas
	}
	if cfg.POIExportLimit != nil && sum > max(*cfg.POIExportLimit-load, 0)+tol {
		t.Fatalf("export limit: P %v, load %v, limit %v", sum, load, *cfg.POIExportLimit)
	}
	if cfg.POIImportLimit != nil && sum < min(-*cfg.POIImportLimit-load, 0)-tol {
		t.Fatalf("import limit: P %v, load %v, limit %v", sum, load, *cfg.POIImportLimit)
	}
	if r.Target <= r.AvailDischarge+tol && r.Target >= -r.AvailCharge-tol && math.Abs(sum-r.Target) > 1 {
		t.Fatalf("feasible target %v but delivered %v", r.Target, sum)
	}
}

func TestPropertySafety(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 25).Draw(t, "n")
		units := make([]Unit, n)
		var rated float64
		for i := range units {
			units[i] = genUnit(t, i)
			rated += units[i].RatedP
		}
		cfg := DefaultConfig(rated)
		cfg.RampRate = rated * rapid.Float64Range(0.01, 10).Draw(t, "ramp")
		if rapid.Bool().Draw(t, "haveImp") {
			cfg.POIImportLimit = ptr(rapid.Float64Range(0, rated).Draw(t, "poiimp"))
		}
		if rapid.Bool().Draw(t, "haveExp") {
			cfg.POIExportLimit = ptr(rapid.Float64Range(0, rated).Draw(t, "poiexp"))
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Start every run in an active mode so power actually flows.
		_ = c.Apply(ManualSetpoint{P: rapid.Float64Range(-rated, rated).Draw(t, "p0")}, t0)
		_ = c.Apply(AGCTarget{P: rapid.Float64Range(-rated, rated).Draw(t, "agc0")}, t0)
		_ = c.Apply(SetMode{Mode: rapid.SampledFrom([]Mode{ModeManual, ModeAGC, ModePeakShaving}).Draw(t, "mode0")}, t0)
		in := Input{Now: t0, F: 50, FOK: true, Units: units}
		out := make([]plant.Setpoint, n)
		steps := rapid.IntRange(2, 30).Draw(t, "steps")
		for k := 0; k < steps; k++ {
			for rapid.Bool().Draw(t, "more") {
				_ = c.Apply(genCommand(t, rated), in.Now) // refusals are fine
			}
			in.Now = in.Now.Add(time.Duration(rapid.IntRange(0, 3000).Draw(t, "dtms")) * time.Millisecond)
			in.F = rapid.Float64Range(49, 51).Draw(t, "f")
			in.FOK = rapid.Float64Range(0, 1).Draw(t, "fok") < 0.9
			in.POIOK = rapid.Float64Range(0, 1).Draw(t, "poiok") < 0.9
			in.POIP = rapid.Float64Range(-2*rated, 2*rated).Draw(t, "poip")
			for i := range in.Units {
				if rapid.Float64Range(0, 1).Draw(t, "mutate") < 0.3 {
					in.Units[i] = genUnit(t, i)
				} else {
					in.Units[i].P = out[i].P
				}
			}
			r := c.Step(&in, out)
			checkInvariants(t, c, &cfg, &in, out, r)
		}
	})
}

// TestPropertyFeasibleRequestDelivered: on a healthy plant, any manual
// request within the independently computed capacity is delivered within 1 kW.
func TestPropertyFeasibleRequestDelivered(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 40).Draw(t, "n")
		units := make([]Unit, n)
		var capD, capC, rated float64
		for i := range units {
			u := healthy(fmt.Sprintf("u%d", i), rapid.Float64Range(1, 3000).Draw(t, "rated"))
			u.RatedS = u.RatedP * rapid.Float64Range(0.8, 1.2).Draw(t, "s")
			u.SOC = rapid.Float64Range(10, 90).Draw(t, "soc")
			u.DischargeMax = rapid.Float64Range(0, 1.5*u.RatedP).Draw(t, "dmax")
			u.ChargeMax = rapid.Float64Range(0, 1.5*u.RatedP).Draw(t, "cmax")
			units[i] = u
			r := min(u.RatedP, u.RatedS)
			capD += min(r, u.DischargeMax)
			capC += min(r, u.ChargeMax)
			rated += u.RatedP
		}
		cfg := DefaultConfig(rated)
		cfg.RampRate = 1e9
		cfg.SOCBalanceGain = rapid.Float64Range(0, 10).Draw(t, "gain")
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		req := rapid.Float64Range(-capC, capD).Draw(t, "req")
		if err := c.Apply(SetMode{Mode: ModeManual}, t0); err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(ManualSetpoint{P: req}, t0); err != nil {
			t.Fatal(err)
		}
		in := Input{Now: t0, F: 50, FOK: true, Units: units}
		out := make([]plant.Setpoint, n)
		c.Step(&in, out)
		in.Now = in.Now.Add(time.Second)
		r := c.Step(&in, out)
		if got := sumP(out); math.Abs(got-req) > 1 {
			t.Fatalf("request %v (capacity -%v..%v) delivered %v, binding %v", req, capC, capD, got, r.Binding)
		}
		checkInvariants(t, c, &cfg, &in, out, r)
	})
}

// TestPropertyAllocate checks the allocator on its own: limits respected,
// sum exact when feasible, saturated otherwise, sign never inverted.
func TestPropertyAllocate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 50).Draw(t, "n")
		us := make([]Share, n)
		var capD, capC float64
		for i := range us {
			us[i] = Share{DischargeMax: rapid.Float64Range(0, 5000).Draw(t, "d"), ChargeMax: rapid.Float64Range(0, 5000).Draw(t, "c"), SOC: rapid.Float64Range(0, 100).Draw(t, "soc")}
			capD += us[i].DischargeMax
			capC += us[i].ChargeMax
		}
		total := rapid.Float64Range(-1.2*capC-1, 1.2*capD+1).Draw(t, "total")
		out := make([]float64, n)
		sum := Allocate(total, us, rapid.Float64Range(0, 10).Draw(t, "gain"), out)
		var s float64
		for i, p := range out {
			if p > us[i].DischargeMax+1e-9 || p < -us[i].ChargeMax-1e-9 || p*total < 0 {
				t.Fatalf("unit %d: %v outside [-%v, %v] or wrong sign for %v", i, p, us[i].ChargeMax, us[i].DischargeMax, total)
			}
			s += p
		}
		want := clamp(total, -capC, capD)
		if math.Abs(s-want) > 1e-6*(1+math.Abs(want)) || math.Abs(sum-s) > 1e-6*(1+math.Abs(s)) {
			t.Fatalf("sum %v (returned %v), want %v", s, sum, want)
		}
	})
}
