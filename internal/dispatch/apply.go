package dispatch

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Apply validates cmd and applies it. It refuses (returns an error, changes
// nothing) any command that is invalid on its own or for this plant; it
// never clamps silently. now is the time the command takes effect.
func (c *Controller) Apply(cmd Command, now time.Time) error {
	cmd = deref(cmd)
	if cmd == nil {
		return errors.New("nil command refused")
	}
	if err := cmd.Validate(); err != nil {
		return refuse(fmt.Sprintf("%T", cmd), err)
	}
	if err := c.duringEStop(cmd); err != nil {
		return err
	}
	return cmd.apply(c)
}

// withinRated refuses a power v above the plant's rated power.
func (c *Controller) withinRated(name string, v float64) error {
	if rated := c.cfg.RatedP; math.Abs(v) > rated {
		return fieldError(name, "|%g| exceeds plant rated power %g kW", v, rated)
	}
	return nil
}

// apply switches the base mode; schedule mode needs a schedule.
func (x SetMode) apply(c *Controller) error {
	if x.Mode == ModeSchedule && c.params.sched == nil {
		return refuse("set_mode", errors.New("mode: no schedule uploaded"))
	}
	if x.Mode != c.mode {
		c.mode = x.Mode
		c.modeChanged = true
	}
	return nil
}

// apply sets the manual-mode P and Q.
func (x ManualSetpoint) apply(c *Controller) error {
	if err := c.withinRated("p", x.P); err != nil {
		return refuse("manual_setpoint", err)
	}
	if err := c.withinRated("q", x.Q); err != nil {
		return refuse("manual_setpoint", err)
	}
	c.params.manual = x
	return nil
}

// apply replaces the schedule with one the plant can deliver.
func (x ScheduleUpload) apply(c *Controller) error {
	s, err := x.compile()
	if rated := c.cfg.RatedP; err == nil && s.maxAbsP() > rated {
		err = fieldError("p", "plan asks %g kW, above plant rated power %g kW", s.maxAbsP(), rated)
	}
	if err != nil {
		return refuse("schedule_upload", err)
	}
	c.params.sched = s
	return nil
}

// apply sets the peak-shaving parameters (keeping its own copy of ExportLimit).
func (x SetPeakShaving) apply(c *Controller) error {
	if err := c.withinRated("recharge_p", x.RechargeP); err != nil {
		return refuse("peak_shaving", err)
	}
	c.params.peak = x.PeakParams
	if x.ExportLimit != nil {
		v := *x.ExportLimit
		c.params.peak.ExportLimit = &v
	}
	return nil
}

// apply sets the AGC target unless it moves less than the dead band.
func (x AGCTarget) apply(c *Controller) error {
	if err := c.withinRated("p", x.P); err != nil {
		return refuse("agc_target", err)
	}
	if c.agc.targetSet && math.Abs(x.P-c.agc.target) < c.params.agc.DeadBand {
		return ErrWithinDeadBand
	}
	c.agc.target, c.agc.targetSet = x.P, true
	return nil
}

// apply sets the AGC parameters.
func (x SetAGCParams) apply(c *Controller) error {
	if err := x.validate(c.cfg.RatedP); err != nil {
		return refuse("agc_params", err)
	}
	c.params.agc = x.AGCParams
	// A lowered limit holds from the next cycle, whatever the error does.
	c.agc.integ = clamp(c.agc.integ, -x.IntegralLimit, x.IntegralLimit)
	return nil
}

// apply enables (with new parameters) or disables PFR.
func (x SetPFR) apply(c *Controller) error {
	if x.Enable {
		if err := x.validate(c.cfg.RatedP); err != nil {
			return refuse("pfr", err)
		}
		c.params.pfr = x.PFRParams
	}
	c.params.pfrOn = x.Enable
	return nil
}

// apply enables (with new parameters) or disables FFR.
func (x SetFFR) apply(c *Controller) error {
	if x.Enable {
		if err := x.validate(c.cfg.NominalF); err != nil {
			return refuse("ffr", err)
		}
		if err := c.withinRated("power", x.Power); err != nil {
			return refuse("ffr", err)
		}
		if err := c.withinRated("recovery_p", x.RecoveryP); err != nil {
			return refuse("ffr", err)
		}
		c.params.ffr = x.FFRParams
	}
	c.params.ffrOn = x.Enable
	return nil
}

// apply latches the emergency stop; the next Step reports it.
func (EStop) apply(c *Controller) error {
	if !c.estop {
		c.estop, c.estopNew = true, true
	}
	return nil
}

// apply asks the next Step to clear the latches of one unit, or of all
// units and the plant.
func (x Reset) apply(c *Controller) error {
	if x.Unit == "" {
		c.resetAll = true
		return nil
	}
	if err := c.knownUnit(x.Unit); err != nil {
		return refuse("reset", err)
	}
	c.resetIDs = append(c.resetIDs, x.Unit)
	return nil
}
