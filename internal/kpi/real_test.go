package kpi

import (
	"testing"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/trace"
)

// Scores responses to the first hour of the real PJM signal (2 s samples).
func TestPJMScoreRealSignal(t *testing.T) {
	p := testutil.SharedData(t, "traces/pjm-regulation-2017-08-01_02-2s.csv")
	s, err := trace.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1800 // t = 0 .. 3598 s: 360 whole blocks
	tt, sig := s.T[:n], s.V[:n]
	perfect, err := PJMScore(tt, sig, sig)
	if err != nil {
		t.Fatal(err)
	}
	if perfect.Score != 1 || perfect.Shift != 0 || perfect.Blocks != 360 {
		t.Errorf("perfect: %+v", perfect)
	}
	// Response = signal 20 s late (10 samples), holding the first value.
	late := make([]float64, n)
	for i := range late {
		late[i] = sig[max(0, i-10)]
	}
	got, err := PJMScore(tt, sig, late)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("20 s late: %+v", got)
	// At δ = 20 s the blocks match exactly (corr 1, delay 280/300), so the
	// best corr + delay is at least 1.9333; precision loses something.
	if got.Correlation+got.Delay < 1+280.0/300-1e-9 || got.Precision >= 1 || got.Score >= 1 || got.Score < 0.75 {
		t.Errorf("20 s late: %+v", got)
	}
}
