package dispatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

// benchPlant is a running plant: AGC, PFR and FFR enabled, mixed SOC,
// one derated and one tripped unit.
func benchPlant(b testing.TB, n int, rated float64) (*Controller, *Input, []plant.Setpoint) {
	units := healthyUnits(n, rated)
	for i := range units {
		units[i].SOC = 20 + float64(i%60)
	}
	units[1].AlarmLevel = 1
	units[2].PCSFault = true
	c := mustNew(b, DefaultConfig(float64(n)*rated))
	mustApply(b, c, SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 2, DeadBand: 0.033}})
	mustApply(b, c, SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.8, Power: rated, HoldS: 5, RecoveryP: rated / 10}})
	mustApply(b, c, AGCTarget{P: float64(n) * rated * 0.6})
	mustApply(b, c, SetMode{Mode: ModeAGC})
	in := &Input{Now: t0, F: 49.95, FOK: true, POIOK: true, Units: units}
	out := make([]plant.Setpoint, n)
	c.Step(in, out) // grow buffers
	return c, in, out
}

func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct {
		n     int
		rated float64
	}{{80, 2500}, {900, 215}} {
		b.Run(fmt.Sprintf("units=%d", tc.n), func(b *testing.B) {
			c, in, out := benchPlant(b, tc.n, tc.rated)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				in.Now = in.Now.Add(100 * time.Millisecond)
				in.F = 49.95 + float64(i%10)*0.01
				in.POIP = sumP(out) * 0.98
				c.Step(in, out)
			}
		})
	}
}

func BenchmarkAllocate900(b *testing.B) {
	us := make([]Share, 900)
	for i := range us {
		us[i] = Share{DischargeMax: 215 - float64(i%7)*20, ChargeMax: 215, SOC: 20 + float64(i%60)}
	}
	out := make([]float64, len(us))
	b.ReportAllocs()
	for b.Loop() {
		Allocate(150000, us, 2, out)
	}
}

func TestStepAllocationFree(t *testing.T) {
	c, in, out := benchPlant(t, 900, 215)
	allocs := testing.AllocsPerRun(100, func() {
		in.Now = in.Now.Add(time.Second)
		in.Units[3].AlarmLevel ^= 1 // produce events every cycle
		c.Step(in, out)
	})
	if allocs != 0 {
		t.Fatalf("Step allocates %v times per call", allocs)
	}
}

func TestStepDeterministic(t *testing.T) {
	run := func() []plant.Setpoint {
		c, in, out := benchPlant(t, 80, 2500)
		for k := 0; k < 50; k++ {
			in.Now = in.Now.Add(time.Second)
			in.F = 49.9 + float64(k%5)*0.05
			in.POIP = sumP(out) * 0.97
			c.Step(in, out)
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("unit %d: %v vs %v", i, a[i], b[i])
		}
	}
}
