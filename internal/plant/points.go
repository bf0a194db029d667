package plant

import (
	"math"
	"strings"

	"github.com/emsd/emsd/internal/procimg"
)

// Kind is the class of device a profile describes.
type Kind string

// Device kinds, as profiles and device names spell them.
const (
	KindPCS   Kind = "pcs"
	KindBMS   Kind = "bms"
	KindMeter Kind = "meter"
)

// Standard point names. Profiles map these to registers; the rest of the
// daemon speaks only these names, in project units and signs (P > 0 is
// discharge to grid). Standards says which kind has which.
const (
	PointP            = "p_kw"
	PointQ            = "q_kvar"
	PointV            = "v_v"
	PointState        = "state"
	PointFault        = "fault"
	PointFaultWord    = "fault_word"
	PointPSet         = "p_set_kw"
	PointQSet         = "q_set_kvar"
	PointRun          = "run"
	PointHeartbeat    = "heartbeat"
	PointAlive        = "alive"
	PointSOC          = "soc_pct"
	PointSOH          = "soh_pct"
	PointI            = "i_a"
	PointCellVMax     = "cell_v_max"
	PointCellVMin     = "cell_v_min"
	PointCellTMax     = "cell_t_max"
	PointCellTMin     = "cell_t_min"
	PointChargeMax    = "p_charge_max_kw"
	PointDischargeMax = "p_discharge_max_kw"
	PointAlarmLevel   = "alarm_level"
	PointAlarmWord    = "alarm_word"
	PointContactor    = "contactor"
	PointF            = "f_hz"
	PointEImport      = "e_import_kwh"
	PointEExport      = "e_export_kwh"
)

// Standard is one standard point of one device kind.
type Standard struct {
	Name string
	Kind Kind
	Unit string // "" for codes, levels and counters
	Doc  string
	// Required points are those without which a device of the kind
	// cannot be run safely: a profile must map them.
	Required bool
	// Write marks a command point emsd writes; the others are read.
	Write bool

	// Exactly one of Meter, PCS and Battery, the one of the point's kind,
	// locates a point the plant view carries; none is set for a point
	// only the device layer uses (bit words, energy counters, commands).
	// The view, /api/state and telemetry carry exactly these points.
	Meter   func(*MeterView) *procimg.Value
	PCS     func(*UnitView) *procimg.Value
	Battery func(*BatteryView) *procimg.Value

	// State is the point's key in /api/state, Field its telemetry field
	// (in the measurement named as its kind, the POI meter's "meter");
	// both are Name when empty.
	State, Field string
	// Int marks an integer code or level. Worst, for such a point,
	// records the interval's highest reading (+1: a fault, an alarm) or
	// its lowest (-1: a contactor that opened) instead of its last.
	Int   bool
	Worst int8
	// Stats also records the interval's mean, min and max, as the fields
	// Field_mean, Field_min and Field_max.
	Stats bool
	// Bounds, if set, derives the point's plausible range from the
	// ratings of its unit; a profile's min and max override it. A value
	// outside is graded invalid and never drives power.
	Bounds func(r Ratings) (lo, hi float64)
	// Enum, for a point whose values are names, is its vocabulary: the
	// point's value is the index of its name. A profile's enum map turns
	// the device's own codes into these names and back.
	Enum []string
}

// Ratings are what the default plausibility bounds of a device's points
// derive from: its unit's rated active and apparent power (0 unknown).
type Ratings struct {
	P, S float64 // kW, kVA
}

// Default plausibility bounds.
var (
	// boundPower: |P| ≤ 1.5 × rated (unbounded when the rating is unknown).
	boundPower = func(r Ratings) (float64, float64) { return symmetric(1.5 * r.P) }
	// boundReactive: |Q| ≤ 1.5 × rated apparent power (active, if none).
	boundReactive = func(r Ratings) (float64, float64) { return symmetric(1.5 * math.Max(r.S, r.P)) }
	boundPct      = fixed(0, 100)
	boundCellV    = fixed(0, 5)     // V: every lithium chemistry
	boundCellT    = fixed(-40, 100) // °C
	boundF        = fixed(45, 65)   // Hz: 50 and 60 Hz grids
	boundLimit    = fixed(0, math.Inf(1))
)

func symmetric(x float64) (float64, float64) {
	if x <= 0 {
		return math.Inf(-1), math.Inf(1)
	}
	return -x, x
}

func fixed(lo, hi float64) func(Ratings) (float64, float64) {
	return func(Ratings) (float64, float64) { return lo, hi }
}

// Range is the point's plausible range for a unit of ratings r: its
// Bounds, the codes of its Enum, or everything.
func (s *Standard) Range(r Ratings) (lo, hi float64) {
	switch {
	case s.Bounds != nil:
		return s.Bounds(r)
	case len(s.Enum) > 0:
		return 0, float64(len(s.Enum) - 1)
	}
	return math.Inf(-1), math.Inf(1)
}

