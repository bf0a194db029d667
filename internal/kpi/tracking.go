package kpi

import (
	"errors"
	"fmt"
	"math"
)

// TrackingResult summarises |cmd - meas| in % of rated power.
type TrackingResult struct {
	MeanAbsPct float64 // mean |cmd - meas| / rated · 100
	MaxAbsPct  float64 // max |cmd - meas| / rated · 100
	RMSPct     float64 // sqrt(mean (cmd - meas)²) / rated · 100
	N          int     // number of samples
}

// TrackingAccuracy compares a command and a measurement sampled at the
// same instants (cmd[i] and meas[i] belong together).
func TrackingAccuracy(cmd, meas []float64, rated float64) (TrackingResult, error) {
	if len(cmd) != len(meas) || len(cmd) == 0 {
		return TrackingResult{}, fmt.Errorf("kpi: tracking needs equal, non-empty series (got %d and %d)", len(cmd), len(meas))
	}
	if !(rated > 0) {
		return TrackingResult{}, errors.New("kpi: tracking needs a positive rated power")
	}
	var r TrackingResult
	var sum, sq float64
	for i := range cmd {
		e := math.Abs(cmd[i] - meas[i])
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return TrackingResult{}, fmt.Errorf("kpi: tracking: sample %d is not finite", i)
		}
		sum += e
		sq += e * e
		r.MaxAbsPct = math.Max(r.MaxAbsPct, e)
	}
	n := float64(len(cmd))
	r.N = len(cmd)
	r.MeanAbsPct = sum / n / rated * 100
	r.MaxAbsPct = r.MaxAbsPct / rated * 100
	r.RMSPct = math.Sqrt(sq/n) / rated * 100
	return r, nil
}
