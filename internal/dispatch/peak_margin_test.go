package dispatch

import "testing"

func TestPeakShaveAimsBelowTheLimitByTheMargin(t *testing.T) {
	p := PeakParams{ImportLimit: 300, RechargeBelow: 200, RechargeP: 50, RechargeSOC: 90, Margin: 10}
	cases := []struct{ load, want float64 }{
		{-350, 60}, // import 350: discharge down to 290
		{-295, 5},  // inside the guard band: already shaving
		{-290, 0},  // at the aim
		{-250, 0},  // between recharge threshold and aim: idle
		{-150, -50},
	}
	for _, c := range cases {
		if got := peakShave(&p, true, c.load, 50, true); got != c.want {
			t.Errorf("load %v: got %v, want %v", c.load, got, c.want)
		}
	}
	bad := p
	bad.Margin = 301
	if err := bad.Validate(); err == nil {
		t.Error("a margin above the import limit must be refused")
	}
	bad.Margin = -1
	if err := bad.Validate(); err == nil {
		t.Error("a negative margin must be refused")
	}
}

// Recharging stops once the mean SOC reaches recharge_soc, and needs a
// known SOC.
func TestPeakRechargeStopsAtRechargeSOC(t *testing.T) {
	p := PeakParams{ImportLimit: 300, RechargeBelow: 200, RechargeP: 50, RechargeSOC: 90}
	for _, c := range []struct {
		soc   float64
		socOK bool
		want  float64
	}{{89.9, true, -50}, {90, true, 0}, {95, true, 0}, {50, false, 0}} {
		if got := peakShave(&p, true, -100, c.soc, c.socOK); got != c.want {
			t.Errorf("SOC %v (known %v): got %v, want %v", c.soc, c.socOK, got, c.want)
		}
	}
}
