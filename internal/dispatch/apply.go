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
	rated := c.cfg.RatedP
	within := func(name string, v float64) error {
		if math.Abs(v) > rated {
			return fieldError(name, "|%g| exceeds plant rated power %g kW", v, rated)
		}
		return nil
	}
	switch x := cmd.(type) {
	case SetMode:
		if x.Mode == ModeSchedule && c.params.sched == nil {
			return refuse("set_mode", errors.New("mode: no schedule uploaded"))
		}
		if x.Mode != c.mode {
			c.mode = x.Mode
			c.modeChanged = true
		}
	case ManualSetpoint:
		if err := within("p", x.P); err != nil {
			return refuse("manual_setpoint", err)
		}
		if err := within("q", x.Q); err != nil {
			return refuse("manual_setpoint", err)
		}
		c.params.manual = x
	case ScheduleUpload:
		s, err := x.compile()
		if err == nil && s.maxAbsP() > rated {
			err = fieldError("p", "plan asks %g kW, above plant rated power %g kW", s.maxAbsP(), rated)
		}
		if err != nil {
			return refuse("schedule_upload", err)
		}
		c.params.sched = s
	case SetPeakShaving:
		if err := within("recharge_p", x.RechargeP); err != nil {
			return refuse("peak_shaving", err)
		}
		c.params.peak = x.PeakParams
		if x.ExportLimit != nil {
			v := *x.ExportLimit
			c.params.peak.ExportLimit = &v
		}
	case AGCTarget:
		if err := within("p", x.P); err != nil {
			return refuse("agc_target", err)
		}
		if c.agc.targetSet && math.Abs(x.P-c.agc.target) < c.params.agc.DeadBand {
			return ErrWithinDeadBand
		}
		c.agc.target, c.agc.targetSet = x.P, true
	case SetAGCParams:
		if err := x.validate(rated); err != nil {
			return refuse("agc_params", err)
		}
		c.params.agc = x.AGCParams
	case SetPFR:
		if x.Enable {
			if err := x.validate(rated); err != nil {
				return refuse("pfr", err)
			}
			c.params.pfr = x.PFRParams
		}
		c.params.pfrOn = x.Enable
	case SetFFR:
		if x.Enable {
			if err := within("power", x.Power); err != nil {
				return refuse("ffr", err)
			}
			if err := within("recovery_p", x.RecoveryP); err != nil {
				return refuse("ffr", err)
			}
			c.params.ffr = x.FFRParams
		}
		c.params.ffrOn = x.Enable
	case EStop:
		if !c.estop {
			c.estop, c.estopNew = true, true
		}
	case Reset:
		if x.Unit == "" {
			c.resetAll = true
		} else {
			if err := c.knownUnit(x.Unit); err != nil {
				return refuse("reset", err)
			}
			c.resetIDs = append(c.resetIDs, x.Unit)
		}
	default:
		return fmt.Errorf("unknown command %T refused", cmd)
	}
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
