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
	switch x := cmd.(type) {
	case SetMode:
		return c.setMode(x)
	case ManualSetpoint:
		return c.setManual(x)
	case ScheduleUpload:
		return c.uploadSchedule(x)
	case SetPeakShaving:
		return c.setPeak(x)
	case AGCTarget:
		return c.setAGCTarget(x)
	case SetAGCParams:
		return c.setAGC(x)
	case SetPFR:
		return c.setPFR(x)
	case SetFFR:
		return c.setFFR(x)
	case EStop:
		c.setEStop()
		return nil
	case Reset:
		return c.reset(x)
	}
	return fmt.Errorf("unknown command %T refused", cmd)
}

// withinRated refuses a power v above the plant's rated power.
func (c *Controller) withinRated(name string, v float64) error {
	if rated := c.cfg.RatedP; math.Abs(v) > rated {
		return fieldError(name, "|%g| exceeds plant rated power %g kW", v, rated)
	}
	return nil
}

func (c *Controller) setMode(x SetMode) error {
	if x.Mode == ModeSchedule && c.params.sched == nil {
		return refuse("set_mode", errors.New("mode: no schedule uploaded"))
	}
	if x.Mode != c.mode {
		c.mode = x.Mode
		c.modeChanged = true
	}
	return nil
}

func (c *Controller) setManual(x ManualSetpoint) error {
	if err := c.withinRated("p", x.P); err != nil {
		return refuse("manual_setpoint", err)
	}
	if err := c.withinRated("q", x.Q); err != nil {
		return refuse("manual_setpoint", err)
	}
	c.params.manual = x
	return nil
}

func (c *Controller) uploadSchedule(x ScheduleUpload) error {
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

func (c *Controller) setPeak(x SetPeakShaving) error {
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

// setAGCTarget sets the AGC target unless it moves less than the dead band.
func (c *Controller) setAGCTarget(x AGCTarget) error {
	if err := c.withinRated("p", x.P); err != nil {
		return refuse("agc_target", err)
	}
	if c.agc.targetSet && math.Abs(x.P-c.agc.target) < c.params.agc.DeadBand {
		return ErrWithinDeadBand
	}
	c.agc.target, c.agc.targetSet = x.P, true
	return nil
}

func (c *Controller) setAGC(x SetAGCParams) error {
	if err := x.validate(c.cfg.RatedP); err != nil {
		return refuse("agc_params", err)
	}
	c.params.agc = x.AGCParams
	return nil
}

// setPFR enables (with new parameters) or disables PFR.
func (c *Controller) setPFR(x SetPFR) error {
	if x.Enable {
		if err := x.validate(c.cfg.RatedP); err != nil {
			return refuse("pfr", err)
		}
		c.params.pfr = x.PFRParams
	}
	c.params.pfrOn = x.Enable
	return nil
}

// setFFR enables (with new parameters) or disables FFR.
func (c *Controller) setFFR(x SetFFR) error {
	if x.Enable {
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

// setEStop latches the emergency stop; the next Step reports it.
func (c *Controller) setEStop() {
	if !c.estop {
		c.estop, c.estopNew = true, true
	}
}

// reset asks the next Step to clear the latches of one unit, or of all
// units and the plant.
func (c *Controller) reset(x Reset) error {
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

// deref turns a pointer to a command into the command value (nil for a nil pointer).
func deref(cmd Command) Command {
	switch p := cmd.(type) {
	case *SetMode:
		return derefOf(p)
	case *ManualSetpoint:
		return derefOf(p)
	case *ScheduleUpload:
		return derefOf(p)
	case *SetPeakShaving:
		return derefOf(p)
	case *AGCTarget:
		return derefOf(p)
	case *SetAGCParams:
		return derefOf(p)
	case *SetPFR:
		return derefOf(p)
	case *SetFFR:
		return derefOf(p)
	case *EStop:
		return derefOf(p)
	case *Reset:
		return derefOf(p)
	}
	return cmd
}

func derefOf[T Command](p *T) Command {
	if p == nil {
		return nil
	}
	return *p
}
