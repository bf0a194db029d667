// Package reactive is the plant's reactive-power and voltage control: the Q
// modes (fixed Q, fixed power factor, Q(U) droop, voltage setpoint), the P/Q
// priority when the units' apparent power binds, and the split of Q across
// units by reactive headroom. Everything here is a pure function of its
// arguments, apart from the voltage loop's integrator, which the caller keeps.
//
// Signs: P > 0 is export (discharge), Q > 0 is capacitive, into the grid,
// and raises the POI voltage; Q < 0 is inductive and lowers it.
package reactive

import (
	"fmt"
	"math"
)

// Mode is a reactive-power mode.
type Mode string

// Reactive modes.
const (
	// ModeOff leaves Q to the active-power base mode (the manual setpoint's Q).
	ModeOff Mode = "off"
	// ModeFixedQ holds the plant at Params.Q.
	ModeFixedQ Mode = "fixed_q"
	// ModePowerFactor holds Q/P at the ratio of Params.PF.
	ModePowerFactor Mode = "power_factor"
	// ModeQU is Q(U) droop around Params.VRef.
	ModeQU Mode = "q_u"
	// ModeVoltage (AVC) integrates Q until the POI voltage is at Params.VRef.
	ModeVoltage Mode = "voltage"
)

// Priority says which of P and Q keeps its request when a unit's
// apparent power binds.
type Priority string

// Priorities.
const (
	PFirst Priority = "p" // P keeps its request; Q gets what S leaves (the default)
	QFirst Priority = "q" // Q keeps its request; P gets what S leaves
)

// Binding names what limited the plant's Q this cycle.
type Binding string

// Bindings.
const (
	BindNone     Binding = "none"
	BindLimit    Binding = "q_limit"         // the mode's q_min / q_max
	BindApparent Binding = "apparent_power"  // the units' S after P (P first) or their S (Q first)
	BindVoltage  Binding = "voltage_unknown" // the voltage modes without a good POI voltage: Q 0
)

// Params configure the reactive mode. Voltages are POI line voltages in V.
type Params struct {
	Mode Mode `json:"mode"`
	// Q is the fixed_q request, kvar.
	Q float64 `json:"q,omitempty"`
	// PF is the power_factor mode's |cos φ| in 0.1..1, signed: > 0 gives Q
	// the sign of P (export with capacitive Q), < 0 the opposite sign.
	PF float64 `json:"pf,omitempty"`
	// VRef is the Q(U) reference voltage and the voltage mode's setpoint, V.
	VRef float64 `json:"v_ref,omitempty"`
	// DeadBand is the voltage band around VRef without action, V.
	DeadBand float64 `json:"dead_band,omitempty"`
	// DroopPct is the Q(U) slope: the voltage deviation beyond the dead
	// band, % of VRef, that asks the full QMax (or QMin).
	DroopPct float64 `json:"droop_pct,omitempty"`
	// TauS is the Q(U) response's first-order time constant, s (0: at
	// once). On a weak grid a Q(U) answered at once chases its own effect
	// on the voltage cycle by cycle; a response of a second or more settles.
	TauS float64 `json:"tau_s,omitempty"`
	// Ki is the voltage mode's integral gain, 1/s: Q moves by
	// Ki·QMax·(VRef − U)/VRef per second outside the dead band.
	Ki float64 `json:"ki,omitempty"`
	// QMax (capacitive, ≥ 0) and QMin (inductive, ≤ 0) bound every mode's
	// request, kvar.
	QMax float64 `json:"q_max"`
	QMin float64 `json:"q_min"`
	// Priority is P first ("p", the default when empty) or Q first ("q").
	Priority Priority `json:"priority,omitempty"`
}

// Validate checks the parameters on their own; ratedQ > 0 also bounds the
// reactive powers to it. The error names the field.
func (p *Params) Validate(ratedQ float64) error {
	switch p.Priority {
	case "", PFirst, QFirst:
	default:
		return fieldErr("priority", "%q is not p or q", p.Priority)
	}
	if err := p.limits(ratedQ); err != nil {
		return err
	}
	switch p.Mode {
	case ModeOff:
		return nil
	case ModeFixedQ:
		if !finite(p.Q) || p.Q > p.QMax || p.Q < p.QMin {
			return fieldErr("q", "%g kvar is outside q_min..q_max (%g..%g)", p.Q, p.QMin, p.QMax)
		}
		return nil
	case ModePowerFactor:
		if !(math.Abs(p.PF) >= 0.1 && math.Abs(p.PF) <= 1) {
			return fieldErr("pf", "|%g| is outside 0.1..1", p.PF)
		}
		return nil
	case ModeQU, ModeVoltage:
		return p.voltageParams()
	}
	return fieldErr("mode", "unknown reactive mode %q (off, fixed_q, power_factor, q_u, voltage)", p.Mode)
}

// limits checks QMax and QMin.
func (p *Params) limits(ratedQ float64) error {
	if !(p.QMax >= 0) || !finite(p.QMax) {
		return fieldErr("q_max", "%g kvar: must be a finite number ≥ 0", p.QMax)
	}
	if !(p.QMin <= 0) || !finite(p.QMin) {
		return fieldErr("q_min", "%g kvar: must be a finite number ≤ 0", p.QMin)
	}
	if ratedQ > 0 && p.QMax > ratedQ {
		return fieldErr("q_max", "%g kvar exceeds the plant rating %g", p.QMax, ratedQ)
	}
	if ratedQ > 0 && -p.QMin > ratedQ {
		return fieldErr("q_min", "%g kvar exceeds the plant rating %g", p.QMin, ratedQ)
	}
	return nil
}

// voltageParams checks the parameters of the two voltage modes.
func (p *Params) voltageParams() error {
	if !(p.VRef >= 100 && p.VRef <= 1e6) {
		return fieldErr("v_ref", "%g V is outside 100..1000000", p.VRef)
	}
	if !(p.DeadBand >= 0 && p.DeadBand <= 0.1*p.VRef) {
		return fieldErr("dead_band", "%g V is outside 0..10 %% of v_ref", p.DeadBand)
	}
	if p.Mode == ModeQU && !(p.DroopPct >= 0.1 && p.DroopPct <= 50) {
		return fieldErr("droop_pct", "%g is outside 0.1..50", p.DroopPct)
	}
	if p.Mode == ModeQU && !(p.TauS >= 0 && p.TauS <= 60) {
		return fieldErr("tau_s", "%g is outside 0..60 s", p.TauS)
	}
	if p.Mode == ModeVoltage && !(p.Ki > 0 && p.Ki <= 100) {
		return fieldErr("ki", "%g is outside 0 (excluded)..100 /s", p.Ki)
	}
	return nil
}

// FieldError is a refused parameter.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
