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
