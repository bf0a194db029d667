package dispatch

import (
	"math"
	"testing"
)

// The SOC tilt is proportional: with gain g a unit d % above the mean SOC
// gets a weight of 1 + g·d/100 (discharging; 1 − g·d/100 charging). The
// extreme gains of TestAllocate clip one weight to zero and hide the size
// of the tilt; a gentle one shows it.
func TestAllocateSOCTiltIsProportional(t *testing.T) {
	units := []Share{{DischargeMax: 100, ChargeMax: 100, SOC: 60}, {DischargeMax: 100, ChargeMax: 100, SOC: 40}}
	for _, tc := range []struct {
		total, gain float64
		want        [2]float64
	}{
		{100, 1, [2]float64{55, 45}},    // weights 1.1 and 0.9
		{-100, 1, [2]float64{-45, -55}}, // weights 0.9 and 1.1
		{100, 0.5, [2]float64{52.5, 47.5}},
		{100, 0, [2]float64{50, 50}},
	} {
		out := make([]float64, 2)
		Allocate(tc.total, units, tc.gain, out)
		for i := range out {
			if !near(out[i], tc.want[i], 1e-9) {
				t.Errorf("total %v gain %v: %v, want %v", tc.total, tc.gain, out, tc.want)
				break
			}
		}
	}
}

// A unit whose tilted weight is zero still takes what the others cannot:
// the request is met exactly while any unit has headroom.
func TestAllocateZeroWeightUnitTakesTheRemainder(t *testing.T) {
	units := []Share{{DischargeMax: 100, ChargeMax: 100, SOC: 60}, {DischargeMax: 100, ChargeMax: 100, SOC: 40}}
	out := make([]float64, 2)
	// gain 10: weights 2 and 0; the first saturates at 100, 50 are left.
	if sum := Allocate(150, units, 10, out); !near(sum, 150, 1e-9) || !near(out[0], 100, 1e-9) || !near(out[1], 50, 1e-9) {
		t.Errorf("discharge 150: %v (sum %v), want [100 50]", out, sum)
	}
	if sum := Allocate(-150, units, 10, out); !near(sum, -150, 1e-9) || !near(out[0], -50, 1e-9) || !near(out[1], -100, 1e-9) {
		t.Errorf("charge 150: %v (sum %v), want [-50 -100]", out, sum)
	}
}

// A unit that saturates only on a later pass takes no more than its
// headroom, and the rest still reaches the units left.
func TestAllocateLaterPassSaturation(t *testing.T) {
	// gain 5, mean SOC 50: weights 2, 1 and 0. Pass 1 fills A and gives B
	// 83.3; pass 2 fills B; the zero-weight C takes the last 50.
	units := []Share{{DischargeMax: 100, SOC: 70}, {DischargeMax: 100, SOC: 50}, {DischargeMax: 100, SOC: 30}}
	out := make([]float64, 3)
	sum := Allocate(250, units, 5, out)
	if !near(sum, 250, 1e-9) || !near(out[0], 100, 1e-9) || !near(out[1], 100, 1e-9) || !near(out[2], 50, 1e-9) {
		t.Errorf("%v (sum %v), want [100 100 50]", out, sum)
	}
}

// Water filling: the units below their limit share what the full ones
// leave in proportion to their SOC-tilted weights.
func TestAllocateUnsaturatedShareByWeight(t *testing.T) {
	// gain 2, mean SOC 60: weights 1.6, 0.8 and 0.6 (×1000). A fills at
	// 1000; B and C share the other 1000 as 0.8 : 0.6.
	units := []Share{{DischargeMax: 1000, SOC: 90}, {DischargeMax: 1000, SOC: 50}, {DischargeMax: 1000, SOC: 40}}
	out := make([]float64, 3)
	Allocate(2000, units, 2, out)
	want := []float64{1000, 1000 * 0.8 / 1.4, 1000 * 0.6 / 1.4}
	for i := range out {
		if !near(out[i], want[i], 1e-9) {
			t.Fatalf("%v, want %v", out, want)
		}
	}
}

// However many water-filling passes a request would need, it is met
// exactly while headroom remains, no unit leaves its limits, and the SOC
// tilt keeps its order: discharging, a unit's loading (P over its limit)
// never falls as its SOC rises; charging, it never rises. The last plant
// has unit sizes in geometric steps: close to its capacity, water filling
// fills one unit per pass and runs out of passes with units half full.
func TestAllocateManyUnitsMeetsRequestInOrder(t *testing.T) {
	for _, n := range []int{12, 40} {
		units := make([]Share, n)
		var capD float64
		for i := range units {
			c := 50 + float64(i%7)*15
			units[i] = Share{DischargeMax: c, ChargeMax: c, SOC: 5 + 90*float64(i)/float64(n-1)}
			capD += c
		}
		for _, gain := range []float64{1, 3, 10} {
			for _, frac := range []float64{0.3, 0.8, 0.97, 0.999} {
				checkAllocationInOrder(t, units, gain, frac*capD)
				checkAllocationInOrder(t, units, gain, -frac*capD)
			}
		}
	}
	caps := []float64{22, 48, 106, 234, 515, 1133, 2492, 5481, 12056, 26520, 58335, 128317}
	units := make([]Share, len(caps))
	var capD float64
	for i, c := range caps {
		units[i] = Share{DischargeMax: c, ChargeMax: c, SOC: 41.6 + 1.7*float64(i)}
		capD += c
	}
	for _, short := range []float64{10, 50, 200} {
		checkAllocationInOrder(t, units, 6.5, capD-short)
		checkAllocationInOrder(t, units, 6.5, -(capD - short))
	}
}

// checkAllocationInOrder allocates total over units (in rising SOC, with
// equal charge and discharge limits) and checks the split.
func checkAllocationInOrder(t *testing.T, units []Share, gain, total float64) {
	t.Helper()
	n := len(units)
	out := make([]float64, n)
	sum := Allocate(total, units, gain, out)
	var s float64
	for i, p := range out {
		s += p
		if p*total < 0 || math.Abs(p) > units[i].DischargeMax+1e-9 {
			t.Fatalf("n %d gain %v total %v: unit %d at %v, limit %v", n, gain, total, i, p, units[i].DischargeMax)
		}
	}
	if !near(s, total, 1e-9*math.Abs(total)) || !near(sum, s, 1e-9*math.Abs(total)) {
		t.Fatalf("n %d gain %v: total %v placed %v (returned %v)", n, gain, total, s, sum)
	}
	for i := 1; i < n; i++ {
		prev, cur := out[i-1]/units[i-1].DischargeMax, out[i]/units[i].DischargeMax
		if cur < prev-1e-9 { // discharge: loading rises with SOC; charge: |loading| falls
			t.Fatalf("n %d gain %v total %v: unit %d (SOC %.1f) loading %.4f below unit %d (SOC %.1f) %.4f",
				n, gain, total, i, units[i].SOC, cur, i-1, units[i-1].SOC, prev)
		}
	}
}
