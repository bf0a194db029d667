package station_test

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station"
)

// viewPlant serves one fixed view as httpapi.Plant.
type viewPlant struct{ v plant.View }

func (p viewPlant) Latest() plant.View                   { return p.v }
func (viewPlant) Ready() bool                            { return true }
func (viewPlant) Devices() []*devices.Device             { return nil }
func (viewPlant) Acked() ([]plant.Setpoint, []time.Time) { return nil, nil }

// TestStateAndDispatcherAgreeOnUnequalBatteries gives the real dispatcher
// and /api/state one unit of two unequal batteries, whose tighter limit
// per kWh is in different batteries for charge and discharge: the limits
// the state shows are the ones the dispatcher counts as available, and
// the unit's SOC is the plant's. A reader that condensed the batteries by
// a rule of its own (sum of limits, the smallest limit, SOC unweighted)
// would disagree.
func TestStateAndDispatcherAgreeOnUnequalBatteries(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	good := func(v float64) procimg.Value { return procimg.Value{V: v, Q: procimg.Good, At: now} }
	bat := func(kwh, soc, chg, dis float64) plant.BatteryView {
		return plant.BatteryView{CapacityKWh: kwh, SOC: good(soc), ChargeMax: good(chg), DischargeMax: good(dis),
			AlarmLevel: good(0), Contactor: good(1),
			CellVMax: good(3.35), CellVMin: good(3.3), CellTMax: good(26), CellTMin: good(24)}
	}
	v := plant.View{At: now, POI: plant.MeterView{P: good(0), Q: good(0), F: good(50), V: good(20000)},
		Units: []plant.UnitView{{ID: "u1", RatedP: 5000, RatedS: 5000, P: good(0), Q: good(0),
			State: plant.Missing, Fault: plant.Missing,
			// charge 0.5 and 0.2 kW/kWh, discharge 0.4 and 0.8: the unit
			// may charge 0.2 × 4000 = 800 kW and discharge 0.4 × 4000 = 1600 kW.
			BMS: []plant.BatteryView{bat(1000, 50, 500, 400), bat(3000, 60, 600, 2400)}}}}

	ctl, err := dispatch.New(dispatch.DefaultConfig(5000))
	if err != nil {
		t.Fatal(err)
	}
	d := station.NewDispatcher(ctl, zap.NewNop(), nil)
	d.Step(&v, make([]plant.Setpoint, 1))
	r := d.Report()
	if r.Available != 1 || r.AvailDischarge != 1600 || r.AvailCharge != 800 {
		t.Fatalf("dispatcher: %d units available, %v kW discharge, %v kW charge; want 1, 1600, 800",
			r.Available, r.AvailDischarge, r.AvailCharge)
	}

	st := httpapi.Snapshot(viewPlant{v}, d, now)
	u := st.Units[0]
	if u.ChargeMax == nil || u.DischargeMax == nil {
		t.Fatalf("state shows no unit limits: %+v", u)
	}
	if float64(*u.DischargeMax) != r.AvailDischarge || float64(*u.ChargeMax) != r.AvailCharge {
		t.Errorf("state shows %v kW discharge, %v kW charge; the dispatcher counts %v and %v",
			*u.DischargeMax, *u.ChargeMax, r.AvailDischarge, r.AvailCharge)
	}
	// (50 × 1000 + 60 × 3000) / 4000 = 57.5
	if u.SOC == nil || u.SOC.Value == nil || *u.SOC.Value != 57.5 || st.Plant.SOC == nil || *st.Plant.SOC.Value != 57.5 {
		t.Errorf("state SOC: unit %+v, plant %+v; want 57.5 %%", u.SOC, st.Plant.SOC)
	}
	if s := plant.Summarise(&v); s.SOC != 57.5 {
		t.Errorf("summary SOC %v, want 57.5 %%", s.SOC)
	}
}
