package reactive

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.6g, want %.6g ± %.3g", what, got, want, tol)
	}
}

func TestValidateRefusesWithField(t *testing.T) {
	ok := Params{QMax: 1000, QMin: -1000}
	for _, c := range []struct {
		name  string
		edit  func(p *Params)
		field string // "" = valid
	}{
		{"off", func(p *Params) { p.Mode = ModeOff }, ""},
		{"fixed", func(p *Params) { p.Mode, p.Q = ModeFixedQ, 1000 }, ""},
		{"fixed above q_max", func(p *Params) { p.Mode, p.Q = ModeFixedQ, 1000.1 }, "q"},
		{"fixed below q_min", func(p *Params) { p.Mode, p.Q = ModeFixedQ, -1000.1 }, "q"},
		{"fixed NaN", func(p *Params) { p.Mode, p.Q = ModeFixedQ, math.NaN() }, "q"},
		{"pf", func(p *Params) { p.Mode, p.PF = ModePowerFactor, -0.95 }, ""},
		{"pf 1", func(p *Params) { p.Mode, p.PF = ModePowerFactor, 1 }, ""},
		{"pf 0", func(p *Params) { p.Mode = ModePowerFactor }, "pf"},
		{"pf above 1", func(p *Params) { p.Mode, p.PF = ModePowerFactor, 1.01 }, "pf"},
		{"q_u", func(p *Params) { p.Mode, p.VRef, p.DeadBand, p.DroopPct = ModeQU, 10000, 100, 5 }, ""},
		{"q_u no droop", func(p *Params) { p.Mode, p.VRef = ModeQU, 10000 }, "droop_pct"},
		{"q_u no v_ref", func(p *Params) { p.Mode, p.DroopPct = ModeQU, 5 }, "v_ref"},
		{"q_u wide band", func(p *Params) { p.Mode, p.VRef, p.DeadBand, p.DroopPct = ModeQU, 10000, 1001, 5 }, "dead_band"},
		{"q_u tau", func(p *Params) { p.Mode, p.VRef, p.DroopPct, p.TauS = ModeQU, 10000, 5, 60 }, ""},
		{"q_u tau too long", func(p *Params) { p.Mode, p.VRef, p.DroopPct, p.TauS = ModeQU, 10000, 5, 61 }, "tau_s"},
		{"q_u tau negative", func(p *Params) { p.Mode, p.VRef, p.DroopPct, p.TauS = ModeQU, 10000, 5, -1 }, "tau_s"},
		{"voltage", func(p *Params) { p.Mode, p.VRef, p.Ki = ModeVoltage, 10000, 5 }, ""},
		{"voltage no gain", func(p *Params) { p.Mode, p.VRef = ModeVoltage, 10000 }, "ki"},
		{"voltage gain too high", func(p *Params) { p.Mode, p.VRef, p.Ki = ModeVoltage, 10000, 101 }, "ki"},
		{"negative q_max", func(p *Params) { p.Mode, p.QMax = ModeOff, -1 }, "q_max"},
		{"positive q_min", func(p *Params) { p.Mode, p.QMin = ModeOff, 1 }, "q_min"},
		{"q_max above rating", func(p *Params) { p.Mode, p.QMax = ModeOff, 5001 }, "q_max"},
		{"q_min above rating", func(p *Params) { p.Mode, p.QMin = ModeOff, -5001 }, "q_min"},
		{"priority q", func(p *Params) { p.Mode, p.Priority = ModeOff, QFirst }, ""},
		{"priority bad", func(p *Params) { p.Mode, p.Priority = ModeOff, "x" }, "priority"},
		{"unknown mode", func(p *Params) { p.Mode = "vars" }, "mode"},
	} {
		p := ok
		c.edit(&p)
		err := p.Validate(5000)
		var fe *FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.field != "" && !errors.As(err, &fe):
			t.Errorf("%s: %v, want a refusal on %s", c.name, err, c.field)
		case c.field != "" && fe.Field != c.field:
			t.Errorf("%s: refused on %s (%v), want %s", c.name, fe.Field, err, c.field)
		}
	}
}

