package record

import (
	"fmt"
	"strings"

	"github.com/emsd/emsd/internal/plant"
)

// Type is an InfluxDB field type. A field keeps one type for ever: InfluxDB
// refuses points whose field type conflicts with the stored one.
type Type string

// Field types.
const (
	Float   Type = "float"
	Integer Type = "integer"
	String  Type = "string"
	Boolean Type = "boolean"
)

// Agg is how the readings of one interval are decimated to one value.
type Agg uint8

// Decimations.
const (
	// Last is the last good reading of the interval (the default).
	Last Agg = iota
	// Mean is the mean of the good readings, one per control cycle.
	Mean
	// Min is the smallest good reading.
	Min
	// Max is the largest good reading.
	Max
	// Sampled marks a value that is not decimated: a state or count of the
	// interval's last cycle, a string, or a value read once at flush time
	// (device health, protection states, acknowledged setpoints).
	Sampled
)

var aggNames = [...]string{"last", "mean", "min", "max", "sampled"}

// String returns the decimation's name.
func (a Agg) String() string {
	if int(a) < len(aggNames) {
		return aggNames[a]
	}
	return fmt.Sprintf("Agg(%d)", int(a))
}

// ParseAgg parses "last", "mean", "min" or "max".
func ParseAgg(s string) (Agg, error) {
	for i, n := range aggNames[:Sampled] {
		if n == s {
			return Agg(i), nil
		}
	}
	return 0, fmt.Errorf("unknown decimation %q (last, mean, min, max)", s)
}

// Field is one declared field of a measurement.
type Field struct {
	Name string
	Type Type
	Unit string // "" for dimensionless values and strings
	// Agg is the default decimation. Fixed fields (such as f_hz_min) always
	// use it; the others may be overridden by Options.Decimation.
	Agg   Agg
	Fixed bool
	Desc  string
}

// Configurable reports whether the field's decimation may be overridden.
func (f *Field) Configurable() bool { return f.Type == Float && f.Agg != Sampled && !f.Fixed }

// Measurement is one declared measurement.
type Measurement struct {
	Name   string
	Desc   string
	Tags   []string
	Fields []Field
}

// Field returns the named field, or nil.
func (m *Measurement) Field(name string) *Field {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			return &m.Fields[i]
		}
	}
	return nil
}

// HasTag reports whether the measurement has the tag key.
func (m *Measurement) HasTag(key string) bool {
	for _, t := range m.Tags {
		if t == key {
			return true
		}
	}
	return false
}

// Schema is the set of measurements emsd writes.
type Schema []Measurement

