package plant_test

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

func TestSummariseWeighsSOCByCapacityAndSkipsBadValues(t *testing.T) {
	good := func(v float64) procimg.Value { return procimg.Value{V: v, Q: procimg.Good, At: time.Unix(1, 0)} }
	stale := procimg.Value{V: 99, Q: procimg.Stale}
	v := &plant.View{
		POI: plant.MeterView{P: good(-300), F: good(49.95)},
		Units: []plant.UnitView{
			{P: good(200), BMS: []plant.BatteryView{{CapacityKWh: 1000, SOC: good(40)}, {CapacityKWh: 3000, SOC: good(80)}}},
			{P: stale, BMS: []plant.BatteryView{{CapacityKWh: 5000, SOC: stale}}},
		},
	}
	s := plant.Summarise(v)
	// (40×1000 + 80×3000) / 4000 = 70; the stale battery and unit are left out.
	if s.SOC != 70 || s.SOCOK != 2 || s.UnitP != 200 || !s.POIOK || s.POIP != -300 || s.F != 49.95 {
		t.Fatalf("got %+v", s)
	}
}
