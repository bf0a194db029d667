package dispatch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emsd/emsd/internal/reactive"
)

// Mode is a base operating mode; exactly one is active.
type Mode string

// Base modes.
const (
	ModeStandby     Mode = "standby"
	ModeManual      Mode = "manual"
	ModeSchedule    Mode = "schedule"
	ModePeakShaving Mode = "peak_shaving"
	ModeAGC         Mode = "agc"
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool {
	switch m {
	case ModeStandby, ModeManual, ModeSchedule, ModePeakShaving, ModeAGC:
		return true
	}
	return false
}

// Command is an operator command. Validate checks it on its own;
// Controller.Apply also checks it against the plant and the current state.
type Command interface {
	Validate() error
	apply(c *Controller) error // applies a valid command; seals the set of commands to this package
}

// SetMode switches the base mode. The new mode starts from the current
// plant output and is ramp limited, so there is no power step.
type SetMode struct {
	Mode Mode `json:"mode"`
}

// ManualSetpoint sets the plant P and Q used in manual mode.
type ManualSetpoint struct {
	P float64 `json:"p"` // kW
	Q float64 `json:"q"` // kvar
}

// SetPeakShaving sets the peak-shaving parameters.
type SetPeakShaving struct {
	PeakParams
}

// PeakParams configure C&I peak shaving on the site meter. POI import is
// -POIP. The battery discharges to keep import at or below ImportLimit and
// recharges (at most RechargeP, up to RechargeSOC) while the site import
// without the battery is below RechargeBelow, without pushing import above
// RechargeBelow. ExportLimit, when set, keeps export at or below it
// (0 = anti-backflow).
type PeakParams struct {
	ImportLimit   float64  `json:"import_limit"`   // kW, >= 0
	RechargeBelow float64  `json:"recharge_below"` // kW, 0..ImportLimit
	RechargeP     float64  `json:"recharge_p"`     // kW, >= 0
	RechargeSOC   float64  `json:"recharge_soc"`   // %
	ExportLimit   *float64 `json:"export_limit,omitempty"`
	// Margin is a guard band below the import limit that the controller
	// aims for, against meter and converter lag on fast load changes, kW.
	Margin float64 `json:"margin,omitempty"`
}

// Validate checks the parameters, naming the offending field.
func (p *PeakParams) Validate() error {
	if err := checkNonNeg("import_limit", p.ImportLimit); err != nil {
		return err
	}
	if err := checkRange("recharge_below", p.RechargeBelow, 0, p.ImportLimit); err != nil {
		return err
	}
	if err := checkRange("margin", p.Margin, 0, p.ImportLimit); err != nil {
		return err
	}
	if err := checkNonNeg("recharge_p", p.RechargeP); err != nil {
		return err
	}
	if err := checkRange("recharge_soc", p.RechargeSOC, 0, 100); err != nil {
		return err
	}
	if p.ExportLimit != nil {
		if err := checkNonNeg("export_limit", *p.ExportLimit); err != nil {
			return err
		}
	}
	return nil
}

// AGCTarget sets the plant target at the POI for AGC mode. A target that
// differs from the current one by less than the AGC dead band is ignored
// and Apply returns ErrWithinDeadBand.
type AGCTarget struct {
	P float64 `json:"p"` // kW at the POI
}

// ErrWithinDeadBand is returned for an AGC target inside the command dead band.
var ErrWithinDeadBand = errors.New("agc target ignored: change is within the command dead band")

// SetAGCParams sets the AGC tracking parameters.
type SetAGCParams struct {
	AGCParams
}

// AGCParams configure AGC tracking.
type AGCParams struct {
	RampRate      float64 `json:"ramp_rate"`      // MW/min, > 0
	DeadBand      float64 `json:"dead_band"`      // kW, >= 0
	Ki            float64 `json:"ki"`             // integral gain, 1/s, 0..2
	IntegralLimit float64 `json:"integral_limit"` // kW, anti-windup clamp of the trim
}

func (p *AGCParams) validate(ratedP float64) error {
	if err := checkPositive("ramp_rate", p.RampRate); err != nil {
		return err
	}
	if err := checkNonNeg("dead_band", p.DeadBand); err != nil {
		return err
	}
	if ratedP > 0 && p.DeadBand > 0.1*ratedP {
		return fieldError("dead_band", "%g kW exceeds 10 %% of rated power", p.DeadBand)
	}
	if err := checkRange("ki", p.Ki, 0, 2); err != nil {
		return err
	}
	if err := checkNonNeg("integral_limit", p.IntegralLimit); err != nil {
		return err
	}
	if ratedP > 0 && p.IntegralLimit > 0.5*ratedP {
		return fieldError("integral_limit", "%g kW exceeds 50 %% of rated power", p.IntegralLimit)
	}
	return nil
}

// Validate checks the parameters on their own.
func (p *AGCParams) Validate() error { return p.validate(0) }

// SetPFR enables or disables primary frequency response and sets its parameters.
type SetPFR struct {
	Enable bool `json:"enable"`
	PFRParams
}

// SetFFR enables or disables fast frequency response and sets its parameters.
type SetFFR struct {
	Enable bool `json:"enable"`
	FFRParams
}

// FFRParams configure fast frequency response: when frequency falls to
// LowTrigger (or rises to HighTrigger) the plant adds Power (discharge, or
// charge for high frequency) for HoldS seconds, then returns the energy it
// moved at no more than RecoveryP. A trigger of 0 disables that side.
type FFRParams struct {
	LowTrigger  float64 `json:"low_trigger"`  // Hz, 0 = off
	HighTrigger float64 `json:"high_trigger"` // Hz, 0 = off
	Power       float64 `json:"power"`        // kW, > 0
	HoldS       float64 `json:"hold_s"`       // s, > 0
	RecoveryP   float64 `json:"recovery_p"`   // kW, > 0
}

// Validate checks the parameters on their own.
func (p *FFRParams) Validate() error { return p.validate(0) }

// validate checks the parameters; a nominal frequency > 0 also requires the
// low trigger below it and the high trigger above it (a trigger on the wrong
// side would fire on a healthy grid).
func (p *FFRParams) validate(nominalF float64) error {
	if p.LowTrigger == 0 && p.HighTrigger == 0 {
		return fieldError("low_trigger", "at least one of low_trigger and high_trigger must be set")
	}
	if p.LowTrigger != 0 {
		if err := checkRange("low_trigger", p.LowTrigger, 45, 59.99); err != nil {
			return err
		}
	}
	if p.HighTrigger != 0 {
		if err := checkRange("high_trigger", p.HighTrigger, 50.01, 65); err != nil {
			return err
		}
	}
	if nominalF > 0 && p.LowTrigger != 0 && p.LowTrigger >= nominalF {
		return fieldError("low_trigger", "%g Hz is not below nominal_f (%g Hz)", p.LowTrigger, nominalF)
	}
	if p.HighTrigger != 0 && p.HighTrigger <= nominalF { // a set trigger is above 50 Hz, so nominalF 0 passes
		return fieldError("high_trigger", "%g Hz is not above nominal_f (%g Hz)", p.HighTrigger, nominalF)
	}
	if p.LowTrigger != 0 && p.HighTrigger != 0 && p.LowTrigger >= p.HighTrigger {
		return fieldError("high_trigger", "must be above low_trigger")
	}
	if err := checkPositive("power", p.Power); err != nil {
		return err
	}
	if err := checkRange("hold_s", p.HoldS, 0.1, 3600); err != nil {
		return err
	}
	return checkPositive("recovery_p", p.RecoveryP)
}

// EStop latches the plant emergency stop: every unit at 0 kW at once
// until Reset.
type EStop struct {
	Reason string `json:"reason,omitempty"`
}

// Reset clears latched trips whose cause has gone, and the emergency stop.
// Unit empty means all units and the plant; otherwise only that unit, which
// must be one the controller has seen in a Step (it never clears the plant
// emergency stop). It acts on the next Step, which reports each clearance or
// refusal as an Event. Clearing the emergency stop leaves the plant in
// standby with a zero manual setpoint: power flows again only on a new
// command.
type Reset struct {
	Unit string `json:"unit,omitempty"`
}

// ErrEStopActive refuses a command other than EStop and Reset while the
// plant emergency stop is latched.
var ErrEStopActive = errors.New("emergency stop active; reset first (only estop and reset are accepted)")

// errResetPending refuses such a command between a plant Reset and the
// Step that clears the emergency stop.
var errResetPending = errors.New("emergency stop active, reset pending: retry after the next control cycle")

// duringEStop refuses every command but EStop and Reset while the plant
// emergency stop is latched, so that nothing held during the stop fires
// when it is reset.
func (c *Controller) duringEStop(cmd Command) error {
	switch cmd.(type) {
	case EStop, Reset:
		return nil
	}
	switch {
	case c.estop && c.resetAll:
		return refuse(commandName(cmd), errResetPending)
	case c.estop:
		return refuse(commandName(cmd), ErrEStopActive)
	}
	return nil
}

// afterEStop is the state a cleared emergency stop leaves: standby, no
// manual setpoint to come back to, and the reactive mode off.
func (c *Controller) afterEStop() {
	if c.mode != ModeStandby {
		c.mode, c.modeChanged = ModeStandby, true
	}
	c.params.manual = ManualSetpoint{}
	c.params.reactive.Mode = reactive.ModeOff
}

// SetUnits tells the controller the ids of the units its Steps will see,
// in Input order, so that a unit Reset can be checked before the first
// Step. A Step with other units replaces them.
func (c *Controller) SetUnits(ids []string) {
	c.grow(len(ids))
	copy(c.ids, ids)
}

// knownUnit refuses a unit id the controller has not seen, naming the ones it has.
func (c *Controller) knownUnit(id string) error {
	for _, u := range c.ids {
		if u == id {
			return nil
		}
	}
	known := strings.Join(c.ids, ", ")
	if known == "" {
		known = "none yet: the control loop has not run"
	}
	return fieldError("unit", "unknown unit %q (known: %s)", id, known)
}

// commandName is the name a refusal gives cmd.
func commandName(cmd Command) string {
	switch cmd.(type) {
	case SetMode:
		return "set_mode"
	case ManualSetpoint:
		return "manual_setpoint"
	case ScheduleUpload:
		return "schedule_upload"
	case SetPeakShaving:
		return "peak_shaving"
	case AGCTarget:
		return "agc_target"
	case SetAGCParams:
		return "agc_params"
	case SetPFR:
		return "pfr"
	case SetFFR:
		return "ffr"
	case SetReactive:
		return "reactive"
	}
	return fmt.Sprintf("%T", cmd)
}

// Validate checks the mode name.
func (c SetMode) Validate() error {
	if !c.Mode.Valid() {
		return fieldError("mode", "unknown mode %q (standby, manual, schedule, peak_shaving, agc)", c.Mode)
	}
	return nil
}

// Validate checks that P and Q are finite.
func (c ManualSetpoint) Validate() error {
	if !finite(c.P) {
		return fieldError("p", "not a finite number")
	}
	if !finite(c.Q) {
		return fieldError("q", "not a finite number")
	}
	return nil
}

// Validate checks that P is finite.
func (c AGCTarget) Validate() error {
	if !finite(c.P) {
		return fieldError("p", "not a finite number")
	}
	return nil
}

// Validate checks the parameters when enabling (plant-dependent limits are
// checked by Apply); disabling needs none.
func (c SetPFR) Validate() error {
	if !c.Enable {
		return nil
	}
	return c.PFRParams.validate(0)
}

// Validate checks the parameters when enabling; disabling needs none.
func (c SetFFR) Validate() error {
	if !c.Enable {
		return nil
	}
	return c.FFRParams.Validate()
}

// Validate always succeeds.
func (EStop) Validate() error { return nil }

// Validate always succeeds.
func (Reset) Validate() error { return nil }

// Validate checks the parameters.
func (c SetPeakShaving) Validate() error { return c.PeakParams.Validate() }

// Validate checks the parameters.
func (c SetAGCParams) Validate() error { return c.AGCParams.Validate() }

// Validate for ScheduleUpload is on the value as well so it satisfies Command.
var _ Command = ScheduleUpload{}

func refuse(cmd string, err error) error { return fmt.Errorf("%s refused: %w", cmd, err) }
