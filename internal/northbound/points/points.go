// Package points is the dispatch points table: which information object
// address carries which emsd quantity, of which kind, in which unit and
// scale. It is a leaf, read by the configuration and the northbound
// servers.
package points

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Kind is what a point carries and in which direction.
type Kind string

// Point kinds.
const (
	Measurand Kind = "measurand" // float measured value (遥测), read by dispatch
	Single    Kind = "single"    // single point (遥信), read by dispatch
	Setpoint  Kind = "setpoint"  // float setpoint (遥调), written by dispatch
	Command   Kind = "command"   // single command (遥控), select-before-execute
)

// Quantities a point can carry, by kind.
var quantities = map[Kind][]string{
	Measurand: {QP, QQ, QU, QF, QSOC, QAvailCharge, QAvailDischarge, QAGCTargetKW, QChargedToday, QDischargedToday},
	Single:    {QRemote, QRunning, QFault, QAGCOn, QEStop, QPFROn},
	Setpoint:  {QAGCTarget, QAVCQTarget, QAVCVTarget},
	Command:   {QAGCEnable, QPlantRun, QPFREnable},
}

// Per-unit quantities, by kind: the quantity names one unit after a
// colon, "unit_p_kw:u1".
var perUnit = map[Kind][]string{
	Measurand: {QUnitP},
	Single:    {QUnitTrip},
}

// Per-unit quantity names.
const (
	QUnitP    = "unit_p_kw" // the unit's active power, kW (+ discharge)
	QUnitTrip = "unit_trip" // the unit is tripped (protection state trip)
)

// UnitQuantity is the quantity name of per-unit quantity q for unit id.
func UnitQuantity(q, id string) string { return q + ":" + id }

// UnitOf returns the unit a per-unit quantity names, or "".
func (p Point) UnitOf() string {
	_, id, _ := strings.Cut(p.Quantity, ":")
	return id
}

// Quantity names.
const (
	QP               = "p_kw"                   // active power at the POI, kW (+ export)
	QQ               = "q_kvar"                 // reactive power at the POI, kvar
	QU               = "v_v"                    // voltage at the POI, V
	QF               = "f_hz"                   // frequency at the POI, Hz
	QSOC             = "soc_pct"                // plant state of charge, %
	QAvailCharge     = "available_charge_kw"    // charge power available now, kW
	QAvailDischarge  = "available_discharge_kw" // discharge power available now, kW
	QAGCTargetKW     = "agc_target_kw"          // AGC target being followed, kW
	QChargedToday    = "charged_today_kwh"      // energy imported at the POI since local midnight, kWh
	QDischargedToday = "discharged_today_kwh"   // energy exported at the POI since local midnight, kWh
	QRemote          = "remote"                 // remote control enabled (远方)
	QRunning         = "running"                // plant in a mode other than standby
	QFault           = "fault"                  // a unit is tripped
	QAGCOn           = "agc_on"                 // AGC mode active
	QEStop           = "estop"                  // emergency stop latched
	QPFROn           = "pfr_on"                 // primary frequency response on
	QAGCTarget       = "agc_target"             // setpoint: AGC target at the POI, kW
	QAVCQTarget      = "avc_q_target"           // setpoint: reactive power at the POI, kvar (reactive mode fixed_q)
	QAVCVTarget      = "avc_v_target"           // setpoint: POI voltage, V (reactive mode voltage)
	QAGCEnable       = "agc_enable"             // command: on = AGC mode, off = standby
	QPlantRun        = "plant_run"              // command: on = reset latched trips and estop, off = standby
	QPFREnable       = "pfr_enable"             // command: primary frequency response on (its parameters in force) or off
)

// Point maps one protocol address to an emsd quantity. On the wire a
// value is the emsd value (in the quantity's unit) times Scale.
type Point struct {
	// IOA is the information object address (1..16777215). Required, unique.
	IOA int `yaml:"ioa"`
	// Type is measurand, single, setpoint or command. Required.
	Type Kind `yaml:"type"`
	// Quantity names the emsd value (see docs/northbound.md). Required.
	Quantity string `yaml:"quantity"`
	// Unit names the unit on the wire, for the table and the operator.
	Unit string `yaml:"unit"`
	// Scale multiplies the emsd value into the wire value. Default 1.
	Scale float64 `yaml:"scale"`
	// Deadband is the change, in wire units, that a measurand must make
	// to be sent spontaneously. Default 0: every change.
	Deadband float64 `yaml:"deadband"`
}