// Measurement returns the named measurement, or nil.
func (s Schema) Measurement(name string) *Measurement {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

// Measurement names.
const (
	MPlant  = "plant"
	MMeter  = "meter"
	MPCS    = "pcs"
	MBMS    = "bms"
	MDevice = "device"
	MEvent  = "event"
)

// Event kinds (the kind tag of the event measurement).
const (
	KindProtection = "protection" // a unit's protection state changed
	KindMode       = "mode"       // the base mode changed
	KindCommand    = "command"    // an operator command was accepted or refused
	KindComm       = "comm"       // a device's communication state changed
	KindPCS        = "pcs"        // a unit's PCS restarted, does not run, or runs again
)

func f(name string, t Type, unit string, agg Agg, desc string) Field {
	return Field{Name: name, Type: t, Unit: unit, Agg: agg, Desc: desc}
}

func fixed(name, unit string, agg Agg, desc string) Field {
	return Field{Name: name, Type: Float, Unit: unit, Agg: agg, Fixed: true, Desc: desc}
}

// Default is the schema emsd writes. Signs: P > 0 is discharge (export),
// P < 0 charge (import).
var Default = Schema{
	{
		Name: MPlant, Desc: "one point per interval for the whole plant", Tags: []string{"site"},
		Fields: []Field{
			f("p_kw", Float, "kW", Last, "active power at the POI meter, > 0 export"),
			f("q_kvar", Float, "kvar", Last, "reactive power at the POI meter"),
			f("f_hz", Float, "Hz", Last, "grid frequency at the POI meter"),
			f("units_p_kw", Float, "kW", Last, "sum of measured unit active power (units with a good reading)"),
			f("soc_pct", Float, "%", Last, "capacity-weighted SOC of the batteries with a good SOC reading"),
			f("energy_kwh", Float, "kWh", Last, "stored energy (SOC × capacity) of the batteries with a good SOC reading"),
			f("capacity_kwh", Float, "kWh", Last, "rated capacity of the batteries with a good SOC reading"),
			f("mode", String, "", Sampled, "active base mode: standby, manual, schedule, peak_shaving, agc (last cycle)"),
			f("requested_kw", Float, "kW", Last, "plant P asked by base mode and overlays before any constraint"),
			f("base_kw", Float, "kW", Last, "base-mode request before the ramp limit"),
			f("pfr_kw", Float, "kW", Last, "primary frequency response contribution"),
			f("ffr_kw", Float, "kW", Last, "fast frequency response contribution"),
			f("target_kw", Float, "kW", Last, "plant P handed to the allocator after all plant constraints"),
			f("setpoint_p_kw", Float, "kW", Last, "sum of unit P setpoints"),
			f("setpoint_q_kvar", Float, "kvar", Last, "sum of unit Q setpoints"),
			f("avail_discharge_kw", Float, "kW", Last, "discharge capacity after all unit constraints"),
			f("avail_charge_kw", Float, "kW", Last, "charge capacity after all unit constraints, >= 0"),
			f("binding", String, "", Sampled, "constraint that cut the most active power in the last cycle (none, rated, availability, protection, bms_limit, soc_window, cell_limit, apparent_power, agc_trim_limit, ramp, fr_reserve, poi_limit, q_priority)"),
			f("cut_kw", Float, "kW", Last, "active power cut by the binding constraint"),
			f("q_target_kvar", Float, "kvar", Last, "plant Q asked by the reactive mode (or the manual setpoint) before any limit"),
			f("q_binding", String, "", Sampled, "what limited Q in the last cycle (none, q_limit, apparent_power, voltage_unknown)"),
			f("available_units", Integer, "", Sampled, "units available to dispatch (last cycle)"),
			f("tripped_units", Integer, "", Sampled, "units in protection trip (last cycle)"),
			f("estop", Boolean, "", Sampled, "plant emergency stop latched (last cycle)"),
			f("cycles", Integer, "", Sampled, "control cycles observed in the interval"),
			f("devices_online", Integer, "", Sampled, "devices whose communication state is online"),
			f("devices", Integer, "", Sampled, "devices configured"),
		},
	},
	{
		Name: MMeter, Desc: "the POI meter, one point per interval", Tags: []string{"site", "device"},
		Fields: append(points(plant.KindMeter),
			f("quality", String, "", Sampled, "worst quality of the meter's readings in the interval: good, stale, lost, invalid, refused"),
		),
	},
	{
		Name: MPCS, Desc: "one point per unit (PCS) per interval", Tags: []string{"site", "unit"},
		Fields: append(points(plant.KindPCS),
			f("setpoint_p_kw", Float, "kW", Sampled, "last active power setpoint the PCS acknowledged"),
			f("setpoint_q_kvar", Float, "kvar", Sampled, "last reactive power setpoint the PCS acknowledged"),
			f("protection", String, "", Sampled, "protection state: normal, derate, limit, trip"),
			f("quality", String, "", Sampled, "worst quality of the PCS's readings in the interval: good, stale, lost, invalid, refused"),
		),
	},
	{
		Name: MBMS, Desc: "one point per battery (BMS) per interval; bms is the battery's index within its unit", Tags: []string{"site", "unit", "bms"},
		Fields: append(points(plant.KindBMS),
			f("quality", String, "", Sampled, "worst quality of the BMS's readings in the interval: good, stale, lost, invalid, refused"),
		),
	},
	{
		Name: MDevice, Desc: "communication health of every device, one point per interval (when device health is wired)", Tags: []string{"site", "device"},
		Fields: []Field{
			f("state", String, "", Sampled, "communication state: online, stale, lost"),
			f("connected", Boolean, "", Sampled, "the device holds a connection"),
			f("reads", Integer, "", Sampled, "successful reads since start (counter)"),
			f("writes", Integer, "", Sampled, "successful writes since start (counter)"),
			f("errors", Integer, "", Sampled, "failed transactions and dials since start (counter)"),
			f("reconnects", Integer, "", Sampled, "connections made after the first (counter)"),
			f("overruns", Integer, "", Sampled, "reads started more than one period late (counter)"),
			f("last_ok_age_s", Float, "s", Sampled, "time since the last successful transaction"),
			f("latency_ms_mean", Float, "ms", Sampled, "mean duration of successful transactions in the interval (when transactions are observed)"),
			f("latency_ms_max", Float, "ms", Sampled, "longest successful transaction in the interval"),
		},
	},
	{
		Name: MEvent, Desc: "one point per event, written when it happens; kind is protection, mode, command, comm or pcs; unit is a unit ID, \"plant\", or the device name for comm events", Tags: []string{"site", "unit", "kind"},
		Fields: []Field{
			f("from_state", String, "", Sampled, "state before: protection state, mode, or communication state"),
			f("to_state", String, "", Sampled, "state after; for commands the result (ok, refused, invalid, …)"),
			f("cause", String, "", Sampled, "protection cause (e.g. bms_alarm_3), the command name, or the PCS event (pcs_restart, pcs_not_running, pcs_running)"),
			f("message", String, "", Sampled, "human-readable detail: a command's refusal reason or payload, a device's last error"),
			f("source", String, "", Sampled, "who caused it: command transport and client"),
		},
	},
}

// points are the fields of the standard points of kind the view carries,
// in the order of plant.Standards.
func points(kind plant.Kind) []Field {
	var out []Field
	for _, s := range plant.Viewed(kind) {
		out = append(out, pointFields(&s)...)
	}
	return out
}

// pointFields are the fields of one standard point: a float by default,
// its decimation configurable; a fixed integer for a code or level, its
// highest or lowest reading where the point says which way is worse; and
// for a point with Stats, its mean, min and max besides.
func pointFields(s *plant.Standard) []Field {
	name := s.FieldName()
	if s.Int {
		agg := Last
		if s.Worst > 0 {
			agg = Max
		} else if s.Worst < 0 {
			agg = Min
		}
		return []Field{{Name: name, Type: Integer, Unit: s.Unit, Agg: agg, Fixed: true, Desc: s.Doc}}
	}
	out := []Field{f(name, Float, s.Unit, Last, s.Doc)}
	if s.Stats {
		what, _, _ := strings.Cut(s.Doc, ",")
		out = append(out,
			fixed(name+"_mean", s.Unit, Mean, "mean "+what+" over the interval"),
			fixed(name+"_min", s.Unit, Min, "lowest "+what+" in the interval"),
			fixed(name+"_max", s.Unit, Max, "highest "+what+" in the interval"))
	}
	return out
}
