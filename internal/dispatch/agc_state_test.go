package dispatch

import (
	"math"
	"testing"
)

// The site-load filter learns only from good data while the battery output
// is steady (its change at most siteLoadSteady of rated per second), seeds
// itself from the first good reading, and otherwise holds its value.
func TestSiteLoadLearnsOnlyWhileSteady(t *testing.T) {
	const rated, dt = 1000.0, 0.1
	step := siteLoadSteady * rated * dt // the largest steady change: 0.5 kW
	var s siteLoad
	s.update(100, 0, true, dt, rated)
	if !s.ok || !s.learnt || s.v != 100 || s.poi(0) != 100 {
		t.Fatalf("first good reading: %+v, want seeded at 100 kW", s)
	}
	gain := dt / (siteLoadTau + dt)
	for _, tc := range []struct {
		name       string
		load, bat  float64
		good       bool
		wantLearnt bool
	}{
		{"steady, at the limit", 200, step, true, true},
		{"moving just past the limit", 200, 2*step + 1e-6, true, false},
		{"steady again", 200, 2*step + 1e-6, true, true},
		{"bad POI data", 900, 2*step + 1e-6, false, false},
		{"non-finite load", math.NaN(), 2*step + 1e-6, true, false},
		{"charging steadily", 200, 2*step + 1e-6 - step, true, true},
	} {
		before := s.v
		s.update(tc.load, tc.bat, tc.good, dt, rated)
		want := before
		if tc.wantLearnt {
			want = before + gain*(tc.load-before)
		}
		if s.learnt != tc.wantLearnt || math.Abs(s.v-want) > 1e-9 {
			t.Errorf("%s: learnt %v, v %.6f; want learnt %v, v %.6f", tc.name, s.learnt, s.v, tc.wantLearnt, want)
		}
		wantPOI := 7.0 // the meter's reading when nothing was learnt
		if tc.wantLearnt {
			wantPOI = tc.bat + s.v
		}
		if got := s.poi(7); math.Abs(got-wantPOI) > 1e-9 {
			t.Errorf("%s: poi = %v, want %v", tc.name, got, wantPOI)
		}
	}
	// A lost battery reading is no baseline: the next cycle is not steady.
	s.update(200, math.NaN(), true, dt, rated)
	before := s.v
	s.update(300, 0, true, dt, rated)
	if s.learnt || s.v != before {
		t.Errorf("after a non-finite battery reading: learnt %v, v %v; want held at %v", s.learnt, s.v, before)
	}
	if s.ff() != s.v {
		t.Errorf("ff = %v, want the filtered load %v", s.ff(), s.v)
	}
}

