package plant

import (
	"math"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// Pack is a unit's batteries seen as one, by the rule the dispatcher
// applies: SOC weighted by capacity, the power limits of the most
// constrained battery scaled to the whole (the PCS shares power between
// them by capacity), the worst alarm and cell extremes, and the contactor
// closed only if every battery's is.
type Pack struct {
	// OK is true when there is a battery and every battery's SOC, power
	// limits, alarm level and (if it has one) contactor are good.
	OK bool
	// SOCAge is the age of the oldest SOC reading.
	SOCAge time.Duration
	// SOC is the capacity-weighted SOC, %, over the good SOC readings (0
	// without any); SOCWeight is its numerator (Σ SOC × capacity) and
	// CapacityKWh its denominator, GoodSOC the number of readings.
	SOC, SOCWeight, CapacityKWh float64
	GoodSOC                     int
	// ChargeMax and DischargeMax are the most constrained battery's limit
	// per kWh times the unit's capacity, kW, >= 0. LimitsOK is true when
	// every battery's limits are good and its capacity positive.
	ChargeMax, DischargeMax float64
	LimitsOK                bool
	// AlarmLevel is the worst battery's.
	AlarmLevel int
	// Contactor is closed unless some battery reports it open.
	Contactor bool
	// Cell extremes over the good readings; a reading no battery has is
	// neutral (3.3 V, 25 °C), a mid-range value that no taper acts on.
	CellVMax, CellVMin, CellTMax, CellTMin float64
}

// EnergyKWh is the energy stored in the batteries with a good SOC reading.
func (p *Pack) EnergyKWh() float64 { return p.SOCWeight / 100 }

// Condense applies the battery rule to a unit's batteries at now.
func Condense(bs []BatteryView, now time.Time) Pack {
	p := Pack{OK: len(bs) > 0, LimitsOK: len(bs) > 0, Contactor: true}
	p.CellVMin, p.CellTMin = math.Inf(1), math.Inf(1)
	p.CellVMax, p.CellTMax = math.Inf(-1), math.Inf(-1)
	var limitCap float64
	chgRatio, disRatio := math.Inf(1), math.Inf(1)
	for j := range bs {
		b := &bs[j]
		if !b.SOC.Good() || !b.ChargeMax.Good() || !b.DischargeMax.Good() || !b.AlarmLevel.Good() || !OptionalGood(b.Contactor) {
			p.OK = false
		}
		if !b.ChargeMax.Good() || !b.DischargeMax.Good() || b.CapacityKWh <= 0 {
			p.LimitsOK = false
		}
		if age := b.SOC.Age(now); age > p.SOCAge {
			p.SOCAge = age
		}
		if b.SOC.Good() {
			p.SOCWeight += b.SOC.V * b.CapacityKWh
			p.CapacityKWh += b.CapacityKWh
			p.GoodSOC++
		}
		limitCap += b.CapacityKWh
		chgRatio = math.Min(chgRatio, b.ChargeMax.V/b.CapacityKWh)
		disRatio = math.Min(disRatio, b.DischargeMax.V/b.CapacityKWh)
		if lvl := int(b.AlarmLevel.V); lvl > p.AlarmLevel {
			p.AlarmLevel = lvl
		}
		if !Absent(b.Contactor) && b.Contactor.V == 0 {
			p.Contactor = false
		}
		extreme(&p.CellVMax, b.CellVMax, math.Max)
		extreme(&p.CellTMax, b.CellTMax, math.Max)
		extreme(&p.CellVMin, b.CellVMin, math.Min)
		extreme(&p.CellTMin, b.CellTMin, math.Min)
	}
	if p.CapacityKWh > 0 {
		p.SOC = p.SOCWeight / p.CapacityKWh
	}
	if limitCap > 0 {
		p.ChargeMax = math.Max(0, chgRatio*limitCap)
		p.DischargeMax = math.Max(0, disRatio*limitCap)
	}
	neutral(&p.CellVMax, 3.3)
	neutral(&p.CellVMin, 3.3)
	neutral(&p.CellTMax, 25)
	neutral(&p.CellTMin, 25)
	return p
}

func extreme(dst *float64, v procimg.Value, pick func(a, b float64) float64) {
	if v.Good() {
		*dst = pick(*dst, v.V)
	}
}

func neutral(v *float64, def float64) {
	if math.IsInf(*v, 0) {
		*v = def
	}
}
