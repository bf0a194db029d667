package kpi

import (
	"errors"
	"fmt"
	"math"
)

// PJM scoring constants: 10 s averaging blocks, shifts up to 300 s.
const (
	pjmBlock    = 10.0
	pjmMaxShift = 300.0
)

// PJMResult is a PJM regulation performance score and its parts.
type PJMResult struct {
	Score       float64 // (Correlation + Delay + Precision) / 3
	Correlation float64 // Pearson correlation at the chosen shift
	Delay       float64 // |(Shift - 300 s) / 300 s|
	Precision   float64 // 1 - mean|R - S| / mean|S|, floored at 0, unshifted
	Shift       float64 // chosen δ in seconds (0, 10, ... 300)
	Blocks      int     // number of 10 s blocks scored
}

// RegulationResponse turns measured output p into the PJM response
// (p - base) / capacity, comparable with a -1..+1 regulation signal.
func RegulationResponse(p []float64, base, capacity float64) []float64 {
	r := make([]float64, len(p))
	for i, x := range p {
		r[i] = (x - base) / capacity
	}
	return r
}

// PJMScore computes the PJM performance score of a regulation run.
// signal (-1..+1) and response (see [RegulationResponse]) are sampled at the
// common times t. Both are averaged into 10 s blocks starting at t[0]
// (plain mean of the samples in [t0+10k, t0+10k+10)); every block up to the
// last sample must hold a sample, so pass whole blocks, e.g. t = 0, 2, ...
// 3598 for one hour.
//
// For each shift δ = 0, 10, ... 300 s (only while at least two blocks
// overlap) the Pearson correlation of signal block i with response block
// i+δ/10 is taken, counting as 0 when either side has no variance; the δ
// maximising correlation + delay wins, the smaller δ on a tie.
//
// Precision compares response and signal in the same block, unshifted, as
// PJM Manual 12 states it: the delay is already charged by the delay score.
// It fails if the signal averages to zero, where precision is undefined.
func PJMScore(t, signal, response []float64) (PJMResult, error) {
	if err := checkSeries("signal", t, signal); err != nil {
		return PJMResult{}, err
	}
	if err := checkSeries("response", t, response); err != nil {
		return PJMResult{}, err
	}
	s, r, err := blockMeans(t, signal, response)
	if err != nil {
		return PJMResult{}, err
	}
	n := len(s)
	if n < 2 {
		return PJMResult{}, errors.New("kpi: PJM score needs at least two 10 s blocks")
	}
	best := PJMResult{Correlation: math.Inf(-1), Blocks: n}
	for k := 0; float64(k)*pjmBlock <= pjmMaxShift && n-k >= 2; k++ {
		shift := float64(k) * pjmBlock
		c := pearson(s[:n-k], r[k:])
		d := math.Abs((shift - pjmMaxShift) / pjmMaxShift)
		if c+d > best.Correlation+best.Delay {
			best.Correlation, best.Delay, best.Shift = c, d, shift
		}
	}
	var absErr, absSig float64
	for i := range s {
		absErr += math.Abs(r[i] - s[i])
		absSig += math.Abs(s[i])
	}
	if absSig == 0 {
		return PJMResult{}, errors.New("kpi: PJM precision undefined: signal is zero throughout")
	}
	best.Precision = math.Max(0, 1-absErr/absSig) // the 1/n factors cancel
	best.Score = (best.Correlation + best.Delay + best.Precision) / 3
	return best, nil
}

// blockMeans averages a and b over 10 s blocks of t.
func blockMeans(t, a, b []float64) (ma, mb []float64, err error) {
	n := int(math.Floor((t[len(t)-1]-t[0])/pjmBlock)) + 1
	ma, mb = make([]float64, n), make([]float64, n)
	cnt := make([]int, n)
	for i := range t {
		k := min(int(math.Floor((t[i]-t[0])/pjmBlock)), n-1)
		ma[k] += a[i]
		mb[k] += b[i]
		cnt[k]++
	}
	for k := range n {
		if cnt[k] == 0 {
			return nil, nil, fmt.Errorf("kpi: no samples in 10 s block %d (t0+%gs)", k, float64(k)*pjmBlock)
		}
		ma[k] /= float64(cnt[k])
		mb[k] /= float64(cnt[k])
	}
	return ma, mb, nil
}

// pearson returns the correlation coefficient of x and y (same length), or 0
// if either has zero variance.
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return math.Max(-1, math.Min(1, sxy/math.Sqrt(sxx*syy)))
}
