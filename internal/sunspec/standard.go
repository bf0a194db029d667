package sunspec

import (
	"fmt"

	"github.com/emsd/emsd/internal/plant"
)

// Mapping reads one of emsd's standard points from a SunSpec point. Where
// several mappings give the same standard point, the first whose model the
// device has wins.
type Mapping struct {
	Kind  plant.Kind
	Std   string // standard point (plant.Point*)
	Model int
	Point string // SunSpec point name in the model
	// Scale converts the SunSpec unit to the standard point's (W to kW).
	Scale float64
	// States maps the SunSpec enum's symbol names to run states
	// (plant.RunStates); the values come from the model definition.
	States map[string]string
}

// invStates reads model 701's InvSt as a run state.
var invStates = map[string]string{
	"OFF": "stopped", "SLEEPING": "stopped", "STANDBY": "stopped", "SHUTTING_DOWN": "stopped",
	"STARTING": "starting", "RUNNING": "running", "THROTTLED": "running", "FAULT": "fault",
}

// opStates reads models 103/113's St as a run state.
var opStates = map[string]string{
	"OFF": "stopped", "SLEEPING": "stopped", "STANDBY": "stopped", "SHUTTING_DOWN": "stopped",
	"STARTING": "starting", "MPPT": "running", "THROTTLED": "running", "FAULT": "fault",
}

const kilo = 0.001

// Mappings are the standard points a SunSpec device gives, in emsd's units
// and signs. SunSpec W is positive for generation (discharge, export), as
// emsd's P. The battery current (802 A) is not mapped: its sign is not
// defined by the model.
var Mappings = func() []Mapping {
	var m []Mapping
	for _, kind := range []plant.Kind{plant.KindPCS, plant.KindMeter} {
		for _, inv := range []struct {
			id            int
			varName, vArg string
		}{{701, "Var", "LLV"}, {113, "VAr", "PPVphAB"}, {103, "VAr", "PPVphAB"}} {
			m = append(m,
				Mapping{Kind: kind, Std: plant.PointP, Model: inv.id, Point: "W", Scale: kilo},
				Mapping{Kind: kind, Std: plant.PointQ, Model: inv.id, Point: inv.varName, Scale: kilo})
			if kind == plant.KindMeter {
				m = append(m,
					Mapping{Kind: kind, Std: plant.PointF, Model: inv.id, Point: "Hz", Scale: 1},
					Mapping{Kind: kind, Std: plant.PointV, Model: inv.id, Point: inv.vArg, Scale: 1})
			}
		}
	}
	return append(m,
		Mapping{Kind: plant.KindPCS, Std: plant.PointState, Model: 701, Point: "InvSt", States: invStates},
		Mapping{Kind: plant.KindPCS, Std: plant.PointState, Model: 113, Point: "St", States: opStates},
		Mapping{Kind: plant.KindPCS, Std: plant.PointState, Model: 103, Point: "St", States: opStates},
		Mapping{Kind: plant.KindMeter, Std: plant.PointEImport, Model: 701, Point: "TotWhAbs", Scale: kilo},
		Mapping{Kind: plant.KindMeter, Std: plant.PointEExport, Model: 701, Point: "TotWhInj", Scale: kilo},
		Mapping{Kind: plant.KindMeter, Std: plant.PointEExport, Model: 113, Point: "WH", Scale: kilo},
		Mapping{Kind: plant.KindMeter, Std: plant.PointEExport, Model: 103, Point: "WH", Scale: kilo},
		Mapping{Kind: plant.KindBMS, Std: plant.PointSOC, Model: 802, Point: "SoC", Scale: 1},
		Mapping{Kind: plant.KindBMS, Std: plant.PointSOH, Model: 802, Point: "SoH", Scale: 1},
		Mapping{Kind: plant.KindBMS, Std: plant.PointV, Model: 802, Point: "V", Scale: 1},
		Mapping{Kind: plant.KindBMS, Std: plant.PointCellVMax, Model: 802, Point: "CellVMax", Scale: 1},
		Mapping{Kind: plant.KindBMS, Std: plant.PointCellVMin, Model: 802, Point: "CellVMin", Scale: 1},
		Mapping{Kind: plant.KindBMS, Std: plant.PointChargeMax, Model: 802, Point: "WChaRteMax", Scale: kilo},
		Mapping{Kind: plant.KindBMS, Std: plant.PointDischargeMax, Model: 802, Point: "WDisChaRteMax", Scale: kilo},
	)
}()

// StdValue is a standard point read from a SunSpec device.
type StdValue struct {
	Std    string
	From   string // "model 701 W"
	OK     bool
	Why    string // when not OK
	Number float64
	State  string // for run states
}

// Model returns the chain's first model with the id.
func (c *Chain) Model(id int) *Model {
	for i := range c.Models {
		if c.Models[i].ID == id {
			return &c.Models[i]
		}
	}
	return nil
}

// Standard reads the standard points of a kind from the chain, in the
// order of Mappings, one value per standard point.
func (c *Chain) Standard(kind plant.Kind) []StdValue {
	var out []StdValue
	seen := map[string]bool{}
	for _, mp := range Mappings {
		m := c.Model(mp.Model)
		if mp.Kind != kind || seen[mp.Std] || m == nil {
			continue
		}
		v, ok := m.Point(mp.Point)
		if !ok {
			continue
		}
		seen[mp.Std] = true
		sv := StdValue{Std: mp.Std, From: fmt.Sprintf("model %d %s", mp.Model, mp.Point), Why: v.Why}
		switch {
		case !v.OK:
		case mp.States != nil:
			sv.State, sv.OK = stateOf(v.Def, int64(v.Number), mp.States)
			if !sv.OK {
				sv.Why = fmt.Sprintf("code %d is no known state", int64(v.Number))
			}
		default:
			sv.Number, sv.OK = v.Number*mp.Scale, true
		}
		out = append(out, sv)
	}
	return out
}

// stateOf names a code by its symbol in the definition, then by the map.
func stateOf(d *PointDef, code int64, states map[string]string) (string, bool) {
	for _, s := range d.Symbols {
		if s.Value == code {
			st, ok := states[s.Name]
			return st, ok
		}
	}
	return "", false
}
