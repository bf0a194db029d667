package dispatch

import "math"

// Share is one unit's input to the allocator: how much it can take in each
// direction this cycle, after every unit constraint, and its SOC.
type Share struct {
	DischargeMax float64 // kW, >= 0
	ChargeMax    float64 // kW, >= 0
	SOC          float64 // %
}

// maxPasses bounds the proportional re-spread passes; anything left after
// them is spread over the remaining headroom in one exact final pass.
const maxPasses = 8

// Allocate splits the plant request total (kW, > 0 discharge) across units
// and writes each unit's P into out[i] (len(out) >= len(units)). Each unit
// gets a share proportional to its available power in the asked direction,
// tilted by SOC: with gain > 0, units above the mean SOC discharge more and
// units below it charge more. What a saturated unit cannot take is
// re-spread over the others. No unit ever exceeds its limit; if the request
// exceeds the total available power every unit runs at its limit.
//
// Allocate returns the sum written to out. It is pure, deterministic,
// allocation-free and O(n) per pass with a bounded number of passes.
func Allocate(total float64, units []Share, gain float64, out []float64) float64 {
	out = out[:len(units)]
	for i := range out {
		out[i] = 0
	}
	if total == 0 || !finite(total) {
		return 0
	}
	a := allocation{dir: math.Copysign(1, total), gain: gain}
	sumCap, socW := a.capacity(units)
	if sumCap == 0 { // capacities are >= 0
		return 0
	}
	want := math.Abs(total)
	if want >= sumCap {
		a.saturate(units, out)
	} else {
		a.meanSOC = socW / sumCap
		if remaining := a.fill(want, sumCap, units, out); remaining > 0 {
			a.spread(remaining, units, out)
		}
	}
	return a.finish(units, out)
}

// allocation is the direction and SOC tilt of one Allocate call.
type allocation struct {
	dir     float64 // +1 discharge, -1 charge
	gain    float64 // SOC balance gain
	meanSOC float64 // capacity-weighted mean SOC, %
}

// capOf is a unit's capacity in the allocation's direction (0 for NaN or < 0).
func (a *allocation) capOf(u *Share) float64 {
	c := u.DischargeMax
	if math.Signbit(a.dir) {
		c = u.ChargeMax
	}
	if math.IsNaN(c) {
		return 0
	}
	return max(c, 0)
}

// weight is a unit's SOC-tilted share weight for its capacity c.
func (a *allocation) weight(u *Share, c float64) float64 {
	f := 1 + a.dir*a.gain*(u.SOC-a.meanSOC)/100
	if math.IsNaN(f) {
		return 0
	}
	return c * max(f, 0)
}

// capacity returns the units' total capacity and capacity-weighted SOC sum.
func (a *allocation) capacity(units []Share) (sumCap, socW float64) {
	for i := range units {
		c := a.capOf(&units[i])
		sumCap += c
		socW += c * units[i].SOC
	}
	return sumCap, socW
}

// saturate runs every unit at its limit (as magnitudes, like fill).
func (a *allocation) saturate(units []Share, out []float64) {
	for i := range units {
		out[i] = a.capOf(&units[i])
	}
}

// fill is weighted water filling: out[i] = min(cap_i, λ·w_i) with λ chosen
// so the sum meets want, in at most maxPasses passes. out holds magnitudes
// until finish. It returns what is left to place.
func (a *allocation) fill(want, sumCap float64, units []Share, out []float64) float64 {
	remaining := want
	for range maxPasses {
		if remaining <= 1e-9*sumCap {
			break
		}
		var sw float64
		for i := range units {
			c := a.capOf(&units[i])
			if out[i] < c {
				sw += a.weight(&units[i], c)
			}
		}
		if sw <= 0 {
			break
		}
		k := remaining / sw
		for i := range units { // a full unit has no room: it adds 0
			c := a.capOf(&units[i])
			add := min(k*a.weight(&units[i], c), c-out[i])
			out[i] += add
			remaining -= add
		}
	}
	return remaining
}

// spread places what fill left over the headroom in one exact pass; it
// cannot overshoot because remaining <= total headroom.
func (a *allocation) spread(remaining float64, units []Share, out []float64) {
	var head float64
	for i := range units {
		head += a.capOf(&units[i]) - out[i]
	}
	// remaining > 0: f is 0 if rounding left no headroom, and at most 1.
	f := clamp(remaining/head, 0, 1)
	for i := range units {
		out[i] += f * (a.capOf(&units[i]) - out[i])
	}
}

// finish clips each magnitude to its unit's capacity, applies the
// direction and returns the sum.
func (a *allocation) finish(units []Share, out []float64) float64 {
	var sum float64
	for i := range units {
		out[i] = math.Copysign(min(out[i], a.capOf(&units[i])), a.dir) // magnitudes are >= 0
		sum += out[i]
	}
	return sum
}
