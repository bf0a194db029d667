package station

import (
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// pointRef locates one standard point in the snapshot; idx < 0 means the
// device's profile does not have the point.
type pointRef struct {
	dev procimg.DeviceID
	idx int
}

func ref(d *devices.Device, point string) pointRef {
	return pointRef{dev: d.ID(), idx: d.Profile().Point(point)}
}

func (r pointRef) get(s *procimg.Snapshot) procimg.Value {
	if r.idx < 0 {
		return plant.Missing
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
func (m *viewMap) fill(s *procimg.Snapshot, units []*unit, v *plant.View) {
	v.At = s.At
	v.POI = plant.MeterView{P: m.meter.p.get(s), Q: m.meter.q.get(s), F: m.meter.f.get(s), V: m.meter.v.get(s)}
	if len(v.Units) != len(m.units) {
		v.Units = make([]plant.UnitView, len(m.units))
	}
	for i := range m.units {
		um, uv, u := &m.units[i], &v.Units[i], units[i]
		uv.ID, uv.RatedP, uv.RatedS = u.id, u.ratedP, u.ratedS
		uv.P, uv.Q, uv.State, uv.Fault = um.p.get(s), um.q.get(s), um.state.get(s), um.fault.get(s)
		if len(uv.BMS) != len(um.bms) {
			uv.BMS = make([]plant.BatteryView, len(um.bms))
		}
		for j := range um.bms {
			bm := &um.bms[j]
			uv.BMS[j] = plant.BatteryView{
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