func TestPowerFactorQ(t *testing.T) {
	tan := math.Sqrt(1-0.8*0.8) / 0.8 // 0.75
	near(t, "export, pf 0.8", PowerFactorQ(4000, 0.8), 4000*tan, 1e-9)
	near(t, "export, pf -0.8", PowerFactorQ(4000, -0.8), -4000*tan, 1e-9)
	near(t, "import, pf 0.8", PowerFactorQ(-4000, 0.8), -4000*tan, 1e-9)
	near(t, "pf 1", PowerFactorQ(4000, 1), 0, 0)
	near(t, "pf 0 is refused as 0", PowerFactorQ(4000, 0), 0, 0)
	// The power factor it holds is the one asked.
	q := PowerFactorQ(3000, 0.95)
	near(t, "cos φ", 3000/math.Hypot(3000, q), 0.95, 1e-12)
}

func TestDroopQ(t *testing.T) {
	p := Params{Mode: ModeQU, VRef: 10000, DeadBand: 100, DroopPct: 5, QMax: 2000, QMin: -1000}
	for _, c := range []struct{ v, want float64 }{
		{10000, 0}, {10100, 0}, {9900, 0}, // inside the band, edges included
		{9650, 2000 * 250.0 / 500}, // 250 V past the band of a 500 V span
		{9400, 2000}, {9000, 2000}, // full at the span's end, held beyond
		{10350, -1000 * 250.0 / 500},
		{10600, -1000}, {11000, -1000},
	} {
		near(t, "Q(U) at "+ftoa(c.v), DroopQ(&p, c.v), c.want, 1e-9)
	}
}

func TestTargetModesAndBindings(t *testing.T) {
	wide := Input{Lo: -1e9, Hi: 1e9, VOK: true, V: 10000, P: 4000}
	for _, c := range []struct {
		name     string
		p        Params
		in       Input
		asked, q float64
		b        Binding
	}{
		{"off", Params{Mode: ModeOff, QMax: 1000, QMin: -1000}, wide, 0, 0, BindNone},
		{"fixed", Params{Mode: ModeFixedQ, Q: 800, QMax: 1000, QMin: -1000}, wide, 800, 800, BindNone},
		{"fixed beyond the units", Params{Mode: ModeFixedQ, Q: 800, QMax: 1000, QMin: -1000}, Input{Lo: -300, Hi: 500}, 800, 500, BindApparent},
		{"fixed inductive beyond the units", Params{Mode: ModeFixedQ, Q: -800, QMax: 1000, QMin: -1000}, Input{Lo: -300, Hi: 500}, -800, -300, BindApparent},
		{"pf beyond q_max", Params{Mode: ModePowerFactor, PF: 0.8, QMax: 1000, QMin: -1000}, wide, 3000, 1000, BindLimit},
		{"q_u without voltage", Params{Mode: ModeQU, VRef: 10000, DroopPct: 5, QMax: 1000, QMin: -1000}, Input{Lo: -1e9, Hi: 1e9, V: 9000}, 0, 0, BindVoltage},
		{"q_u low voltage", Params{Mode: ModeQU, VRef: 10000, DroopPct: 5, QMax: 1000, QMin: -1000}, Input{Lo: -1e9, Hi: 1e9, V: 9750, VOK: true}, 500, 500, BindNone},
		{"q_u NaN voltage", Params{Mode: ModeQU, VRef: 10000, DroopPct: 5, QMax: 1000, QMin: -1000}, Input{Lo: -1e9, Hi: 1e9, V: math.NaN(), VOK: true}, 0, 0, BindVoltage},
	} {
		var st State
		a, q, b := Target(&c.p, &st, &c.in)
		if math.Abs(a-c.asked) > 1e-9 || q != c.q || b != c.b {
			t.Errorf("%s: Target = %v, %v, %v; want %v, %v, %v", c.name, a, q, b, c.asked, c.q, c.b)
		}
	}
}

