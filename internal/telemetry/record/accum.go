package record

import (
	"math"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// acc accumulates the good readings of one value over an interval.
type acc struct {
	last, sum, min, max float64
	n                   uint32
}

func (a *acc) addf(x float64) {
	if math.IsNaN(x) {
		return
	}
	if a.n == 0 {
		a.min, a.max = x, x
	} else if x < a.min {
		a.min = x
	} else if x > a.max {
		a.max = x
	}
	a.sum += x
	a.last = x
	a.n++
}

// add folds v in if it is good.
func (a *acc) add(v *procimg.Value) {
	if v.Q == procimg.Good {
		a.addf(v.V)
	}
}

// get decimates the interval's readings; ok is false without any.
func (a *acc) get(agg Agg) (x float64, ok bool) {
	if a.n == 0 {
		return 0, false
	}
	switch agg {
	case Mean:
		return a.sum / float64(a.n), true
	case Min:
		return a.min, true
	case Max:
		return a.max, true
	}
	return a.last, true
}

// worse raises q to v's quality, ignoring points the profile lacks.
func worse(q *procimg.Quality, v *procimg.Value) {
	if v.Q > *q && !plant.Absent(*v) {
		*q = v.Q
	}
}

// Accumulator slots. Each measurement's fields name their slot in the
// *Src tables below; fields without a slot are filled at flush time.
const (
	plP = iota
	plQ
	plF
	plUnitsP
	plSOC
	plEnergy
	plCap
	plRequested
	plBase
	plPFR
	plFFR
	plTarget
	plSetP
	plSetQ
	plAvailD
	plAvailC
	plCut
	plQTarget
	nPlant
)

var plantSrc = map[string]int{
	"p_kw": plP, "q_kvar": plQ, "f_hz": plF, "units_p_kw": plUnitsP, "soc_pct": plSOC,
	"energy_kwh": plEnergy, "capacity_kwh": plCap, "requested_kw": plRequested, "base_kw": plBase,
	"pfr_kw": plPFR, "ffr_kw": plFFR, "target_kw": plTarget, "setpoint_p_kw": plSetP,
	"setpoint_q_kvar": plSetQ, "avail_discharge_kw": plAvailD, "avail_charge_kw": plAvailC, "cut_kw": plCut,
	"q_target_kvar": plQTarget,
}

// The standard points the view carries, by kind (plant.Viewed): the k-th
// accumulator of a meter, PCS or BMS frame is of the k-th of these, and
// their fields (schema's points) name it as their slot.
var (
	meterPts = plant.Viewed(plant.KindMeter)
	pcsPts   = plant.Viewed(plant.KindPCS)
	bmsPts   = plant.Viewed(plant.KindBMS)
)

var (
	meterSrc = pointSrc(meterPts)
	pcsSrc   = pointSrc(pcsPts)
	bmsSrc   = pointSrc(bmsPts)
)

// pointSrc maps each field of the points pts to its point's slot.
func pointSrc(pts []plant.Standard) map[string]int {
	src := map[string]int{}
	for k := range pts {
		for _, fd := range pointFields(&pts[k]) {
			src[fd.Name] = k
		}
	}
	return src
}

// frame is one interval's accumulators. Observe fills one frame while
// Flush drains the other.
type frame struct {
	cycles int
	plant  [nPlant]acc
	meter  []acc
	meterQ procimg.Quality

	// the last cycle's report; valid when haveReport
	haveReport         bool
	mode               dispatch.Mode
	binding            dispatch.Constraint
	qBinding           string
	available, tripped int
	estop              bool

	units []unitFrame
}

type unitFrame struct {
	id  string
	v   []acc
	q   procimg.Quality
	bms []bmsFrame
}

type bmsFrame struct {
	v []acc
	q procimg.Quality
}

// observe folds one cycle in. It allocates only when the plant's layout
// (number of units or batteries) differs from the frame's.
func (f *frame) observe(v *plant.View, rep *dispatch.Report) {
	f.cycles++
	m := &v.POI
	f.meter = sized(f.meter, len(meterPts))
	for k := range meterPts {
		x := meterPts[k].Meter(m)
		f.meter[k].add(x)
		worse(&f.meterQ, x)
	}
	f.plant[plP].add(&m.P)
	f.plant[plQ].add(&m.Q)
	f.plant[plF].add(&m.F)

	if len(f.units) != len(v.Units) {
		f.units = make([]unitFrame, len(v.Units))
	}
	var unitsP, energy, capacity float64
	nP := 0
	for i := range v.Units {
		uv, uf := &v.Units[i], &f.units[i]
		uf.id = uv.ID
		uf.v = sized(uf.v, len(pcsPts))
		for k := range pcsPts {
			x := pcsPts[k].PCS(uv)
			uf.v[k].add(x)
			worse(&uf.q, x)
		}
		if uv.P.Good() {
			unitsP += uv.P.V
			nP++
		}
		if len(uf.bms) != len(uv.BMS) {
			uf.bms = make([]bmsFrame, len(uv.BMS))
		}
		for j := range uv.BMS {
			b, bf := &uv.BMS[j], &uf.bms[j]
			bf.v = sized(bf.v, len(bmsPts))
			for k := range bmsPts {
				x := bmsPts[k].Battery(b)
				bf.v[k].add(x)
				worse(&bf.q, x)
			}
		}
		p := plant.Condense(uv.BMS, v.At)
		energy += p.EnergyKWh()
		capacity += p.CapacityKWh
	}
	if nP > 0 {
		f.plant[plUnitsP].addf(unitsP)
	}
	if capacity > 0 {
		f.plant[plSOC].addf(100 * energy / capacity)
		f.plant[plEnergy].addf(energy)
		f.plant[plCap].addf(capacity)
	}

	if rep.Mode == "" { // no dispatcher yet (or none): no report fields
		return
	}
	f.haveReport = true
	f.mode, f.binding, f.qBinding = rep.Mode, rep.Binding, string(rep.QBinding)
	f.available, f.tripped, f.estop = rep.Available, rep.Tripped, rep.EStop
	f.plant[plRequested].addf(rep.Requested)
	f.plant[plBase].addf(rep.Base)
	f.plant[plPFR].addf(rep.PFR)
	f.plant[plFFR].addf(rep.FFR)
	f.plant[plTarget].addf(rep.Target)
	f.plant[plSetP].addf(rep.P)
	f.plant[plSetQ].addf(rep.Q)
	f.plant[plAvailD].addf(rep.AvailDischarge)
	f.plant[plAvailC].addf(rep.AvailCharge)
	f.plant[plCut].addf(rep.Cut)
	f.plant[plQTarget].addf(rep.QTarget)
}

// reset empties the frame, keeping its storage.
func (f *frame) reset() {
	units, meter := f.units, f.meter
	clear(meter)
	for i := range units {
		u := &units[i]
		bms := u.bms
		for j := range bms {
			clear(bms[j].v)
			bms[j] = bmsFrame{v: bms[j].v}
		}
		clear(u.v)
		*u = unitFrame{id: u.id, v: u.v, bms: bms}
	}
	*f = frame{units: units, meter: meter}
}

// sized returns accs if it has n accumulators, else n new ones.
func sized(accs []acc, n int) []acc {
	if len(accs) != n {
		return make([]acc, n)
	}
	return accs
}
