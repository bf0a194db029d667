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

const (
	mtP = iota
	mtQ
	mtF
	mtV
	nMeter
)

var meterSrc = map[string]int{
	"p_kw": mtP, "p_kw_mean": mtP, "p_kw_min": mtP, "p_kw_max": mtP, "q_kvar": mtQ,
	"f_hz": mtF, "f_hz_mean": mtF, "f_hz_min": mtF, "f_hz_max": mtF, "v_v": mtV,
}

const (
	pcP = iota
	pcQ
	pcState
	pcFault
	nPCS
)

var pcsSrc = map[string]int{"p_kw": pcP, "q_kvar": pcQ, "state": pcState, "fault": pcFault}

const (
	bmSOC = iota
	bmSOH
	bmV
	bmI
	bmCVMax
	bmCVMin
	bmCTMax
	bmCTMin
	bmChg
	bmDis
	bmAlarm
	bmCont
	nBMS
)

var bmsSrc = map[string]int{
	"soc_pct": bmSOC, "soh_pct": bmSOH, "v_v": bmV, "i_a": bmI,
	"cell_v_max_v": bmCVMax, "cell_v_min_v": bmCVMin, "cell_t_max_c": bmCTMax, "cell_t_min_c": bmCTMin,
	"charge_max_kw": bmChg, "discharge_max_kw": bmDis, "alarm_level": bmAlarm, "contactor": bmCont,
}

// frame is one interval's accumulators. Observe fills one frame while
// Flush drains the other.
type frame struct {
	cycles int
	plant  [nPlant]acc
	meter  [nMeter]acc
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
	v   [nPCS]acc
	q   procimg.Quality
	bms []bmsFrame
}

type bmsFrame struct {
	v [nBMS]acc
	q procimg.Quality
}

// observe folds one cycle in. It allocates only when the plant's layout
// (number of units or batteries) differs from the frame's.
func (f *frame) observe(v *plant.View, rep *dispatch.Report) {
	f.cycles++
	m := &v.POI
	f.meter[mtP].add(&m.P)
	f.meter[mtQ].add(&m.Q)
	f.meter[mtF].add(&m.F)
	f.meter[mtV].add(&m.V)
	worse(&f.meterQ, &m.P)
	worse(&f.meterQ, &m.Q)
	worse(&f.meterQ, &m.F)
	worse(&f.meterQ, &m.V)
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
		uf.v[pcP].add(&uv.P)
		uf.v[pcQ].add(&uv.Q)
		uf.v[pcState].add(&uv.State)
		uf.v[pcFault].add(&uv.Fault)
		worse(&uf.q, &uv.P)
		worse(&uf.q, &uv.Q)
		worse(&uf.q, &uv.State)
		worse(&uf.q, &uv.Fault)
		if uv.P.Good() {
			unitsP += uv.P.V
			nP++
		}
		if len(uf.bms) != len(uv.BMS) {
			uf.bms = make([]bmsFrame, len(uv.BMS))
		}
		for j := range uv.BMS {
			b, bf := &uv.BMS[j], &uf.bms[j]
			vals := [nBMS]*procimg.Value{&b.SOC, &b.SOH, &b.V, &b.I, &b.CellVMax, &b.CellVMin,
				&b.CellTMax, &b.CellTMin, &b.ChargeMax, &b.DischargeMax, &b.AlarmLevel, &b.Contactor}
			for k, p := range vals {
				bf.v[k].add(p)
				worse(&bf.q, p)
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
	units := f.units
	for i := range units {
		u := &units[i]
		bms := u.bms
		for j := range bms {
			bms[j] = bmsFrame{}
		}
		*u = unitFrame{id: u.id, bms: bms}
	}
	*f = frame{units: units}
}
