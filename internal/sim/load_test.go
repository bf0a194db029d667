package sim

import (
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/config"
)

// TestAuxLoadVariesWithinItsSwing: the auxiliary load stays within
// kw ± swing_kw, actually uses most of that range over its period, is the
// same for the same seed and different for another.
func TestAuxLoadVariesWithinItsSwing(t *testing.T) {
	g := config.SimGrid{LoadKW: 100, AuxLoad: config.AuxLoad{KW: 1500, SwingKW: 500, Period: time.Minute, Seed: 7}}
	src, err := loadSource(&g)
	if err != nil {
		t.Fatal(err)
	}
	g.AuxLoad.Seed = 8
	other, _ := loadSource(&g)
	g.AuxLoad.Seed = 7
	again, _ := loadSource(&g)
	lo, hi, diff := math.Inf(1), math.Inf(-1), 0.0
	for ts := time.Duration(0); ts < 10*time.Minute; ts += 100 * time.Millisecond {
		v := src.at(ts)
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		if again.at(ts) != v {
			t.Fatalf("t=%v: the same seed gives %v and %v", ts, v, again.at(ts))
		}
		diff = math.Max(diff, math.Abs(other.at(ts)-v))
	}
	t.Logf("site 100 kW + aux 1500 ± 500 kW: %.0f..%.0f kW; another seed differs by up to %.0f kW", lo, hi, diff)
	if lo < 100+1000-1e-9 || hi > 100+2000+1e-9 {
		t.Errorf("load %.1f..%.1f kW outside 1100..2100", lo, hi)
	}
	if hi-lo < 500 {
		t.Errorf("load only spans %.1f kW, want it to vary over most of ±500", hi-lo)
	}
	if diff < 100 {
		t.Errorf("another seed differs by at most %.1f kW", diff)
	}
}

// TestAuxLoadAtThePOI: the running plant's meter sees the auxiliary load
// (POI = Σ PCS P − load) and the load changes over time.
func TestAuxLoadAtThePOI(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Simulator.Grid.LoadKW = 0
	cfg.Simulator.Grid.AuxLoad = config.AuxLoad{KW: 80, SwingKW: 40, Period: 2 * time.Second, Seed: 1}
	p := startPlant(t, cfg)
	a := p.Snapshot()
	time.Sleep(700 * time.Millisecond)
	b := p.Snapshot()
	for _, s := range []State{a, b} {
		if s.POI.LoadKW < 40 || s.POI.LoadKW > 120 || math.Abs(s.POI.PKW+s.POI.LoadKW) > 1e-6 {
			t.Fatalf("idle plant: POI %.2f kW, load %.2f kW; want load in 40..120 and POI = -load", s.POI.PKW, s.POI.LoadKW)
		}
	}
	if a.POI.LoadKW == b.POI.LoadKW {
		t.Errorf("load constant at %.2f kW", a.POI.LoadKW)
	}
}
