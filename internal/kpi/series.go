package kpi

import (
	"fmt"
	"math"
	"sort"
)

// checkSeries validates one sampled series.
func checkSeries(name string, t, v []float64) error {
	if len(t) != len(v) {
		return fmt.Errorf("kpi: %s: %d times but %d values", name, len(t), len(v))
	}
	if len(t) == 0 {
		return fmt.Errorf("kpi: %s: no samples", name)
	}
	for i := range t {
		if math.IsNaN(t[i]) || math.IsInf(t[i], 0) || math.IsNaN(v[i]) || math.IsInf(v[i], 0) {
			return fmt.Errorf("kpi: %s: sample %d is not finite", name, i)
		}
		if i > 0 && t[i] <= t[i-1] {
			return fmt.Errorf("kpi: %s: time %g at sample %d not after %g", name, t[i], i, t[i-1])
		}
	}
	return nil
}

// valueAt interpolates linearly, holding the end values outside the range.
func valueAt(t, v []float64, x float64) float64 {
	n := len(t)
	if x <= t[0] {
		return v[0]
	}
	if x >= t[n-1] {
		return v[n-1]
	}
	i := sort.SearchFloat64s(t, x) // t[i-1] < x <= t[i]
	return v[i-1] + (v[i]-v[i-1])*(x-t[i-1])/(t[i]-t[i-1])
}

// crossing returns the first time in [from, to] at which dir·(P - level) ≥ 0
// for the piecewise-linear P given by (t, v), dir being +1 or -1.
func crossing(t, v []float64, from, to, level, dir float64) (float64, bool) {
	ta, pa := from, valueAt(t, v, from)
	if dir*(pa-level) >= 0 {
		return from, true
	}
	i := sort.Search(len(t), func(i int) bool { return t[i] > from })
	for ; ta < to; i++ {
		tb := to
		if i < len(t) && t[i] < to {
			tb = t[i]
		}
		pb := valueAt(t, v, tb)
		if dir*(pb-level) >= 0 {
			return ta + (level-pa)/(pb-pa)*(tb-ta), true
		}
		ta, pa = tb, pb
	}
	return 0, false
}

// window returns the samples of (t, v) with from <= t < to, or, if there are
// none, the interpolated value at from.
func window(t, v []float64, from, to float64) []float64 {
	i := sort.SearchFloat64s(t, from)
	j := sort.SearchFloat64s(t, to)
	if i >= j {
		return []float64{valueAt(t, v, from)}
	}
	return v[i:j]
}

func sign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}
