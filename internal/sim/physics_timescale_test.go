package sim

import (
	"math"
	"testing"
)

// A time scale of 60 moves SOC as 60 s of real time would, for the same
// power: 1 s at 1000 kW on 1000 kWh is 100/3600 % per real second.
func TestBatteryTimeScale(t *testing.T) {
	real := batParams{capKWh: 1000, cells: 240, cRate: 0.5, ambientC: 25}
	fast := real
	fast.timeScale = 60
	a, b := newBatState(&real, 50), newBatState(&fast, 50)
	for range 60 {
		stepBattery(&real, &a, 1000, 1)
	}
	stepBattery(&fast, &b, 1000, 1)
	if math.Abs(a.soc-b.soc) > 1e-9 || math.Abs(a.soc-(50-100.0/60)) > 1e-9 {
		t.Fatalf("SOC after 60 real s %v, after 1 s at 60×: %v", a.soc, b.soc)
	}
	// Heating integrates over battery time too: within 5 % of the real run.
	if b.tempC <= 25 || math.Abs((b.tempC-25)-(a.tempC-25)) > 0.05*(a.tempC-25) {
		t.Fatalf("temperature rise %v at 60×, %v over 60 real s", b.tempC-25, a.tempC-25)
	}
}