// TestVoltageLoop: the loop starts from the measured Q, integrates the
// error outside the dead band only, and winds no further than it can deliver.
func TestVoltageLoop(t *testing.T) {
	p := Params{Mode: ModeVoltage, VRef: 10000, DeadBand: 10, Ki: 2, QMax: 1000, QMin: -500}
	var st State
	in := Input{V: 9900, VOK: true, QMeas: 100, Dt: 0.1, Lo: -1e9, Hi: 1e9}
	_, q, _ := Target(&p, &st, &in)
	// 100 + 2·1000·(100/10000)·0.1 = 102
	near(t, "first cycle from the measured Q", q, 102, 1e-9)
	in.V = 9995 // inside the band: held
	_, q, _ = Target(&p, &st, &in)
	near(t, "inside the dead band", q, 102, 1e-9)
	in.V = 10100
	_, q, _ = Target(&p, &st, &in)
	near(t, "high voltage lowers Q", q, 100, 1e-9)

	// Anti-windup: the units deliver at most 300 kvar; a long low voltage
	// leaves the integrator at 300, so it leaves the limit at once when the
	// voltage turns.
	in.V, in.Hi = 9000, 300
	var b Binding
	for range 100 {
		_, q, b = Target(&p, &st, &in)
	}
	near(t, "Q at the units' limit", q, 300, 1e-9)
	if b != BindApparent {
		t.Errorf("binding %v, want %v", b, BindApparent)
	}
	near(t, "integrator held at the limit", st.Q, 300, 1e-9)
	in.V = 10100
	_, q, _ = Target(&p, &st, &in)
	near(t, "leaves the limit on the first cycle", q, 298, 1e-9)

	// Without voltage the loop rests at 0 and restarts from the measured Q.
	in.VOK = false
	if _, q, b = Target(&p, &st, &in); q != 0 || b != BindVoltage || st.Running {
		t.Errorf("no voltage: q %v, %v, running %v; want 0, %v, false", q, b, st.Running, BindVoltage)
	}
	in.VOK, in.V, in.QMeas = true, 10000, -50
	_, q, _ = Target(&p, &st, &in)
	near(t, "restart from the measured Q", q, -50, 1e-9)

	// A mode change clears the loop.
	p2 := p
	p2.Mode, p2.Q = ModeFixedQ, 10
	Target(&p2, &st, &in)
	if st.Running {
		t.Error("the voltage loop kept running in fixed_q")
	}
}

// TestQUResponse: Q(U) with a time constant starts from the measured Q and
// moves toward the droop's Q through a first-order lag.
func TestQUResponse(t *testing.T) {
	p := Params{Mode: ModeQU, VRef: 10000, DeadBand: 100, DroopPct: 5, TauS: 1, QMax: 1000, QMin: -1000}
	var st State
	in := Input{V: 9650, VOK: true, QMeas: 100, Dt: 1, Lo: -1e9, Hi: 1e9} // the droop asks 500
	_, q, _ := Target(&p, &st, &in)
	near(t, "after τ", q, 100+400*(1-math.Exp(-1)), 1e-9)
	for range 30 {
		_, q, _ = Target(&p, &st, &in)
	}
	near(t, "settled", q, 500, 1e-6)
	in.Hi = 200 // anti-windup: held at what it can deliver
	_, q, _ = Target(&p, &st, &in)
	near(t, "at the units' limit", q, 200, 1e-9)
	near(t, "filter state", st.Q, 200, 1e-9)
}

func TestSplitByHeadroom(t *testing.T) {
	out := make([]float64, 4)
	head := []float64{1000, 0, 3000, math.NaN()}
	sum := Split(2000, head, out)
	near(t, "sum", sum, 2000, 1e-9)
	near(t, "unit 0", out[0], 500, 1e-9)
	near(t, "unit at its S limit", out[1], 0, 0)
	near(t, "unit 2", out[2], 1500, 1e-9)
	near(t, "unit with NaN headroom", out[3], 0, 0)
	sum = Split(-9000, head, out)
	near(t, "saturated sum", sum, -4000, 1e-9)
	near(t, "saturated unit 2", out[2], -3000, 1e-9)
	if s := Split(100, []float64{0, 0}, out); s != 0 || out[0] != 0 {
		t.Errorf("no headroom: sum %v, out %v", s, out)
	}
}

func TestHeadroom(t *testing.T) {
	near(t, "at 0 kW", Headroom(2750, 0), 2750, 0)
	near(t, "at rated P", Headroom(2750, 2500), math.Sqrt(2750*2750-2500*2500), 1e-9)
	near(t, "at the S limit", Headroom(2750, 2750), 0, 0)
	near(t, "beyond it", Headroom(2750, -3000), 0, 0)
	near(t, "no S", Headroom(0, 0), 0, 0)
	near(t, "P room after Q", PRoom(2750, -1000), math.Sqrt(2750*2750-1000*1000), 1e-9)
}

