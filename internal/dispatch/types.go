package dispatch

import (
	"time"

	"github.com/emsd/emsd/internal/reactive"
)

// Unit is one PCS with its batteries as seen in this cycle's snapshot.
type Unit struct {
	ID     string  // stable identifier; the order of Input.Units must be stable between cycles
	RatedP float64 // rated active power, kW
	RatedS float64 // rated apparent power, kVA (0 means equal to RatedP)
	P, Q   float64 // measured active (kW) and reactive (kvar) power

	PCSOK     bool // PCS data good (communication ok, fresh)
	PCSFault  bool // PCS reports a fault
	BMSOK     bool // BMS data good (communication ok, fresh)
	BMSAge    time.Duration
	Contactor bool // battery DC contactor closed

	SOC          float64 // %
	ChargeMax    float64 // BMS dynamic charge limit, kW, >= 0
	DischargeMax float64 // BMS dynamic discharge limit, kW, >= 0

	CellVMax, CellVMin float64 // extreme cell voltages, V
	CellTMax, CellTMin float64 // extreme cell temperatures, °C
	AlarmLevel         int     // BMS alarm level 0..3

	// Held marks a unit whose PCS stopped answering but may still run on
	// its last acknowledged setpoint HeldP until its own communication
	// watchdog stops it. It takes no new share, and HeldP counts towards
	// the plant's output, so its power is not ordered twice. A tripped unit
	// or an emergency stop ignores it.
	Held  bool
	HeldP float64 // kW
}

// Input is one consistent snapshot of the plant.
type Input struct {
	Now   time.Time // snapshot time; its time of day (in its location) drives schedules
	F     float64   // grid frequency, Hz
	FOK   bool      // frequency reading good
	POIP  float64   // active power at the point of interconnection, kW (> 0 export)
	POIQ  float64   // reactive power at the POI, kvar
	POIOK bool      // POI meter data good
	V     float64   // POI line voltage, V (the reactive voltage modes)
	VOK   bool      // POI voltage reading good
	Units []Unit
}

// State is a unit's protection state.
type State uint8

// Protection states, in increasing severity.
const (
	StateNormal State = iota // full limits
	StateDerate              // BMS alarm level 1: limits scaled by Config.DerateFactor
	StateLimit               // BMS alarm level 2: stressed direction scaled by Config.LimitFactor
	StateTrip                // 0 kW, latched until Reset
)

var stateNames = [...]string{"normal", "derate", "limit", "trip"}

// String returns the lower-case state name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state by name (for JSON telemetry).
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Cause names why a protection transition happened.
type Cause string

// Causes of protection transitions.
const (
	CauseAlarmCleared Cause = "bms_alarm_cleared"
	CauseAlarm1       Cause = "bms_alarm_1"
	CauseAlarm2       Cause = "bms_alarm_2"
	CauseAlarm3       Cause = "bms_alarm_3"
	CausePCSFault     Cause = "pcs_fault"
	CauseBMSLost      Cause = "bms_data_lost"
	CauseReset        Cause = "operator_reset"
	CauseResetRefused Cause = "reset_refused_cause_present"
	CauseEStop        Cause = "emergency_stop"
	CauseUnitReplaced Cause = "unit_replaced"
)

// PlantID is the Event.Unit of plant-level events such as the emergency stop.
const PlantID = "plant"

// Event is one protection transition.
type Event struct {
	Unit  string    `json:"unit"` // unit ID, or "plant"
	From  State     `json:"from"`
	To    State     `json:"to"`
	Cause Cause     `json:"cause"`
	Time  time.Time `json:"time"`
}

// Constraint identifies a stage of the constraint stack.
type Constraint uint8

// Constraints, in the order they are applied.
const (
	ConstraintNone         Constraint = iota
	ConstraintRated                   // unit rated power
	ConstraintAvailability            // PCS fault/comm loss, BMS data bad, contactor open, trip, estop
	ConstraintProtection              // derate / limit states
	ConstraintBMS                     // BMS dynamic charge/discharge limits
	ConstraintSOC                     // SOC window taper
	ConstraintCell                    // cell voltage and temperature limits
	ConstraintApparent                // P² + Q² ≤ S² with P first: the Q it cut (kvar)
	ConstraintAGCTrim                 // AGC integral trim at its limit: the POI error it could not remove
	ConstraintRamp                    // plant ramp-rate limit on the base mode
	ConstraintReserve                 // headroom reserved for frequency response
	ConstraintPOI                     // POI import/export limits
	ConstraintQPriority               // P² + Q² ≤ S² with Q first: the P that Q took
	numConstraints
)

var constraintNames = [...]string{"none", "rated", "availability", "protection", "bms_limit",
	"soc_window", "cell_limit", "apparent_power", "agc_trim_limit", "ramp", "fr_reserve", "poi_limit", "q_priority"}

// String returns the snake_case constraint name.
func (c Constraint) String() string {
	if int(c) < len(constraintNames) {
		return constraintNames[c]
	}
	return "unknown"
}

// MarshalText encodes the constraint by name (for JSON telemetry).
func (c Constraint) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Report explains one Step: what was asked, what was delivered, and why they differ.
type Report struct {
	Mode      Mode
	Requested float64 // plant P asked by base mode + overlays before any constraint, kW
	Base      float64 // base-mode request before ramp, kW
	PFR       float64 // primary frequency response contribution, kW
	FFR       float64 // fast frequency response contribution, kW
	Target    float64 // plant P handed to the allocator after all plant constraints, kW
	P, Q      float64 // sum of unit setpoints
	QTarget   float64 // plant Q asked by the reactive mode (or the manual setpoint) before any limit, kvar
	// QBinding is what limited Q this cycle.
	QBinding reactive.Binding

	AvailDischarge float64 // sum of unit discharge capacity after all unit constraints, kW
	AvailCharge    float64 // same for charge (>= 0), kW

	// Binding is the constraint that cut the most active power this cycle and
	// Cut is that amount (kW); Cuts holds the cut of every stage (Cuts[ConstraintApparent] is kvar).
	Binding Constraint
	Cut     float64
	Cuts    [numConstraints]float64

	Available, Tripped int  // unit counts
	EStop              bool // plant emergency stop latched

	// Events holds this cycle's protection transitions. It aliases a buffer
	// owned by the Controller and is valid until the next Step.
	Events []Event
}
