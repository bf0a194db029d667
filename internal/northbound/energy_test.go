package northbound

import (
	"math"
	"testing"
	"time"
)

func TestEnergyIntegratesTheDay(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	e := NewEnergy(loc)
	t0 := time.Date(2026, 12, 2, 22, 0, 0, 0, loc)
	// One hour: 30 min at 1000 kW export, then 30 min at 500 kW import,
	// observed every second.
	for s := 0; s <= 3600; s++ {
		p := 1000.0
		if s >= 1800 {
			p = -500
		}
		e.Observe(t0.Add(time.Duration(s)*time.Second), p, true)
	}
	in, out, good := e.Today()
	if math.Abs(out-500) > 1e-6 || math.Abs(in-250) > 1e-6 || !good {
		t.Fatalf("charged %v, discharged %v kWh (good %v); want 250, 500", in, out, good)
	}
	// A bad reading's power is not integrated; a gap is skipped.
	e2 := NewEnergy(loc)
	e2.Observe(t0, 1000, false)
	e2.Observe(t0.Add(time.Hour/2), 1000, true)
	e2.Observe(t0.Add(time.Hour/2+time.Minute), 1000, true) // gap > maxGap: nothing
	e2.Observe(t0.Add(time.Hour/2+time.Minute+time.Second), 0, true)
	if _, out, _ := e2.Today(); math.Abs(out-1000.0/3600) > 1e-9 {
		t.Fatalf("discharged %v kWh, want one second at 1000 kW", out)
	}
	// Local midnight starts a new day.
	e.Observe(time.Date(2026, 12, 3, 0, 0, 1, 0, loc), 1000, true)
	if in, out, _ := e.Today(); in != 0 || out != 0 {
		t.Fatalf("totals after midnight %v, %v; want 0", in, out)
	}
}