// unitsFit applies the priority to units of apparent power s with P
// requests p and plant Q request q, as a dispatcher does: P first gives Q
// the headroom P leaves; Q first splits Q over S, then caps P to what Q
// leaves.
func unitsFit(s, p []float64, q float64, pr Priority) (pOut, qOut []float64) {
	n := len(s)
	pOut, qOut = make([]float64, n), make([]float64, n)
	head := make([]float64, n)
	copy(pOut, p)
	for i := range s {
		if pr == QFirst {
			head[i] = Headroom(s[i], 0)
		} else {
			pOut[i] = clamp(p[i], -s[i], s[i])
			head[i] = Headroom(s[i], pOut[i])
		}
	}
	Split(q, head, qOut)
	if pr == QFirst {
		for i := range s {
			r := PRoom(s[i], qOut[i])
			pOut[i] = clamp(p[i], -r, r)
		}
	}
	return pOut, qOut
}

// TestPropertyQ: for any units, requests, limits and priority, no unit's S
// is exceeded, Q stays in the mode's limits, and the priority is honoured:
// P first never cuts P below min(request, S); Q first delivers the plant Q
// the units' S can carry.
func TestPropertyQ(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 8).Draw(t, "n")
		s, p := make([]float64, n), make([]float64, n)
		var sumS float64
		for i := range s {
			s[i] = rapid.Float64Range(0, 3000).Draw(t, "s")
			p[i] = rapid.Float64Range(-3500, 3500).Draw(t, "p")
			sumS += s[i]
		}
		pr := rapid.SampledFrom([]Priority{PFirst, QFirst}).Draw(t, "priority")
		par := Params{
			Mode: rapid.SampledFrom([]Mode{ModeFixedQ, ModePowerFactor, ModeQU, ModeVoltage}).Draw(t, "mode"),
			QMax: rapid.Float64Range(0, 20000).Draw(t, "qmax"), QMin: rapid.Float64Range(-20000, 0).Draw(t, "qmin"),
			VRef: 10000, DeadBand: rapid.Float64Range(0, 500).Draw(t, "db"), DroopPct: 5, Ki: rapid.Float64Range(0.1, 100).Draw(t, "ki"),
			PF: rapid.Float64Range(0.1, 1).Draw(t, "pf"), Priority: pr,
		}
		par.Q = clamp(rapid.Float64Range(-20000, 20000).Draw(t, "q"), par.QMin, par.QMax)
		var st State
		var pPlant float64
		for _, v := range p {
			pPlant += v
		}
		// Capability the dispatcher hands Target: Σ headroom after P (P
		// first) or Σ S (Q first).
		var lo, hi float64
		for i := range s {
			h := Headroom(s[i], 0)
			if pr == PFirst {
				h = Headroom(s[i], clamp(p[i], -s[i], s[i]))
			}
			lo, hi = lo-h, hi+h
		}
		for range rapid.IntRange(1, 20).Draw(t, "cycles") {
			in := Input{P: pPlant, V: rapid.Float64Range(8000, 12000).Draw(t, "v"), VOK: true,
				QMeas: rapid.Float64Range(-30000, 30000).Draw(t, "qmeas"), Dt: rapid.Float64Range(0, 1).Draw(t, "dt"), Lo: lo, Hi: hi}
			_, q, _ := Target(&par, &st, &in)
			if q > par.QMax+1e-9 || q < par.QMin-1e-9 {
				t.Fatalf("Q %v outside q_min..q_max %v..%v", q, par.QMin, par.QMax)
			}
			if q > hi+1e-9 || q < lo-1e-9 {
				t.Fatalf("Q %v outside the units' %v..%v", q, lo, hi)
			}
			if par.Mode == ModeVoltage && (st.Q > math.Min(par.QMax, hi)+1e-9 || st.Q < math.Max(par.QMin, lo)-1e-9) {
				t.Fatalf("integrator %v wound beyond what it can deliver", st.Q)
			}
			pu, qu := unitsFit(s, p, q, pr)
			var qSum float64
			for i := range s {
				if math.Hypot(pu[i], qu[i]) > s[i]*(1+1e-9)+1e-9 {
					t.Fatalf("unit %d: P %v Q %v exceeds S %v", i, pu[i], qu[i], s[i])
				}
				if pr == PFirst && math.Abs(pu[i]-clamp(p[i], -s[i], s[i])) > 1e-9 {
					t.Fatalf("P first: unit %d P %v cut from %v", i, pu[i], p[i])
				}
				qSum += qu[i]
			}
			if math.Abs(qSum-q) > 1e-6*(1+math.Abs(q)) {
				t.Fatalf("%v first: units deliver Q %v, target %v", pr, qSum, q)
			}
		}
	})
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + " V" }
