package dispatch

import (
	"math"
	"time"
)

// tripCause returns why unit u must trip now, or "" if nothing does.
// A stale alarm level 3 or fault flag still trips: failing safe wins.
func tripCause(u *Unit, bmsTimeout time.Duration) Cause {
	switch {
	case u.PCSFault:
		return CausePCSFault
	case u.AlarmLevel >= 3:
		return CauseAlarm3
	case !u.BMSOK && u.BMSAge > bmsTimeout:
		return CauseBMSLost
	}
	return ""
}

// levelState maps a BMS alarm level below 3 to a protection state.
func levelState(alarm int) (State, Cause) {
	switch {
	case alarm >= 2:
		return StateLimit, CauseAlarm2
	case alarm == 1:
		return StateDerate, CauseAlarm1
	}
	return StateNormal, CauseAlarmCleared
}

// NextState is the per-unit protection state machine. From normal, derate
// or limit the state follows the BMS alarm level (0, 1, 2) both ways; alarm
// level 3, a PCS fault or BMS data bad for longer than bmsTimeout trip the
// unit. Trip is latched: only reset clears it, and only once no trip cause
// remains (otherwise it returns StateTrip with CauseResetRefused). While BMS
// data is bad but younger than bmsTimeout the state is held. changed reports
// whether an Event should be emitted.
func NextState(cur State, u *Unit, bmsTimeout time.Duration, reset bool) (next State, cause Cause, changed bool) {
	tc := tripCause(u, bmsTimeout)
	if cur == StateTrip {
		if !reset {
			return StateTrip, "", false
		}
		if tc != "" {
			return StateTrip, CauseResetRefused, true
		}
		if !u.BMSOK {
			return StateNormal, CauseReset, true
		}
		s, _ := levelState(u.AlarmLevel)
		return s, CauseReset, true
	}
	if tc != "" {
		return StateTrip, tc, true
	}
	if !u.BMSOK {
		return cur, "", false
	}
	s, c := levelState(u.AlarmLevel)
	if s == cur {
		return cur, "", false
	}
	return s, c, true
}

// Stages of the per-unit limit computation, in order.
const (
	stageRated = iota
	stageAvail
	stageProt
	stageBMS
	stageSOC
	stageCell
	numStages
)

var stageConstraint = [numStages]Constraint{ConstraintRated, ConstraintAvailability,
	ConstraintProtection, ConstraintBMS, ConstraintSOC, ConstraintCell}

// direction indexes the two sides of a capacity.
type direction uint8

const (
	discharge direction = iota // P > 0
	charge                     // P < 0
)

// directionOf is the direction of power p: charge below 0, else discharge.
func directionOf(p float64) direction {
	if math.Signbit(p) { // -0 reads as charge: with no power, either side cuts 0
		return charge
	}
	return discharge
}

// capacity is the power available in each direction, kW (both >= 0).
type capacity [2]float64

// sides returns the discharge and charge capacity.
func (c capacity) sides() (d, ch float64) { return c[discharge], c[charge] }

// limits holds a unit's (or, summed, the plant's) capacity after each stage.
type limits [numStages]capacity

// final is the capacity after the last stage: what the allocator may use.
func (l *limits) final() capacity { return l[numStages-1] }

// add adds o to l stage by stage.
func (l *limits) add(o *limits) {
	for k := range l {
		l[k][discharge] += o[k][discharge]
		l[k][charge] += o[k][charge]
	}
}

// taperDown is 0 at or above hard, 1 at or below soft, linear between (soft < hard).
func taperDown(x, soft, hard float64) float64 {
	if x >= hard {
		return 0
	}
	return min((hard-x)/(hard-soft), 1) // also 1 for soft == hard
}

// taperUp is 0 at or below hard, 1 at or above soft, linear between (hard < soft).
func taperUp(x, soft, hard float64) float64 {
	if x <= hard {
		return 0
	}
	return min((x-hard)/(soft-hard), 1) // also 1 for soft == hard
}

// unitFinite reports whether every rating and reading the limits use is finite.
func unitFinite(u *Unit) bool {
	for _, v := range [...]float64{u.RatedP, u.RatedS, u.SOC, u.ChargeMax, u.DischargeMax,
		u.CellVMax, u.CellVMin, u.CellTMax, u.CellTMin} {
		if !finite(v) {
			return false
		}
	}
	return true
}

// available reports whether a unit may take part in the split at all.
func available(u *Unit, st State, estop bool) bool {
	return !estop && st != StateTrip && u.PCSOK && u.BMSOK && u.Contactor && u.RatedP > 0 && unitFinite(u)
}

// unitS is the unit's apparent-power rating.
func unitS(u *Unit) float64 {
	if u.RatedS > 0 {
		return u.RatedS
	}
	return u.RatedP
}

// computeLimits runs the unit part of the constraint stack.
func computeLimits(u *Unit, st State, avail bool, cfg *Config, l *limits) {
	r := 0.0
	if unitFinite(u) {
		r = max(min(u.RatedP, unitS(u)), 0)
	}
	d, c := r, r
	l[stageRated] = capacity{discharge: d, charge: c}
	if !avail {
		for k := stageAvail; k < numStages; k++ {
			l[k] = capacity{}
		}
		return
	}
	l[stageAvail] = capacity{discharge: d, charge: c}

	switch st {
	case StateDerate:
		d *= cfg.DerateFactor
		c *= cfg.DerateFactor
	case StateLimit:
		cs := u.CellVMax >= cfg.CellVHighSoft || u.SOC >= cfg.SOCSoftMax || u.CellTMin <= cfg.TempLowSoft
		ds := u.CellVMin <= cfg.CellVLowSoft || u.SOC <= cfg.SOCSoftMin
		if !cs && !ds { // stress direction unknown (e.g. temperature): limit both
			cs, ds = true, true
		}
		fd, fc := cfg.DerateFactor, cfg.DerateFactor
		if ds {
			fd = cfg.LimitFactor
		}
		if cs {
			fc = cfg.LimitFactor
		}
		d *= fd
		c *= fc
	}
	l[stageProt] = capacity{discharge: d, charge: c}

	d = min(d, max(u.DischargeMax, 0))
	c = min(c, max(u.ChargeMax, 0))
	l[stageBMS] = capacity{discharge: d, charge: c}

	d *= taperUp(u.SOC, cfg.SOCSoftMin, cfg.SOCMin)
	c *= taperDown(u.SOC, cfg.SOCSoftMax, cfg.SOCMax)
	l[stageSOC] = capacity{discharge: d, charge: c}

	hot := taperDown(u.CellTMax, cfg.TempHighSoft, cfg.TempHighHard)
	d *= taperUp(u.CellVMin, cfg.CellVLowSoft, cfg.CellVLowHard) * hot
	c *= taperDown(u.CellVMax, cfg.CellVHighSoft, cfg.CellVHighHard) * hot *
		taperUp(u.CellTMin, cfg.TempLowSoft, cfg.TempLowHard)
	l[stageCell] = capacity{discharge: d, charge: c}
}

// UnitLimits returns a unit's available discharge and charge power (both
// >= 0, kW) after rating, availability, protection state, BMS dynamic
// limits, SOC window and cell limits under cfg.
func UnitLimits(u *Unit, st State, cfg *Config) (discharge, charge float64) {
	var l limits
	computeLimits(u, st, available(u, st, false), cfg, &l)
	return l.final().sides()
}
