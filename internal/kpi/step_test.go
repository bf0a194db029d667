package kpi

import (
	"math"
	"testing"
)

func TestStepResponseUp(t *testing.T) {
	// Rated 100, step at 10 s asking +10. Output 0 until 10.5 s, 10 at
	// 11.5 s, overshoot 11.6 at 12.5 s, then 10.6, 9.9, 10.2.
	tt := []float64{0, 10, 10.5, 11.5, 12.5, 13, 16, 20}
	p := []float64{0, 0, 0, 10, 11.6, 10.6, 9.9, 10.2}
	r, err := StepResponse(tt, p, StepParams{T0: 10, DeltaP: 10, Rated: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Base 0, target 10.
	// Lag: 1 (10 %) reached at 10.5 + 1/10·1 = 10.6 s -> 0.6 s.
	// Rise: 9 (90 %) at 10.5 + 9/10·1 = 11.4 s -> 1.4 s.
	// Settling band 10 ± 1: last outside at 12.5 s (11.6); back through 11 at
	// 12.5 + (11-11.6)/(10.6-11.6)·0.5 = 12.8 s -> 2.8 s.
	// Steady window [15, 20]: samples 9.9, 10.2 -> (-0.1 + 0.2)/2 = 0.05 (0.05 %).
	if r.Base != 0 || r.Target != 10 || !near(r.Lag, 0.6) || !near(r.RiseTime, 1.4) ||
		!near(r.SettlingTime, 2.8) || !r.Settled || !near(r.SteadyError, 0.05) || !near(r.SteadyErrorPct, 0.05) {
		t.Errorf("got %+v", r)
	}

	// Evaluated only up to 12.5 s it has not settled (11.6 is outside the band).
	r, err = StepResponse(tt, p, StepParams{T0: 10, DeltaP: 10, Rated: 100, End: 12.5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Settled || !math.IsNaN(r.SettlingTime) {
		t.Errorf("End 12.5: %+v", r)
	}
}

func TestStepResponseDownCustom(t *testing.T) {
	// Base 5, step -20 at 1 s (towards charging), linear to -15 at 3 s.
	tt, p := []float64{0, 1, 3}, []float64{5, 5, -15}
	r, err := StepResponse(tt, p, StepParams{T0: 1, DeltaP: -20, Rated: 100, LagFraction: 0.2, SteadyWindow: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	// Lag: 5 - 0.2·20 = 1 at 1 + 4/20·2 = 1.4 s -> 0.4 s.
	// Rise: 5 - 18 = -13 at 1 + 18/20·2 = 2.8 s -> 1.8 s.
	// Settling: band -15 ± 1, enters through -14 at 1 + 19/20·2 = 2.9 s -> 1.9 s.
	// Steady window [2.5, 3]: sample -15 -> error 0.
	if r.Target != -15 || !near(r.Lag, 0.4) || !near(r.RiseTime, 1.8) || !near(r.SettlingTime, 1.9) ||
		!r.Settled || r.SteadyError != 0 {
		t.Errorf("got %+v", r)
	}
}

func TestStepResponseNoResponse(t *testing.T) {
	// Flat output: nothing reached; steady error over [5, 10] = 0 - 10 = -10 (-10 %).
	r, err := StepResponse([]float64{0, 10}, []float64{0, 0}, StepParams{T0: 1, DeltaP: 10, Rated: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(r.Lag) || !math.IsNaN(r.RiseTime) || r.Settled || r.SteadyError != -10 || r.SteadyErrorPct != -10 {
		t.Errorf("got %+v", r)
	}
	// Already inside the band throughout: settled at once.
	r, err = StepResponse([]float64{0, 10}, []float64{0.5, 0.5}, StepParams{T0: 0, DeltaP: 0.5, Rated: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Settled || r.SettlingTime != 0 {
		t.Errorf("inside band: %+v", r)
	}
	for _, sp := range []StepParams{{T0: 0, DeltaP: 0, Rated: 100}, {T0: 0, DeltaP: 1}, {T0: 20, DeltaP: 1, Rated: 1}} {
		if _, err := StepResponse([]float64{0, 10}, []float64{0, 0}, sp); err == nil {
			t.Errorf("%+v: want error", sp)
		}
	}
}

func TestTrackingAccuracy(t *testing.T) {
	// Errors 0, 2, 1, 0 on rated 50: mean 0.75 -> 1.5 %, max 2 -> 4 %,
	// RMS sqrt((4+1)/4) = 1.118034 -> 2.236068 %.
	r, err := TrackingAccuracy([]float64{10, 10, 10, 10}, []float64{10, 12, 9, 10}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.MeanAbsPct, 1.5) || !near(r.MaxAbsPct, 4) || !near(r.RMSPct, 2.236068) || r.N != 4 {
		t.Errorf("got %+v", r)
	}
	if _, err := TrackingAccuracy([]float64{1}, []float64{1, 2}, 50); err == nil {
		t.Error("length mismatch: want error")
	}
	if _, err := TrackingAccuracy([]float64{1}, []float64{1}, 0); err == nil {
		t.Error("rated 0: want error")
	}
}
