package kpi

import (
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

const eps = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6 }

func grid(n int, dt float64) []float64 {
	t := make([]float64, n)
	for i := range t {
		t[i] = float64(i) * dt
	}
	return t
}

func TestRegulationResponse(t *testing.T) {
	// (12-10)/4 = 0.5, (8-10)/4 = -0.5.
	r := RegulationResponse([]float64{12, 8}, 10, 4)
	if r[0] != 0.5 || r[1] != -0.5 {
		t.Errorf("got %v", r)
	}
}

func TestPJMScoreDelayed(t *testing.T) {
	// One sample per 10 s block. The response repeats the signal one block
	// later.
	s := []float64{0, 1, 0, -1, 0, 1, 0, -1}
	r := []float64{0, 0, 1, 0, -1, 0, 1, 0}
	// δ=0: Σ S·R = 0 and mean S = 0, so corr 0; 0 + 1 = 1.
	// δ=10: pairs S[0..7) with R[1..8) = S[0..7): corr 1; 1 + 290/300 = 1.9667.
	// δ=50: S[0..3) = R[5..8) = [0 1 0]: corr 1, but 1 + 250/300 = 1.8333.
	// Precision: Σ|R-S| = 7, Σ|S| = 4, 1 - 7/4 < 0 -> 0.
	// Score = (1 + 29/30 + 0) / 3 = 0.6555...
	got, err := PJMScore(grid(8, 10), s, r)
	if err != nil {
		t.Fatal(err)
	}
	want := PJMResult{Score: (1 + 29.0/30) / 3, Correlation: 1, Delay: 29.0 / 30, Precision: 0, Shift: 10, Blocks: 8}
	if !near(got.Score, want.Score) || !near(got.Correlation, 1) || !near(got.Delay, want.Delay) ||
		got.Precision != 0 || got.Shift != 10 || got.Blocks != 8 {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestPJMScoreBlocksAndPrecision(t *testing.T) {
	// 2 s samples, 5 per 10 s block. Signal block means:
	// (0+0.5+1+1+1)/5 = 0.5, -1, (0+0+0+0+1)/5 = 0.2. Response is half the
	// signal: 0.25, -0.5, 0.1.
	s := []float64{0, 0.5, 1, 1, 1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 1}
	r := make([]float64, len(s))
	for i := range s {
		r[i] = s[i] / 2
	}
	// δ=0: corr 1, delay 1 -> 2. δ=10: [0.5 -1] vs [-0.5 0.1]: corr -1.
	// Precision: Σ|R-S| = 0.25+0.5+0.1 = 0.85, Σ|S| = 1.7: 1 - 0.5 = 0.5.
	// Score = (1 + 1 + 0.5) / 3 = 0.8333...
	got, err := PJMScore(grid(len(s), 2), s, r)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.Correlation, 1) || got.Delay != 1 || got.Shift != 0 || !near(got.Precision, 0.5) ||
		!near(got.Score, 2.5/3) || got.Blocks != 3 {
		t.Errorf("got %+v", got)
	}
}

func TestPJMScoreErrors(t *testing.T) {
	cases := []struct {
		name    string
		t, s, r []float64
		msg     string
	}{
		{"gap", []float64{0, 25}, []float64{1, -1}, []float64{1, -1}, "no samples in 10 s block 1"},
		{"zero signal", grid(3, 10), []float64{0, 0, 0}, []float64{1, 0, 0}, "signal is zero"},
		{"one block", grid(5, 2), []float64{1, 0, 1, 0, 1}, []float64{1, 0, 1, 0, 1}, "two 10 s blocks"},
		{"length", grid(3, 10), []float64{1, 0}, []float64{1, 0, 1}, "3 times but 2 values"},
		{"time order", []float64{0, 10, 10}, []float64{1, 0, 1}, []float64{1, 0, 1}, "not after"},
	}
	for _, c := range cases {
		if _, err := PJMScore(c.t, c.s, c.r); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.msg)
		}
	}
}

// A response that is the signal scaled by c in (0, 1] correlates perfectly
// at δ = 0 (delay 1) and has precision c: |cS - S| = (1-c)|S|.
func TestPJMScaledResponseProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		blocks := rapid.IntRange(2, 80).Draw(t, "blocks")
		c := rapid.Float64Range(0.01, 1).Draw(t, "c")
		n := blocks * 5
		s := make([]float64, n)
		for i := range s {
			s[i] = rapid.Float64Range(-1, 1).Draw(t, "s")
		}
		// Make the first two blocks differ so the signal has variance.
		for i := range 5 {
			s[i], s[5+i] = -1, 1
		}
		r := make([]float64, n)
		for i := range s {
			r[i] = c * s[i]
		}
		got, err := PJMScore(grid(n, 2), s, r)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.Correlation-1) > eps || got.Delay != 1 || got.Shift != 0 ||
			math.Abs(got.Precision-c) > 1e-9 || math.Abs(got.Score-(2+c)/3) > 1e-9 {
			t.Fatalf("c=%g: got %+v", c, got)
		}
	})
}
