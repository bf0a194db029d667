package plant_test

import (
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func good(v float64) procimg.Value { return procimg.Value{V: v, Q: procimg.Good, At: t0} }

// battery is a healthy BMS of capacity kWh at soc %, with its limits.
func battery(kwh, soc, chg, dis float64) plant.BatteryView {
	return plant.BatteryView{CapacityKWh: kwh, SOC: good(soc), ChargeMax: good(chg), DischargeMax: good(dis),
		AlarmLevel: good(0), Contactor: good(1),
		CellVMax: good(3.4), CellVMin: good(3.3), CellTMax: good(30), CellTMin: good(20)}
}

// unequal is a unit of a small, full-ish battery and a large one whose
// charge limit per kWh is the tighter.
func unequal() []plant.BatteryView {
	a, b := battery(1000, 40, 500, 400), battery(3000, 80, 600, 2400)
	a.AlarmLevel, b.AlarmLevel = good(1), good(2)
	a.CellVMax, b.CellVMin, b.CellTMax, a.CellTMin = good(3.6), good(3.1), good(41), good(5)
	return []plant.BatteryView{a, b}
}

// unequalPack is Condense(unequal()): SOC (40×1000 + 80×3000)/4000 = 70;
// charge min(0.5, 0.2) kW/kWh × 4000 = 800; discharge min(0.4, 0.8) ×
// 4000 = 1600; the worst alarm 2; the cell extremes of either battery.
var unequalPack = plant.Pack{OK: true, SOCAge: 2 * time.Second, SOC: 70, SOCWeight: 280000, CapacityKWh: 4000, GoodSOC: 2,
	ChargeMax: 800, DischargeMax: 1600, LimitsOK: true, AlarmLevel: 2, Contactor: true,
	CellVMax: 3.6, CellVMin: 3.1, CellTMax: 41, CellTMin: 5}

func TestCondense(t *testing.T) {
	now := t0.Add(2 * time.Second)
	stale := procimg.Value{V: 10, Q: procimg.Stale, At: t0.Add(-3 * time.Second)}
	cases := []struct {
		name string
		bs   []plant.BatteryView
		edit func(bs []plant.BatteryView) // applied to bs
		want func(p *plant.Pack)          // applied to unequalPack
	}{{
		name: "unequal batteries",
		bs:   unequal(),
	}, {
		name: "one contactor open",
		bs:   unequal(),
		edit: func(bs []plant.BatteryView) { bs[1].Contactor = good(0) },
		want: func(p *plant.Pack) { p.Contactor = false },
	}, {
		// The stale SOC is left out of the mean and makes the unit not OK;
		// its age is the oldest.
		name: "one SOC stale",
		bs:   unequal(),
		edit: func(bs []plant.BatteryView) { bs[1].SOC = stale },
		want: func(p *plant.Pack) {
			p.OK, p.SOCAge, p.SOC, p.SOCWeight, p.CapacityKWh, p.GoodSOC = false, 5*time.Second, 40, 40000, 1000, 1
		},
	}, {
		name: "one limit lost",
		bs:   unequal(),
		edit: func(bs []plant.BatteryView) { bs[0].DischargeMax = procimg.Value{V: 400, Q: procimg.Lost, At: t0} },
		want: func(p *plant.Pack) { p.OK, p.LimitsOK = false, false },
	}, {
		name: "no contactor and no cell points in the profile",
		bs:   []plant.BatteryView{battery(2000, 50, 100, 200)},
		edit: func(bs []plant.BatteryView) {
			bs[0].Contactor, bs[0].CellVMax, bs[0].CellVMin, bs[0].CellTMax, bs[0].CellTMin = plant.Missing, plant.Missing, plant.Missing, plant.Missing, plant.Missing
		},
		want: func(p *plant.Pack) {
			*p = plant.Pack{OK: true, SOCAge: 2 * time.Second, SOC: 50, SOCWeight: 100000, CapacityKWh: 2000, GoodSOC: 1,
				ChargeMax: 100, DischargeMax: 200, LimitsOK: true, Contactor: true,
				CellVMax: 3.3, CellVMin: 3.3, CellTMax: 25, CellTMin: 25}
		},
	}, {
		name: "negative limit reads as 0",
		bs:   []plant.BatteryView{battery(1000, 50, -5, 300)},
		want: func(p *plant.Pack) {
			*p = plant.Pack{OK: true, SOCAge: 2 * time.Second, SOC: 50, SOCWeight: 50000, CapacityKWh: 1000, GoodSOC: 1,
				ChargeMax: 0, DischargeMax: 300, LimitsOK: true, Contactor: true,
				CellVMax: 3.4, CellVMin: 3.3, CellTMax: 30, CellTMin: 20}
		},
	}, {
		name: "no batteries",
		want: func(p *plant.Pack) {
			*p = plant.Pack{Contactor: true, CellVMax: 3.3, CellVMin: 3.3, CellTMax: 25, CellTMin: 25}
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.edit != nil {
				c.edit(c.bs)
			}
			want := unequalPack
			if c.want != nil {
				c.want(&want)
			}
			if got := plant.Condense(c.bs, now); got != want {
				t.Errorf("Condense:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestPackEnergy(t *testing.T) {
	p := plant.Condense(unequal(), t0)
	if e := p.EnergyKWh(); math.Abs(e-2800) > 1e-9 {
		t.Fatalf("energy %v kWh, want 0.4×1000 + 0.8×3000 = 2800", e)
	}
}

func TestDeviceName(t *testing.T) {
	for _, c := range []struct {
		kind plant.Kind
		j    int
		want string
	}{{plant.KindPCS, 0, "u1.pcs"}, {plant.KindPCS, 3, "u1.pcs"}, {plant.KindBMS, 0, "u1.bms0"}, {plant.KindBMS, 12, "u1.bms12"}} {
		if got := plant.DeviceName("u1", c.kind, c.j); got != c.want {
			t.Errorf("DeviceName(u1, %s, %d) = %q, want %q", c.kind, c.j, got, c.want)
		}
	}
}