// The AGC trim integrates only a settled error: once the reference has been
// still for agcSettle, or while the error is within agcBand of rated. It
// never integrates further into a saturated direction, and a trim held at
// its limit reports the error it leaves as the cut.
func TestAGCTrimIntegratesOnlySettledError(t *testing.T) {
	const rated, dt = 1000.0, 0.1
	p := AGCParams{RampRate: 60, Ki: 1, IntegralLimit: 50} // 1 kW/s ramp
	band := agcBand * rated                                // 10 kW
	for _, tc := range []struct {
		name         string
		still        float64 // seconds the reference has been still
		err          float64 // reference − POI, kW
		satHi, satLo bool
		wantInteg    float64
		wantCut      float64
	}{
		{"moving, error beyond the band", 0, band + 1, false, false, 0, 0},
		{"moving, error at the band", 0, band, false, false, band * dt, 0},
		{"moving, negative error at the band", 0, -band, false, false, -band * dt, 0},
		{"still just short of settling", agcSettle - 2*dt, 40, false, false, 0, 0},
		{"settled", agcSettle - dt, 40, false, false, 40 * dt, 0},
		{"settled, saturated high", agcSettle, 40, true, false, 0, 0},
		{"settled, saturated low, positive error", agcSettle, 40, false, true, 40 * dt, 0},
		{"settled, saturated low", agcSettle, -40, false, true, 0, 0},
		{"settled, at the trim limit", agcSettle, 600, false, false, 50, 600},
		{"settled, at the negative trim limit", agcSettle, -600, false, false, -50, 600},
	} {
		a := agcState{target: 500, targetSet: true, ref: 500, still: tc.still}
		out := a.step(&p, 500-tc.err, true, 0, dt, tc.satHi, tc.satLo, rated)
		if math.Abs(a.integ-tc.wantInteg) > 1e-9 || math.Abs(a.cut-tc.wantCut) > 1e-9 || math.Abs(out-(500+a.integ)) > 1e-9 {
			t.Errorf("%s: trim %v, cut %v, out %v; want trim %v, cut %v, out %v",
				tc.name, a.integ, a.cut, out, tc.wantInteg, tc.wantCut, 500+tc.wantInteg)
		}
	}
	// A moving reference restarts the settle clock; bad POI data or dt 0
	// leaves the trim alone.
	a := agcState{target: 600, targetSet: true, ref: 500, still: 5}
	a.step(&p, 0, true, 0, dt, false, false, rated)
	if a.still != 0 || math.Abs(a.ref-(500+p.RampRate*1000/60*dt)) > 1e-9 {
		t.Errorf("moving reference: still %v, ref %v", a.still, a.ref)
	}
	for _, b := range []struct {
		ok bool
		dt float64
	}{{false, dt}, {true, 0}} {
		a := agcState{target: 500, targetSet: true, ref: 500, still: 5}
		a.step(&p, 0, b.ok, 0, b.dt, false, false, rated)
		if a.integ != 0 {
			t.Errorf("poi ok %v, dt %v: trim %v, want 0", b.ok, b.dt, a.integ)
		}
	}
	// The overlay is part of the POI reference.
	a = agcState{target: 500, targetSet: true, ref: 500, still: 5}
	a.step(&p, 500, true, 30, dt, false, false, rated)
	if math.Abs(a.integ-30*dt) > 1e-9 {
		t.Errorf("overlay 30 kW: trim %v, want %v", a.integ, 30*dt)
	}
}

// The AGC reference moves toward its target at ramp_rate MW/min whatever
// the cycle time, and stops at the target.
func TestAGCReferenceRampsAtRampRate(t *testing.T) {
	p := AGCParams{RampRate: 6, Ki: 0.2, IntegralLimit: 50} // 100 kW/s
	for _, dt := range []float64{0.05, 0.5, 2} {
		for _, dir := range []float64{1, -1} {
			a := agcState{target: dir * 1000, targetSet: true}
			var elapsed float64
			for a.ref != a.target {
				before := a.ref
				a.step(&p, 0, false, 0, dt, false, false, 1000)
				elapsed += dt
				if moved := (a.ref - before) * dir; moved < 0 || moved > 100*dt+1e-9 {
					t.Fatalf("dt %v: reference moved %v kW toward the target in one cycle, want at most %v", dt, moved, 100*dt)
				}
				if elapsed > 100 {
					t.Fatalf("dt %v: reference %v never reached %v", dt, a.ref, a.target)
				}
			}
			if want := 1000.0 / 100; elapsed < want-1e-9 || elapsed > want+dt+1e-9 {
				t.Errorf("dt %v, direction %v: reached the target after %v s, want %v s at 100 kW/s", dt, dir, elapsed, want)
			}
		}
	}
}

// Lowering integral_limit holds the trim within the new limit from the
// next cycle on, on both sides, even while the error is not settled.
func TestAGCLoweredTrimLimitHoldsAtOnce(t *testing.T) {
	cfg := DefaultConfig(1000)
	for _, tc := range []struct{ trim, want float64 }{{100, 40}, {-100, -40}, {30, 30}, {-30, -30}} {
		trim, want := tc.trim, tc.want
		c := mustNew(t, cfg)
		c.agc.integ = trim
		mustApply(t, c, SetAGCParams{AGCParams{RampRate: 1, Ki: 0.2, IntegralLimit: 40}})
		if c.agc.integ != want {
			t.Errorf("trim %v, limit lowered to 40: trim %v, want %v", trim, c.agc.integ, want)
		}
	}
}
