package sunspec_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
	"github.com/emsd/emsd/internal/testutil"
)

// TestMappingsNameRealPoints: every mapping names a point of its model's
// top group, in the unit its scale converts from, for a standard point of
// its kind; every enum symbol of a mapped state point is mapped to a run
// state.
func TestMappingsNameRealPoints(t *testing.T) {
	wantUnit := map[string][]string{plant.PointP: {"W"}, plant.PointQ: {"Var", "VAr", "var"}, plant.PointF: {"Hz"},
		plant.PointV: {"V"}, plant.PointEImport: {"Wh"}, plant.PointEExport: {"Wh"}, plant.PointSOC: {"%WHRtg"},
		plant.PointSOH: {"%"}, plant.PointCellVMax: {"V"}, plant.PointCellVMin: {"V"},
		plant.PointChargeMax: {"W"}, plant.PointDischargeMax: {"W"}, plant.PointState: {""}}
	for _, mp := range sunspec.Mappings {
		def, ok := sunspec.Def(mp.Model)
		if !ok {
			t.Errorf("%s: model %d not supported", mp.Std, mp.Model)
			continue
		}
		i := slices.IndexFunc(def.Group.Points, func(p sunspec.PointDef) bool { return p.Name == mp.Point })
		if i < 0 {
			t.Errorf("%s: model %d has no point %s", mp.Std, mp.Model, mp.Point)
			continue
		}
		p := def.Group.Points[i]
		if !slices.ContainsFunc(plant.Standards, func(s plant.Standard) bool { return s.Name == mp.Std && s.Kind == mp.Kind }) {
			t.Errorf("%s is no standard %s point", mp.Std, mp.Kind)
		}
		if u, ok := wantUnit[mp.Std]; !ok || !slices.Contains(u, p.Units) {
			t.Errorf("%s from model %d %s in %q", mp.Std, mp.Model, mp.Point, p.Units)
		}
		if p.Units == "W" || p.Units == "Wh" || p.Units == "Var" || p.Units == "var" {
			if mp.Scale != 0.001 {
				t.Errorf("%s from %s in %s: scale %v", mp.Std, mp.Point, p.Units, mp.Scale)
			}
		}
		if mp.States != nil {
			for _, s := range p.Symbols {
				st, ok := mp.States[s.Name]
				if !ok || !slices.Contains(plant.RunStates, st) {
					t.Errorf("model %d %s: symbol %s maps to %q", mp.Model, mp.Point, s.Name, st)
				}
			}
		}
	}
}

