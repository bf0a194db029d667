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

// refs locates in the snapshot, for every standard point of kind the view
// carries (plant.Viewed), device d's reading of it.
func refs(d *devices.Device, kind plant.Kind) []pointRef {
	std := plant.Viewed(kind)
	out := make([]pointRef, len(std))
	for k := range std {
		out[k] = ref(d, std[k].Name)
	}
	return out
}

// viewMap holds the point references that turn a snapshot into a View:
// the k-th reference of a device is its reading of plant.Viewed(kind)[k].
type viewMap struct {
	meter, pcs, bms []plant.Standard
	poi             []pointRef
	units           []unitMap
}

type unitMap struct {
	pcs []pointRef
	bms [][]pointRef
}

func newViewMap(meter *devices.Device, units []*unit) *viewMap {
	m := &viewMap{meter: plant.Viewed(plant.KindMeter), pcs: plant.Viewed(plant.KindPCS), bms: plant.Viewed(plant.KindBMS)}
	m.poi = refs(meter, plant.KindMeter)
	for _, u := range units {
		um := unitMap{pcs: refs(u.pcs, plant.KindPCS)}
		for _, b := range u.bms {
			um.bms = append(um.bms, refs(b, plant.KindBMS))
		}
		m.units = append(m.units, um)
	}
	return m
}

// fill writes the view of snapshot s into v, reusing v's storage.
func (m *viewMap) fill(s *procimg.Snapshot, units []*unit, v *plant.View) {
	v.At = s.At
	v.POI = plant.MeterView{}
	for k, r := range m.poi {
		*m.meter[k].Meter(&v.POI) = r.get(s)
	}
	if len(v.Units) != len(m.units) {
		v.Units = make([]plant.UnitView, len(m.units))
	}
	for i := range m.units {
		um, uv, u := &m.units[i], &v.Units[i], units[i]
		uv.ID, uv.RatedP, uv.RatedS = u.id, u.ratedP, u.ratedS
		for k, r := range um.pcs {
			*m.pcs[k].PCS(uv) = r.get(s)
		}
		if len(uv.BMS) != len(um.bms) {
			uv.BMS = make([]plant.BatteryView, len(um.bms))
		}
		for j, bm := range um.bms {
			b := &uv.BMS[j]
			*b = plant.BatteryView{CapacityKWh: u.capacity[j]}
			for k, r := range bm {
				*m.bms[k].Battery(b) = r.get(s)
			}
		}
	}
}
