package plant

import (
	"math"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// Setpoint is a unit's power order, the dispatch controller's output: the
// runtime hands the controller's setpoints to the writers without a copy.
type Setpoint struct {
	P float64 `json:"p"` // kW, > 0 discharge
	Q float64 `json:"q"` // kvar
}

// View is the plant as control code sees it in one cycle: typed values,
// each with its age and quality, taken from one snapshot of the image.
type View struct {
	At    time.Time
	POI   MeterView
	Units []UnitView
}

// MeterView is the POI meter.
type MeterView struct {
	P, Q, F, V procimg.Value
}

// UnitView is one PCS and its batteries.
type UnitView struct {
	ID             string
	RatedP, RatedS float64
	P, Q           procimg.Value
	State, Fault   procimg.Value
	BMS            []BatteryView
	// Acked is the last setpoint the PCS acknowledged, at AckedAt (zero
	// before the first acknowledgement).
	Acked   Setpoint
	AckedAt time.Time
	// AliveAt is when the PCS last acknowledged a heartbeat (its last
	// acknowledged write if it has no heartbeat): its watchdog counts from here.
	AliveAt time.Time
}

// BatteryView is one BMS.
type BatteryView struct {
	CapacityKWh             float64
	SOC, SOH, V, I          procimg.Value
	CellVMax, CellVMin      procimg.Value
	CellTMax, CellTMin      procimg.Value
	ChargeMax, DischargeMax procimg.Value
	AlarmLevel, Contactor   procimg.Value
}

// Missing stands for a point the device's profile does not have: lost,
// never read, and NaN, so that Absent can tell it from a lost reading.
var Missing = procimg.Value{Q: procimg.Lost, V: math.NaN()}

// Absent reports whether v stands for a point the profile does not have.
func Absent(v procimg.Value) bool { return v.Q == procimg.Lost && v.At.IsZero() && math.IsNaN(v.V) }

// OptionalGood is true for a good value and for a point the profile does
// not have; a present point that is stale, lost or never read is not good.
func OptionalGood(v procimg.Value) bool { return v.Good() || Absent(v) }

// CopyTo deep-copies the view into dst, reusing dst's storage.
func (v *View) CopyTo(dst *View) {
	dst.At, dst.POI = v.At, v.POI
	if len(dst.Units) != len(v.Units) {
		dst.Units = make([]UnitView, len(v.Units))
	}
	for i := range v.Units {
		bms := append(dst.Units[i].BMS[:0], v.Units[i].BMS...)
		dst.Units[i] = v.Units[i]
		dst.Units[i].BMS = bms
	}
}

// Summary condenses a view for the periodic log line.
type Summary struct {
	POIP, F, UnitP, SOC float64
	POIOK, FOK          bool
	SOCOK               int // batteries whose SOC is good
}

// Summarise computes the plant summary: POI power and frequency, the sum of
// unit powers, and the capacity-weighted mean SOC over good readings.
func Summarise(v *View) Summary {
	s := Summary{POIP: v.POI.P.V, POIOK: v.POI.P.Good(), F: v.POI.F.V, FOK: v.POI.F.Good()}
	var e, capTotal float64
	for i := range v.Units {
		u := &v.Units[i]
		if u.P.Good() {
			s.UnitP += u.P.V
		}
		p := Condense(u.BMS, v.At)
		e += p.SOCWeight
		capTotal += p.CapacityKWh
		s.SOCOK += p.GoodSOC
	}
	if capTotal > 0 {
		s.SOC = e / capTotal
	}
	return s
}

// CycleKind says what started a control cycle.
type CycleKind uint8

// Cycle kinds.
const (
	CycleTick CycleKind = iota // the periodic tick
	CycleFast                  // a new frequency reading a FastController asked for
)

// String is "tick" or "fast".
func (k CycleKind) String() string {
	if k == CycleFast {
		return "fast"
	}
	return "tick"
}
