package dispatch

import (
	"strings"
	"testing"
	"time"
)

// ffrOn returns an FFR command with the given triggers and valid other fields.
func ffrOn(low, high float64) SetFFR {
	return SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: low, HighTrigger: high, Power: 300, HoldS: 10, RecoveryP: 100}}
}

// The trigger ranges on their own, at their edges: a low trigger is an
// under-frequency in [45, 59.99] Hz, a high one an over-frequency in
// [50.01, 65] Hz, whatever the grid.
func TestFFRTriggerRanges(t *testing.T) {
	for _, tc := range []struct {
		low, high float64
		want      string // "" = valid
	}{
		{45, 0, ""}, {59.99, 0, ""}, {44.99, 0, "low_trigger"}, {60.5, 0, "low_trigger"},
		{0, 50.01, ""}, {0, 65, ""}, {0, 50, "high_trigger"}, {0, 65.01, "high_trigger"},
		{49.8, 50.2, ""}, {50.2, 50.2, "high_trigger"},
	} {
		cmd := ffrOn(tc.low, tc.high)
		err := cmd.Validate()
		if tc.want == "" && err != nil {
			t.Errorf("low %g high %g: refused: %v", tc.low, tc.high, err)
		}
		if tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want+":")) {
			t.Errorf("low %g high %g: want a refusal on %s, got %v", tc.low, tc.high, tc.want, err)
		}
	}
}

// A trigger on the wrong side of the plant's nominal frequency fires at
// nominal frequency: a 50 Hz plant given low_trigger 50.5 would discharge
// the FFR power, with the grid healthy, every time the hold ends. The
// controller knows nominal_f, so it refuses such a trigger, and a refused
// command leaves FFR off.
func TestFFRTriggerMustLieBeyondNominalFrequency(t *testing.T) {
	for _, tc := range []struct {
		nominal   float64
		low, high float64
		want      string // "" = accepted
	}{
		{50, 50.5, 0, "low_trigger"},
		{50, 50, 0, "low_trigger"},
		{50, 59.99, 0, "low_trigger"},
		{60, 0, 60, "high_trigger"},
		{50, 49.99, 50.01, ""},
		{60, 59.8, 0, ""},
		{60, 0, 50.2, "high_trigger"},
		{60, 59.8, 60.2, ""},
	} {
		cfg := fastCfg()
		cfg.NominalF = tc.nominal
		c := mustNew(t, cfg)
		err := c.Apply(ffrOn(tc.low, tc.high), t0)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%g Hz plant, low %g high %g: refused: %v", tc.nominal, tc.low, tc.high, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want+":") || !strings.Contains(err.Error(), "nominal_f") {
			t.Errorf("%g Hz plant, low %g high %g: want a refusal naming %s and nominal_f, got %v", tc.nominal, tc.low, tc.high, tc.want, err)
		}
		// Whatever Apply said, the plant at nominal frequency must not move.
		s := newSim(healthyUnits(4, 250))
		s.in.F = tc.nominal
		s.step(c, 0)
		for k := 0; k < 3; k++ {
			if r := s.step(c, time.Second); r.FFR != 0 || r.P != 0 {
				t.Fatalf("%g Hz plant at nominal frequency, low %g high %g: FFR %v kW, P %v kW", tc.nominal, tc.low, tc.high, r.FFR, r.P)
			}
		}
	}
}

// runFFR steps an FFR state every dt seconds for n cycles with frequency
// f(t) and returns its outputs.
func runFFR(s *ffrState, p *FFRParams, dt float64, n int, f func(t float64) float64) []float64 {
	out := make([]float64, n)
	for k := range out {
		tk := float64(k) * dt
		out[k] = s.step(true, p, f(tk), true, t0.Add(time.Duration(tk*float64(time.Second))), dt)
	}
	return out
}

// A trigger fires at its frequency exactly, in its direction.
func TestFFRTriggerIsInclusive(t *testing.T) {
	p := FFRParams{LowTrigger: 49.8, HighTrigger: 50.2, Power: 100, HoldS: 1, RecoveryP: 50}
	for _, tc := range []struct{ f, want float64 }{{49.8, 100}, {50.2, -100}, {49.81, 0}, {50.19, 0}} {
		var s ffrState
		if got := s.step(true, &p, tc.f, true, t0, 0.1); got != tc.want {
			t.Errorf("%v Hz: FFR %v kW, want %v", tc.f, got, tc.want)
		}
	}
}

// FFR fires once per excursion: a frequency that stays beyond the trigger
// (here from the moment FFR is enabled) gives one hold and one recovery,
// and a new event needs the frequency back inside the triggers first.
func TestFFRFiresOncePerExcursion(t *testing.T) {
	p := FFRParams{LowTrigger: 49.8, Power: 100, HoldS: 1, RecoveryP: 50}
	var s ffrState
	out := runFFR(&s, &p, 0.1, 100, func(float64) float64 { return 49.7 }) // 10 s low
	if out[0] != 100 {
		t.Fatalf("first cycle below the trigger: %v kW, want 100", out[0])
	}
	var holds int
	for k := 1; k < len(out); k++ {
		if out[k] == 100 && out[k-1] != 100 {
			holds++
		}
	}
	if holds != 0 || out[len(out)-1] != 0 {
		t.Fatalf("frequency held low: %d further holds, last output %v; want one event, then 0", holds, out[len(out)-1])
	}
	out = runFFR(&s, &p, 0.1, 2, func(tk float64) float64 { return []float64{50, 49.7}[int(tk*10+0.5)] })
	if out[1] != 100 {
		t.Errorf("back inside, then low again: %v kW, want a new hold at 100", out[1])
	}
}

// Recovery returns the energy the hold moved, to within 1 Wh and never
// more, at no more than recovery_p: a 2 s hold at 100 kW (rounded up to
// whole cycles) is paid back at 30 kW in about 6⅔ s, with cycle times that
// do not divide it (at 0.5 s the last cycle returns only what is still owed).
func TestFFRRecoveryReturnsTheEnergyMoved(t *testing.T) {
	p := FFRParams{LowTrigger: 49.8, Power: 100, HoldS: 2, RecoveryP: 30}
	const wh = 3.6 // kW·s
	for _, dt := range []float64{0.1, 0.3, 0.5} {
		var s ffrState
		f := func(tk float64) float64 {
			if tk < 0.5 {
				return 49.7
			}
			return 50
		}
		out := runFFR(&s, &p, dt, int(15/dt), f)
		var owed, moved, hold, end float64 // kW·s, s
		for k, o := range out {
			owed += o * dt
			if o > 0 { // the hold lasts whole cycles
				moved += o * dt
				hold = float64(k+1) * dt
			}
			if o < -30-1e-9 || o > 100 || owed < -1e-9 {
				t.Fatalf("dt %v: cycle %d at %v kW, owed %v kW·s: outside [-30, 100] or returned more than moved", dt, k, o, owed)
			}
			if o != 0 {
				end = float64(k+1) * dt
			}
		}
		if owed > wh {
			t.Errorf("dt %v: %v kW·s still owed after recovery, want at most 1 Wh", dt, owed)
		}
		if hold < 2 || hold >= 2+dt || !near(moved, 100*hold, 1e-9) {
			t.Errorf("dt %v: held %v kW·s over %v s, want 100 kW from 2 s to the end of that cycle", dt, moved, hold)
		}
		if want := hold + moved/30; end < want-wh/30-1e-9 || end > want+dt+1e-9 {
			t.Errorf("dt %v: FFR active until %v s, want %v s (recovery of %v kW·s at 30 kW)", dt, end, want, moved)
		}
	}
}