// DefaultPoints is the points table in effect when the configuration
// gives none: single points from IOA 1, measurands from 16385 (0x4001),
// commands from 24577 (0x6001), setpoints from 25089 (0x6201); powers in
// MW and Mvar.
func DefaultPoints() []Point {
	return []Point{
		{IOA: 1, Type: Single, Quantity: QRemote, Scale: 1},
		{IOA: 2, Type: Single, Quantity: QRunning, Scale: 1},
		{IOA: 3, Type: Single, Quantity: QFault, Scale: 1},
		{IOA: 4, Type: Single, Quantity: QAGCOn, Scale: 1},
		{IOA: 5, Type: Single, Quantity: QEStop, Scale: 1},
		{IOA: 6, Type: Single, Quantity: QPFROn, Scale: 1},
		{IOA: 16385, Type: Measurand, Quantity: QP, Unit: "MW", Scale: 0.001, Deadband: 0.01},
		{IOA: 16386, Type: Measurand, Quantity: QQ, Unit: "Mvar", Scale: 0.001, Deadband: 0.01},
		{IOA: 16387, Type: Measurand, Quantity: QU, Unit: "kV", Scale: 0.001, Deadband: 0.001},
		{IOA: 16388, Type: Measurand, Quantity: QF, Unit: "Hz", Scale: 1, Deadband: 0.005},
		{IOA: 16389, Type: Measurand, Quantity: QSOC, Unit: "%", Scale: 1, Deadband: 0.5},
		{IOA: 16390, Type: Measurand, Quantity: QAvailCharge, Unit: "MW", Scale: 0.001, Deadband: 0.01},
		{IOA: 16391, Type: Measurand, Quantity: QAvailDischarge, Unit: "MW", Scale: 0.001, Deadband: 0.01},
		{IOA: 16392, Type: Measurand, Quantity: QAGCTargetKW, Unit: "MW", Scale: 0.001, Deadband: 0.001},
		{IOA: 16393, Type: Measurand, Quantity: QChargedToday, Unit: "MWh", Scale: 0.001, Deadband: 0.01},
		{IOA: 16394, Type: Measurand, Quantity: QDischargedToday, Unit: "MWh", Scale: 0.001, Deadband: 0.01},
		{IOA: 24577, Type: Command, Quantity: QAGCEnable, Scale: 1},
		{IOA: 24578, Type: Command, Quantity: QPlantRun, Scale: 1},
		{IOA: 24579, Type: Command, Quantity: QPFREnable, Scale: 1},
		{IOA: 25089, Type: Setpoint, Quantity: QAGCTarget, Unit: "MW", Scale: 0.001},
		{IOA: 25090, Type: Setpoint, Quantity: QAVCQTarget, Unit: "Mvar", Scale: 0.001},
		{IOA: 25091, Type: Setpoint, Quantity: QAVCVTarget, Unit: "kV", Scale: 0.001},
	}
}

// MaxIOA is the largest information object address (three octets).
const MaxIOA = 1<<24 - 1

// PointError is a problem with one entry of a points table.
type PointError struct {
	Index int    // entry in the table
	Field string // yaml key of the entry
	Msg   string
}

func (e *PointError) Error() string { return fmt.Sprintf("[%d].%s: %s", e.Index, e.Field, e.Msg) }

// Check validates a points table and returns one *PointError per problem.
func Check(points []Point) []error {
	var errs []error
	seen := map[int]int{}
	bad := func(i int, field, format string, a ...any) {
		errs = append(errs, &PointError{Index: i, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	for i, p := range points {
		if p.IOA < 1 || p.IOA > MaxIOA {
			bad(i, "ioa", "%d is not in 1..%d", p.IOA, MaxIOA)
		} else if j, dup := seen[p.IOA]; dup {
			bad(i, "ioa", "%d is also entry [%d]", p.IOA, j)
		}
		seen[p.IOA] = i
		qs, ok := quantities[p.Type]
		base, id, isUnit := strings.Cut(p.Quantity, ":")
		switch {
		case !ok:
			bad(i, "type", "%q is not one of measurand, single, setpoint, command", p.Type)
		case isUnit && (id == "" || !slices.Contains(perUnit[p.Type], base)):
			bad(i, "quantity", "%q is not a per-unit %s quantity NAME:UNIT (known: %s)", p.Quantity, p.Type, strings.Join(perUnit[p.Type], ", "))
		case !isUnit && !slices.Contains(qs, p.Quantity):
			known := strings.Join(qs, ", ")
			if pu := perUnit[p.Type]; len(pu) > 0 {
				known += "; per unit NAME:UNIT: " + strings.Join(pu, ", ")
			}
			bad(i, "quantity", "%q is not a %s quantity (known: %s)", p.Quantity, p.Type, known)
		}
		if p.Scale == 0 || math.IsNaN(p.Scale) || math.IsInf(p.Scale, 0) {
			bad(i, "scale", "must be a finite number other than 0")
		}
		if p.Deadband < 0 {
			bad(i, "deadband", "%g is negative", p.Deadband)
		}
	}
	return errs
}

// WithDefaults returns the table with a zero Scale set to 1.
func WithDefaults(points []Point) []Point {
	out := slices.Clone(points)
	for i := range out {
		if out[i].Scale == 0 {
			out[i].Scale = 1
		}
	}
	return out
}

// WriteCSV writes the table as CSV: ioa,type,name,unit,scale.
func WriteCSV(w io.Writer, points []Point) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"ioa", "type", "name", "unit", "scale"})
	for _, p := range points {
		_ = cw.Write([]string{strconv.Itoa(p.IOA), string(p.Type), p.Quantity, p.Unit,
			strconv.FormatFloat(p.Scale, 'g', -1, 64)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteMarkdown writes the table as a Markdown table, for the docs.
func WriteMarkdown(w io.Writer, points []Point) {
	fmt.Fprintln(w, "| ioa | type | quantity | unit | scale | deadband |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, p := range points {
		fmt.Fprintf(w, "| %d | %s | `%s` | %s | %g | %g |\n", p.IOA, p.Type, p.Quantity, p.Unit, p.Scale, p.Deadband)
	}
}
