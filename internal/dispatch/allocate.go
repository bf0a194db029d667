package dispatch

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
	dir := 1.0
	if total < 0 {
		dir = -1
	}
	capOf := func(u *Share) float64 {
		c := u.DischargeMax
		if dir < 0 {
			c = u.ChargeMax
		}
		if !(c > 0) { // also catches NaN
			return 0
		}
		return c
	}
	var sumCap, socW float64
	for i := range units {
		c := capOf(&units[i])
		sumCap += c
		socW += c * units[i].SOC
	}
	if sumCap <= 0 {
		return 0
	}
	want := total * dir
	if want >= sumCap {
		var sum float64
		for i := range units {
			out[i] = capOf(&units[i]) * dir
			sum += out[i]
		}
		return sum
	}
	meanSOC := socW / sumCap
	weight := func(u *Share, c float64) float64 {
		f := 1 + dir*gain*(u.SOC-meanSOC)/100
		if !(f > 0) {
			return 0
		}
		return c * f
	}
	// Weighted water filling: out[i] = min(cap_i, λ·w_i) with λ chosen so
	// the sum meets the request. out holds magnitudes until the end.
	remaining := want
	for pass := 0; pass < maxPasses && remaining > 1e-9*sumCap; pass++ {
		var sw float64
		for i := range units {
			c := capOf(&units[i])
			if out[i] < c {
				sw += weight(&units[i], c)
			}
		}
		if sw <= 0 {
			break
		}
		k := remaining / sw
		for i := range units {
			c := capOf(&units[i])
			if out[i] >= c {
				continue
			}
			add := k * weight(&units[i], c)
			if room := c - out[i]; add >= room {
				add = room
			}
			out[i] += add
			remaining -= add
		}
	}
	if remaining > 0 {
		// Final exact pass over the headroom that is left; it cannot
		// overshoot because remaining <= total headroom.
		var head float64
		for i := range units {
			head += capOf(&units[i]) - out[i]
		}
		if head > 0 {
			f := remaining / head
			if f > 1 {
				f = 1
			}
			for i := range units {
				out[i] += f * (capOf(&units[i]) - out[i])
			}
		}
	}
	var sum float64
	for i := range units {
		c := capOf(&units[i])
		if out[i] > c {
			out[i] = c
		}
		out[i] *= dir
		sum += out[i]
	}
	return sum
}
