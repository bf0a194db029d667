package station

import (
	"math"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/procimg"
)

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

// pointRef locates one standard point in the snapshot; idx < 0 means the
// device's profile does not have the point.
type pointRef struct {
	dev procimg.DeviceID
	idx int
}

func ref(d *devices.Device, point string) pointRef {
	return pointRef{dev: d.ID(), idx: d.Profile().Point(point)}
}

// missing stands for a point the device's profile does not have: lost,
// never read, and NaN, so that Absent can tell it from a lost reading.
var missing = procimg.Value{Q: procimg.Lost, V: math.NaN()}

// Absent reports whether v stands for a point the profile does not have.
func Absent(v procimg.Value) bool { return v.Q == procimg.Lost && v.At.IsZero() && math.IsNaN(v.V) }

func (r pointRef) get(s *procimg.Snapshot) procimg.Value {
	if r.idx < 0 {
		return missing
	}
	return s.Value(r.dev, r.idx)
}

// viewMap holds the point references that turn a snapshot into a View.
type viewMap struct {
	meter struct{ p, q, f, v pointRef }
	units []unitMap
}

type unitMap struct {
	p, q, state, fault pointRef
	bms                []bmsMap
}

type bmsMap struct {
	soc, soh, v, i, cvmax, cvmin, ctmax, ctmin, chg, dis, alarm, cont pointRef
}

func newViewMap(meter *devices.Device, units []*unit) *viewMap {
	m := &viewMap{}
	m.meter.p = ref(meter, devices.PointP)
	m.meter.q = ref(meter, devices.PointQ)
	m.meter.f = ref(meter, devices.PointF)
	m.meter.v = ref(meter, devices.PointV)
	for _, u := range units {
		um := unitMap{
			p:     ref(u.pcs, devices.PointP),
			q:     ref(u.pcs, devices.PointQ),
			state: ref(u.pcs, devices.PointState),
			fault: ref(u.pcs, devices.PointFault),
		}
		for _, b := range u.bms {
			um.bms = append(um.bms, bmsMap{
				soc:   ref(b, devices.PointSOC),
				soh:   ref(b, devices.PointSOH),
				v:     ref(b, devices.PointV),
				i:     ref(b, devices.PointI),
				cvmax: ref(b, devices.PointCellVMax),
				cvmin: ref(b, devices.PointCellVMin),
				ctmax: ref(b, devices.PointCellTMax),
				ctmin: ref(b, devices.PointCellTMin),
				chg:   ref(b, devices.PointChargeMax),
				dis:   ref(b, devices.PointDischargeMax),
				alarm: ref(b, devices.PointAlarmLevel),
				cont:  ref(b, devices.PointContactor),
			})
		}
		m.units = append(m.units, um)
	}
	return m
}

// fill writes the view of snapshot s into v, reusing v's storage.
func (m *viewMap) fill(s *procimg.Snapshot, units []*unit, v *View) {
	v.At = s.At
	v.POI = MeterView{P: m.meter.p.get(s), Q: m.meter.q.get(s), F: m.meter.f.get(s), V: m.meter.v.get(s)}
	if len(v.Units) != len(m.units) {
		v.Units = make([]UnitView, len(m.units))
	}
	for i := range m.units {
		um, uv, u := &m.units[i], &v.Units[i], units[i]
		uv.ID, uv.RatedP, uv.RatedS = u.id, u.ratedP, u.ratedS
		uv.P, uv.Q, uv.State, uv.Fault = um.p.get(s), um.q.get(s), um.state.get(s), um.fault.get(s)
		if len(uv.BMS) != len(um.bms) {
			uv.BMS = make([]BatteryView, len(um.bms))
		}
		for j := range um.bms {
			bm := &um.bms[j]
			uv.BMS[j] = BatteryView{
				CapacityKWh: u.capacity[j],
				SOC:         bm.soc.get(s), SOH: bm.soh.get(s), V: bm.v.get(s), I: bm.i.get(s),
				CellVMax: bm.cvmax.get(s), CellVMin: bm.cvmin.get(s),
				CellTMax: bm.ctmax.get(s), CellTMin: bm.ctmin.get(s),
				ChargeMax: bm.chg.get(s), DischargeMax: bm.dis.get(s),
				AlarmLevel: bm.alarm.get(s), Contactor: bm.cont.get(s),
			}
		}
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
	var e, cap float64
	for i := range v.Units {
		u := &v.Units[i]
		if u.P.Good() {
			s.UnitP += u.P.V
		}
		for j := range u.BMS {
			b := &u.BMS[j]
			if b.SOC.Good() {
				e += b.SOC.V * b.CapacityKWh
				cap += b.CapacityKWh
				s.SOCOK++
			}
		}
	}
	if cap > 0 {
		s.SOC = e / cap
	}
	return s
}

// copyTo deep-copies the view into dst, reusing dst's storage.
func (v *View) copyTo(dst *View) {
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
