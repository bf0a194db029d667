package kpi

import (
	"errors"
	"math"
)

// Defaults for [StepParams] fields left at zero.
const (
	DefaultLagFraction  = 0.10 // lag ends when 10 % of the expected change is reached
	DefaultRiseFraction = 0.90 // rise time to 90 % of the expected change (GB/T 40595)
	DefaultSettleBand   = 0.01 // settled within ±1 % of rated power of the target
	DefaultSteadyWindow = 5.0  // steady error averaged over the last 5 s
)

// StepParams describes a frequency-response step test. Zero-valued optional
// fields take the Default* constants; End 0 means the last sample.
type StepParams struct {
	T0           float64 // time of the frequency step, s
	DeltaP       float64 // expected change of output (non-zero), in the unit of the series
	Rated        float64 // rated power, same unit
	LagFraction  float64 // optional: fraction of |DeltaP| that ends the lag
	RiseFraction float64 // optional: fraction of |DeltaP| that ends the rise time
	SettleBand   float64 // optional: settling band, fraction of Rated
	SteadyWindow float64 // optional: length of the final window for the steady error, s
	End          float64 // optional: end of the evaluation, s
}

// StepResult holds the dynamic metrics of one step. Times are measured
// from T0; NaN means the level was never reached before End.
type StepResult struct {
	Base           float64 // output at T0 (interpolated)
	Target         float64 // Base + DeltaP
	Lag            float64 // until the output has moved LagFraction·|DeltaP| towards Target
	RiseTime       float64 // until it has moved RiseFraction·|DeltaP|
	SettlingTime   float64 // from when on it stays within ±SettleBand·Rated of Target up to End
	Settled        bool    // whether it is within the band at End
	SteadyError    float64 // mean(P - Target) over the samples in [End-SteadyWindow, End]
	SteadyErrorPct float64 // SteadyError in % of Rated
}

// StepResponse measures the response (t, p) to a step at T0 that should
// change the output by DeltaP. The baseline is the output at T0. Lag and
// rise time both count from T0, so the rise time includes the lag, as in
// GB/T 40595.
func StepResponse(t, p []float64, sp StepParams) (StepResult, error) {
	if err := checkSeries("response", t, p); err != nil {
		return StepResult{}, err
	}
	if sp.DeltaP == 0 || !(sp.Rated > 0) {
		return StepResult{}, errors.New("kpi: step needs a non-zero DeltaP and a positive Rated")
	}
	lagF := orDefault(sp.LagFraction, DefaultLagFraction)
	riseF := orDefault(sp.RiseFraction, DefaultRiseFraction)
	band := orDefault(sp.SettleBand, DefaultSettleBand) * sp.Rated
	win := orDefault(sp.SteadyWindow, DefaultSteadyWindow)
	end := sp.End
	if end == 0 {
		end = t[len(t)-1]
	}
	if end <= sp.T0 {
		return StepResult{}, errors.New("kpi: step evaluation ends before T0")
	}
	r := StepResult{Base: valueAt(t, p, sp.T0)}
	r.Target = r.Base + sp.DeltaP
	dir := sign(sp.DeltaP)
	r.Lag, r.RiseTime = math.NaN(), math.NaN()
	if x, ok := crossing(t, p, sp.T0, end, r.Base+dir*lagF*math.Abs(sp.DeltaP), dir); ok {
		r.Lag = x - sp.T0
	}
	if x, ok := crossing(t, p, sp.T0, end, r.Base+dir*riseF*math.Abs(sp.DeltaP), dir); ok {
		r.RiseTime = x - sp.T0
	}
	r.SettlingTime, r.Settled = settling(t, p, sp.T0, end, r.Target, band)
	from := math.Max(sp.T0, end-win)
	w := window(t, p, from, math.Nextafter(end, math.Inf(1)))
	for _, x := range w {
		r.SteadyError += (x - r.Target) / float64(len(w))
	}
	r.SteadyErrorPct = r.SteadyError / sp.Rated * 100
	return r, nil
}

// settling returns the time after t0 from which the piecewise-linear output
// stays within target ± band up to end.
func settling(t, p []float64, t0, end, target, band float64) (float64, bool) {
	out := func(x float64) bool { return math.Abs(x-target) > band }
	// Points of the output on [t0, end], walked backwards.
	tb, pb := end, valueAt(t, p, end)
	if out(pb) {
		return math.NaN(), false
	}
	i := len(t) - 1
	for i >= 0 && t[i] >= end {
		i--
	}
	for {
		ta := t0
		if i >= 0 && t[i] > t0 {
			ta = t[i]
		}
		pa := valueAt(t, p, ta)
		if out(pa) {
			// Entered the band between ta and tb through the violated edge.
			edge := target + sign(pa-target)*band
			return ta + (edge-pa)/(pb-pa)*(tb-ta) - t0, true
		}
		if ta == t0 {
			return 0, true
		}
		tb, pb = ta, pa
		i--
	}
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}
