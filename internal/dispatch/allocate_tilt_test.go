package dispatch

import "testing"

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