// Run states, the values of the PCS state point: the index of each name
// in RunStates. The codes of emsd's simulated PCS are the first three.
const (
	RunStopped  = 0 // stopped, ready to start
	RunRunning  = 1 // running: delivers its setpoint
	RunFault    = 2 // faulted; a start command may clear it
	RunStarting = 3 // start accepted, not yet delivering
	RunLocal    = 4 // stopped at its local panel
)

// RunStates is the run-state vocabulary of the PCS state point.
var RunStates = []string{"stopped", "running", "fault", "starting", "local"}

// Run commands, the values of the PCS run point.
const (
	RunStop  = 0
	RunStart = 1
)

// RunCommands is the vocabulary of the PCS run point.
var RunCommands = []string{"stop", "start"}

// Delivering reports whether a PCS state value lets the unit deliver
// power: running or starting, or no state point at all. A state that is
// not good (stale, lost, invalid) does not.
func Delivering(state procimg.Value) bool {
	if Absent(state) {
		return true
	}
	return state.Good() && (state.V == RunRunning || state.V == RunStarting)
}

// Standards is the one declaration of the standard points. The profile
// loader, the station's view filling, /api/state, the telemetry schema
// and its accumulation, and the simulator all derive from it; adding a
// point here (and, if control code reads it, its field in the view) is
// all it takes for them to carry it.
var Standards = []Standard{
	{Name: PointP, Kind: KindMeter, Unit: "kW", Doc: "active power, > 0 export", Required: true, Stats: true, Meter: func(m *MeterView) *procimg.Value { return &m.P }},
	{Name: PointQ, Kind: KindMeter, Unit: "kvar", Doc: "reactive power", Meter: func(m *MeterView) *procimg.Value { return &m.Q }},
	{Name: PointF, Kind: KindMeter, Unit: "Hz", Doc: "frequency", Bounds: boundF, Stats: true, Meter: func(m *MeterView) *procimg.Value { return &m.F }},
	{Name: PointV, Kind: KindMeter, Unit: "V", Doc: "voltage", Meter: func(m *MeterView) *procimg.Value { return &m.V }},
	{Name: PointEImport, Kind: KindMeter, Unit: "kWh", Doc: "imported energy"},
	{Name: PointEExport, Kind: KindMeter, Unit: "kWh", Doc: "exported energy"},

	{Name: PointP, Kind: KindPCS, Unit: "kW", Doc: "measured active power, > 0 discharge", Required: true, Bounds: boundPower, PCS: func(u *UnitView) *procimg.Value { return &u.P }},
	{Name: PointQ, Kind: KindPCS, Unit: "kvar", Doc: "measured reactive power", Bounds: boundReactive, PCS: func(u *UnitView) *procimg.Value { return &u.Q }},
	{Name: PointState, Kind: KindPCS, Doc: "PCS run state: 0 stopped, 1 running, 2 fault, 3 starting, 4 local (stopped at its panel)", Int: true, Enum: RunStates, State: "pcs_state", PCS: func(u *UnitView) *procimg.Value { return &u.State }},
	{Name: PointFault, Kind: KindPCS, Doc: "PCS fault code, 0 none (highest in the interval)", Int: true, Worst: +1, State: "pcs_fault", PCS: func(u *UnitView) *procimg.Value { return &u.Fault }},
	{Name: PointFaultWord, Kind: KindPCS, Doc: "fault bits"},
	{Name: PointPSet, Kind: KindPCS, Unit: "kW", Doc: "active power setpoint", Required: true, Write: true},
	{Name: PointQSet, Kind: KindPCS, Unit: "kvar", Doc: "reactive power setpoint", Write: true},
	{Name: PointRun, Kind: KindPCS, Doc: "run command: 1 start, 0 stop", Write: true, Enum: RunCommands},
	{Name: PointHeartbeat, Kind: KindPCS, Doc: "counter the EMS must change within the watchdog time", Write: true},
	{Name: PointAlive, Kind: KindPCS, Doc: "the PCS's own alive counter; going backwards means it restarted"},

	{Name: PointSOC, Kind: KindBMS, Unit: "%", Doc: "state of charge", Required: true, Bounds: boundPct, Battery: func(b *BatteryView) *procimg.Value { return &b.SOC }},
	{Name: PointSOH, Kind: KindBMS, Unit: "%", Doc: "state of health", Bounds: boundPct, Battery: func(b *BatteryView) *procimg.Value { return &b.SOH }},
	{Name: PointV, Kind: KindBMS, Unit: "V", Doc: "DC voltage", Battery: func(b *BatteryView) *procimg.Value { return &b.V }},
	{Name: PointI, Kind: KindBMS, Unit: "A", Doc: "DC current, > 0 discharge", Battery: func(b *BatteryView) *procimg.Value { return &b.I }},
	{Name: PointCellVMax, Kind: KindBMS, Unit: "V", Doc: "highest cell voltage", Bounds: boundCellV, Field: "cell_v_max_v", Battery: func(b *BatteryView) *procimg.Value { return &b.CellVMax }},
	{Name: PointCellVMin, Kind: KindBMS, Unit: "V", Doc: "lowest cell voltage", Bounds: boundCellV, Field: "cell_v_min_v", Battery: func(b *BatteryView) *procimg.Value { return &b.CellVMin }},
	{Name: PointCellTMax, Kind: KindBMS, Unit: "°C", Doc: "highest cell temperature", Bounds: boundCellT, State: "cell_t_max_c", Field: "cell_t_max_c", Battery: func(b *BatteryView) *procimg.Value { return &b.CellTMax }},
	{Name: PointCellTMin, Kind: KindBMS, Unit: "°C", Doc: "lowest cell temperature", Bounds: boundCellT, State: "cell_t_min_c", Field: "cell_t_min_c", Battery: func(b *BatteryView) *procimg.Value { return &b.CellTMin }},
	{Name: PointChargeMax, Kind: KindBMS, Unit: "kW", Doc: "dynamic charge power limit", Required: true, Bounds: boundLimit, State: "charge_max_kw", Field: "charge_max_kw", Battery: func(b *BatteryView) *procimg.Value { return &b.ChargeMax }},
	{Name: PointDischargeMax, Kind: KindBMS, Unit: "kW", Doc: "dynamic discharge power limit", Required: true, Bounds: boundLimit, State: "discharge_max_kw", Field: "discharge_max_kw", Battery: func(b *BatteryView) *procimg.Value { return &b.DischargeMax }},
	{Name: PointAlarmLevel, Kind: KindBMS, Doc: "highest BMS alarm level in the interval: 0 none, 1 warning, 2 alarm, 3 protection", Required: true, Bounds: fixed(0, 3), Int: true, Worst: +1, Battery: func(b *BatteryView) *procimg.Value { return &b.AlarmLevel }},
	{Name: PointAlarmWord, Kind: KindBMS, Doc: "alarm bits"},
	{Name: PointContactor, Kind: KindBMS, Doc: "DC contactor: 1 closed, 0 open (0 if it opened at any time in the interval)", Bounds: fixed(0, 1), Int: true, Worst: -1, Battery: func(b *BatteryView) *procimg.Value { return &b.Contactor }},
}