// TestStandardPoints reads the standard points of each kind from a
// simulated device with known engineering values.
func TestStandardPoints(t *testing.T) {
	img := build(t, 40000, []sunspecsim.Model{
		{ID: 1},
		{ID: 701, Values: map[string]float64{"W_SF": 1, "W": -12340, "Var_SF": 0, "Var": 250, "InvSt": 3,
			"Hz_SF": -3, "Hz": 49.987, "V_SF": -1, "LLV": 400.5, "TotWh_SF": 0, "TotWhAbs": 5000000, "TotWhInj": math.NaN()}},
		{ID: 802, Values: map[string]float64{"SoC_SF": -1, "SoC": 55.5, "SoH_SF": 0, "SoH": 98, "V_SF": -1, "V": 812.3,
			"CellV_SF": -3, "CellVMax": 3.412, "CellVMin": 3.301, "WChaDisChaMax_SF": 3, "WChaRteMax": 500000, "WDisChaRteMax": 0x8000 * 1000}},
	}, false)
	c, err := sunspec.Discover(imageReader{img})
	if err != nil {
		t.Fatal(err)
	}
	want := map[plant.Kind]map[string]float64{
		plant.KindPCS:   {plant.PointP: -12.34, plant.PointQ: 0.25},
		plant.KindMeter: {plant.PointP: -12.34, plant.PointQ: 0.25, plant.PointF: 49.987, plant.PointV: 400.5, plant.PointEImport: 5000},
		plant.KindBMS: {plant.PointSOC: 55.5, plant.PointSOH: 98, plant.PointV: 812.3, plant.PointCellVMax: 3.412,
			plant.PointCellVMin: 3.301, plant.PointChargeMax: 500, plant.PointDischargeMax: 32768},
	}
	for kind, vals := range want {
		got := map[string]sunspec.StdValue{}
		for _, v := range c.Standard(kind) {
			got[v.Std] = v
		}
		for std, w := range vals {
			v, ok := got[std]
			if !ok || !v.OK || math.Abs(v.Number-w) > 1e-9*math.Max(1, math.Abs(w)) {
				t.Errorf("%s %s = %+v, want %v", kind, std, v, w)
			}
		}
		if kind == plant.KindPCS && (got[plant.PointState].State != "running" || got[plant.PointState].From != "model 701 InvSt") {
			t.Errorf("pcs state %+v", got[plant.PointState])
		}
		if kind == plant.KindMeter && got[plant.PointEExport].OK {
			t.Errorf("not implemented TotWhInj read as %+v", got[plant.PointEExport])
		}
	}
	// An unknown state code is no state.
	m := c.Model(701)
	st, _ := m.Point("InvSt")
	m.Regs[st.Offset] = 42
	for _, v := range c.Standard(plant.KindPCS) {
		if v.Std == plant.PointState && (v.OK || v.Why == "") {
			t.Errorf("InvSt 42 read as %+v", v)
		}
	}
}

// TestMeterProfile: the profile generated from a chain passes the profile
// loader, and devices' own codec reads through it, over Modbus, the values
// the chain gives as standard points; a not-implemented value reads as
// none.
func TestMeterProfile(t *testing.T) {
	img := build(t, 50000, []sunspecsim.Model{
		{ID: 1},
		{ID: 701, Values: map[string]float64{"W_SF": 1, "W": -12340, "Var_SF": 0, "Var": 250,
			"Hz_SF": -3, "Hz": 49.987, "V_SF": -1, "LLV": 400.5, "TotWh_SF": 0, "TotWhAbs": 5000000, "TotWhInj": math.NaN()}},
	}, false)
	addr := testutil.FreeAddr(t)
	srv, err := sunspecsim.Serve(addr, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl := dial(t, addr)
	c, err := sunspec.Discover(sunspec.ModbusReader{C: cl, Unit: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.MeterProfile("sunspec-meter", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{plant.PointP: -12.34, plant.PointQ: 0.25, plant.PointF: 49.987, plant.PointV: 400.5, plant.PointEImport: 5000}
	got := map[string]float64{}
	noValue := map[string]bool{}
	regs := map[uint16]uint16{}
	for _, g := range p.Groups {
		for _, b := range p.Plan(g.Name) {
			r, err := cl.ReadRegisters(b.Start, b.Count, modbus.HOLDING_REGISTER)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range r {
				regs[b.Start+uint16(i)] = v
			}
		}
	}
	at := func(pt *devices.Point) []uint16 {
		var r []uint16
		for i := range pt.Words() {
			r = append(r, regs[pt.Address+uint16(i)])
		}
		return r
	}
	for i := range p.Points {
		pt := &p.Points[i]
		var sf int16
		if pt.ScalePoint != "" {
			sf = int16(at(&p.Points[p.Point(pt.ScalePoint)])[0])
		}
		v, err := pt.Decode(at(pt), sf)
		if err != nil {
			noValue[pt.Name] = true
			continue
		}
		got[pt.Name] = v
	}
	for k, w := range want {
		if v, ok := got[k]; !ok || math.Abs(v-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %v (%v), want %v", k, v, ok, w)
		}
	}
	if !noValue[plant.PointEExport] {
		t.Errorf("e_export_kwh (TotWhInj not implemented) read as %v", got[plant.PointEExport])
	}
}
