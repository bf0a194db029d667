package points

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultTableIsValid(t *testing.T) {
	if errs := Check(DefaultPoints()); len(errs) != 0 {
		t.Fatalf("default table: %v", errs)
	}
	kinds := map[Kind]int{}
	for _, p := range DefaultPoints() {
		kinds[p.Type]++
	}
	if kinds[Measurand] != 10 || kinds[Single] != 6 || kinds[Setpoint] != 3 || kinds[Command] != 3 {
		t.Errorf("default table kinds %v", kinds)
	}
}

func TestCheckNamesEachBadEntry(t *testing.T) {
	bad := []Point{
		{IOA: 0, Type: Single, Quantity: QRemote, Scale: 1},
		{IOA: MaxIOA + 1, Type: Single, Quantity: QRemote, Scale: 1},
		{IOA: 7, Type: Measurand, Quantity: QP, Scale: 1},
		{IOA: 7, Type: Measurand, Quantity: QQ, Scale: 1},
		{IOA: 8, Type: "analog", Quantity: QP, Scale: 1},
		{IOA: 9, Type: Setpoint, Quantity: QP, Scale: 1},
		{IOA: 10, Type: Measurand, Quantity: QP, Scale: 0},
		{IOA: 11, Type: Measurand, Quantity: QP, Scale: math.Inf(1)},
		{IOA: 12, Type: Measurand, Quantity: QP, Scale: 1, Deadband: -1},
		{IOA: 13, Type: Single, Quantity: "unit_trip:", Scale: 1},
		{IOA: 14, Type: Measurand, Quantity: "unit_trip:u1", Scale: 1},
		{IOA: 15, Type: Single, Quantity: UnitQuantity(QUnitTrip, "u1"), Scale: 1},
		{IOA: 16, Type: Measurand, Quantity: UnitQuantity(QUnitP, "u1"), Scale: 1},
	}
	var got []string
	for _, err := range Check(bad) {
		var pe *PointError
		if !errors.As(err, &pe) {
			t.Fatalf("%v is not a *PointError", err)
		}
		got = append(got, err.Error())
	}
	want := []string{"[0].ioa: 0 is not", "[1].ioa: 16777216 is not", "[3].ioa: 7 is also entry [2]", `[4].type: "analog"`,
		`[5].quantity: "p_kw" is not a setpoint quantity (known: agc_target, avc_q_target, avc_v_target)`, "[6].scale:", "[7].scale:", "[8].deadband: -1 is negative",
		`[9].quantity: "unit_trip:" is not a per-unit single`, `[10].quantity: "unit_trip:u1" is not a per-unit measurand`}
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestUnitOf(t *testing.T) {
	if u := (Point{Quantity: UnitQuantity(QUnitP, "pcs-07")}).UnitOf(); u != "pcs-07" {
		t.Errorf("UnitOf = %q", u)
	}
	if u := (Point{Quantity: QP}).UnitOf(); u != "" {
		t.Errorf("UnitOf of a plant quantity = %q", u)
	}
}

func TestWithDefaultsSetsScale(t *testing.T) {
	in := []Point{{IOA: 1, Type: Single, Quantity: QRemote}, {IOA: 2, Type: Measurand, Quantity: QP, Scale: 0.001}}
	out := WithDefaults(in)
	if out[0].Scale != 1 || out[1].Scale != 0.001 || in[0].Scale != 0 {
		t.Errorf("WithDefaults: %+v (input %+v)", out, in)
	}
}

func TestWriteCSV(t *testing.T) {
	var b strings.Builder
	if err := WriteCSV(&b, []Point{{IOA: 25089, Type: Setpoint, Quantity: QAGCTarget, Unit: "MW", Scale: 0.001}}); err != nil {
		t.Fatal(err)
	}
	if b.String() != "ioa,type,name,unit,scale\n25089,setpoint,agc_target,MW,0.001\n" {
		t.Errorf("CSV %q", b.String())
	}
}
