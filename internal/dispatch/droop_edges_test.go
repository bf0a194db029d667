package dispatch

import (
	"math"
	"strings"
	"testing"
)

// Droop is zero, never infinite, for a zero or negative droop or nominal
// frequency, and for a non-finite frequency; the limit clips both ways.
func TestDroopDegenerateParameters(t *testing.T) {
	base := DroopParams{NominalF: 50, DroopPct: 2, DeadBand: 0.033, RatedP: 1000}
	for _, tc := range []struct {
		name string
		edit func(*DroopParams)
		f    float64
	}{
		{"droop 0", func(p *DroopParams) { p.DroopPct = 0 }, 49.8},
		{"droop negative", func(p *DroopParams) { p.DroopPct = -2 }, 49.8},
		{"nominal 0", func(p *DroopParams) { p.NominalF = 0 }, 49.8},
		{"frequency NaN", func(p *DroopParams) {}, math.NaN()},
		{"frequency +Inf", func(p *DroopParams) {}, math.Inf(1)},
		{"dead band negative", func(p *DroopParams) { p.DeadBand = -0.1 }, 49.8},
		{"dead band NaN", func(p *DroopParams) { p.DeadBand = math.NaN() }, 49.8},
		{"dead band infinite", func(p *DroopParams) { p.DeadBand = math.Inf(1) }, 45},
	} {
		p := base
		tc.edit(&p)
		if got := Droop(tc.f, p); got != 0 {
			t.Errorf("%s: Droop(%v) = %v, want 0", tc.name, tc.f, got)
		}
	}
	p := base
	p.Limit = 100
	if lo, hi := Droop(49, p), Droop(51, p); lo != 100 || hi != -100 {
		t.Errorf("limit 100 kW: Droop(49) = %v, Droop(51) = %v; want 100 and -100", lo, hi)
	}
}

// A response cap of exactly 20 % of rated is allowed; just below is refused.
func TestPFRLimitAtTwentyPercent(t *testing.T) {
	ok := PFRParams{DroopPct: 2, Limit: 200}
	if err := ok.validate(1000); err != nil {
		t.Errorf("limit 200 kW of 1000: %v", err)
	}
	low := PFRParams{DroopPct: 2, Limit: 199.9}
	if err := low.validate(1000); err == nil || !strings.HasPrefix(err.Error(), "limit:") {
		t.Errorf("limit 199.9 kW of 1000: %v, want a refusal on limit", err)
	}
	res := PFRParams{DroopPct: 2, Reserve: 1000}
	if err := res.validate(1000); err != nil {
		t.Errorf("reserve equal to rated: %v", err)
	}
}

// With no dead band any deviation gets its response, in its direction; at
// the dead band's edge the response is 0 and grows from there.
func TestDroopDeadBandEdges(t *testing.T) {
	p := DroopParams{NominalF: 50, DroopPct: 2, RatedP: 1000} // 1000 kW per Hz
	if lo, hi := Droop(49.99, p), Droop(50.01, p); !near(lo, 10, 1e-6) || !near(hi, -10, 1e-6) {
		t.Errorf("no dead band: Droop(49.99) = %v, Droop(50.01) = %v; want 10 and -10", lo, hi)
	}
	p.DeadBand = 0.25 // exact in binary: the edges are exact
	for _, tc := range []struct{ f, want float64 }{{50.25, 0}, {49.75, 0}, {50.375, -125}, {49.625, 125}, {50, 0}} {
		if got := Droop(tc.f, p); got != tc.want {
			t.Errorf("dead band 0.25 Hz: Droop(%v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}