// Viewed reports whether the plant view carries the point.
func (s *Standard) Viewed() bool { return s.Meter != nil || s.PCS != nil || s.Battery != nil }

// StateKey is the point's key in /api/state.
func (s *Standard) StateKey() string { return orName(s.State, s.Name) }

// FieldName is the point's telemetry field.
func (s *Standard) FieldName() string { return orName(s.Field, s.Name) }

func orName(s, name string) string {
	if s == "" {
		return name
	}
	return s
}

// StandardsOf returns the standard points of kind, in table order.
func StandardsOf(kind Kind) []Standard {
	var out []Standard
	for _, s := range Standards {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// Viewed returns the standard points of kind the plant view carries, in
// table order.
func Viewed(kind Kind) []Standard {
	var out []Standard
	for _, s := range Standards {
		if s.Kind == kind && s.Viewed() {
			out = append(out, s)
		}
	}
	return out
}

// LookupStandard returns the standard point name of kind, if there is one.
func LookupStandard(kind Kind, name string) (Standard, bool) {
	for _, s := range Standards {
		if s.Kind == kind && s.Name == name {
			return s, true
		}
	}
	return Standard{}, false
}

// StandardsMarkdown renders the table as docs/devices.md's list of
// standard points.
func StandardsMarkdown() string {
	var b strings.Builder
	b.WriteString("Generated from `plant.Standards` (internal/plant/points.go); " +
		"`go test ./internal/plant -run DocsStandards -update` rewrites it. " +
		"A profile of a kind must map its required points; emsd writes the `write` points and reads the others. " +
		"The points the plant view carries are shown in `/api/state` under their key and recorded as their telemetry field.\n\n")
	b.WriteString("| kind | point | unit | use | description | `/api/state` key | telemetry field |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for i := range Standards {
		s := &Standards[i]
		use := "read"
		if s.Write {
			use = "write"
		}
		if s.Required {
			use += ", required"
		}
		key, field := "—", "—"
		if s.Viewed() {
			key, field = "`"+s.StateKey()+"`", "`"+string(s.Kind)+"."+s.FieldName()+"`"
		}
		row := []string{string(s.Kind), "`" + s.Name + "`", s.Unit, use, strings.ReplaceAll(s.Doc, "|", `\|`), key, field}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}
