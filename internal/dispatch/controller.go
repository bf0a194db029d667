package dispatch

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Controller holds all dispatch state between cycles: the active mode and
// its parameters, ramp and integrator states, protection latches, timers and
// reusable buffers. It is not safe for concurrent use; the runtime calls
// Apply and Step from one goroutine (or under one lock).
type Controller struct {
	cfg                  Config
	importLim, exportLim float64 // +Inf when not set

	mode        Mode
	modeChanged bool
	manual      ManualSetpoint
	sched       *schedule
	peak        PeakParams
	agcP        AGCParams
	agc         agcState
	pfrOn       bool
	pfr         PFRParams
	ffrOn       bool
	ffrP        FFRParams
	ffr         ffrState

	estop, estopNew bool
	resetAll        bool
	resetIDs        []string

	started   bool
	last      time.Time
	rampState float64 // base-mode output the ramp limiter starts from, kW
	satHi     bool    // last output was cut below the request
	satLo     bool    // last output was cut above the request
	lastOver  float64 // overlay power (PFR+FFR) delivered last cycle, kW
	site      siteLoad

	// per-unit state and buffers, indexed like Input.Units
	ids     []string
	states  []State
	lost    []bool // PCS data not good and not held last cycle
	shares  []Share
	qshares []Share
	pbuf    []float64
	qbuf    []float64
	events  []Event
}

// New validates cfg and returns a Controller in standby with frequency
// response disabled and the config's run-time parameter defaults.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dispatch config: %w", err)
	}
	c := &Controller{cfg: cfg, mode: ModeStandby, agcP: cfg.AGC, pfr: cfg.PFR, peak: cfg.Peak,
		importLim: math.Inf(1), exportLim: math.Inf(1)}
	if cfg.POIImportLimit != nil {
		c.importLim = *cfg.POIImportLimit
	}
	if cfg.POIExportLimit != nil {
		c.exportLim = *cfg.POIExportLimit
	}
	return c, nil
}

// Mode returns the active base mode.
func (c *Controller) Mode() Mode { return c.mode }

// Config returns the configuration the controller was built with.
func (c *Controller) Config() Config { return c.cfg }

// DroopParams returns the current primary frequency response parameters
// for the runtime's fast path, and whether the response is enabled.
func (c *Controller) DroopParams() (DroopParams, bool) {
	return DroopParams{RatedP: c.cfg.RatedP, NominalF: c.cfg.NominalF, DroopPct: c.pfr.DroopPct,
		DeadBand: c.pfr.DeadBand, Limit: c.pfr.Limit}, c.pfrOn
}

// States returns the protection state of each unit as of the last Step.
// The slice aliases an internal buffer valid until the next Step.
func (c *Controller) States() []State { return c.states }

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
		if x.Mode == ModeSchedule && c.sched == nil {
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
		c.manual = x
	case ScheduleUpload:
		s, err := x.compile()
		if err == nil && s.maxAbsP() > rated {
			err = fieldError("p", "plan asks %g kW, above plant rated power %g kW", s.maxAbsP(), rated)
		}
		if err != nil {
			return refuse("schedule_upload", err)
		}
		c.sched = s
	case SetPeakShaving:
		if err := within("recharge_p", x.RechargeP); err != nil {
			return refuse("peak_shaving", err)
		}
		c.peak = x.PeakParams
		if x.ExportLimit != nil {
			v := *x.ExportLimit
			c.peak.ExportLimit = &v
		}
	case AGCTarget:
		if err := within("p", x.P); err != nil {
			return refuse("agc_target", err)
		}
		if c.agc.targetSet && math.Abs(x.P-c.agc.target) < c.agcP.DeadBand {
			return ErrWithinDeadBand
		}
		c.agc.target, c.agc.targetSet = x.P, true
	case SetAGCParams:
		if err := x.validate(rated); err != nil {
			return refuse("agc_params", err)
		}
		c.agcP = x.AGCParams
	case SetPFR:
		if x.Enable {
			if err := x.validate(rated); err != nil {
				return refuse("pfr", err)
			}
			c.pfr = x.PFRParams
		}
		c.pfrOn = x.Enable
	case SetFFR:
		if x.Enable {
			if err := within("power", x.Power); err != nil {
				return refuse("ffr", err)
			}
			if err := within("recovery_p", x.RecoveryP); err != nil {
				return refuse("ffr", err)
			}
			c.ffrP = x.FFRParams
		}
		c.ffrOn = x.Enable
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

// grow sizes the per-unit buffers for n units (allocates only when n grows).
func (c *Controller) grow(n int) {
	if cap(c.states) < n {
		ids := make([]string, n)
		copy(ids, c.ids)
		states := make([]State, n)
		copy(states, c.states)
		lost := make([]bool, n)
		copy(lost, c.lost)
		c.ids, c.states, c.lost = ids, states, lost
		c.shares = make([]Share, n)
		c.qshares = make([]Share, n)
		c.pbuf = make([]float64, n)
		c.qbuf = make([]float64, n)
		c.events = make([]Event, 0, 2*n+8)
	}
	c.ids, c.states, c.lost = c.ids[:n], c.states[:n], c.lost[:n]
	c.shares, c.qshares = c.shares[:n], c.qshares[:n]
	c.pbuf, c.qbuf = c.pbuf[:n], c.qbuf[:n]
}

func (c *Controller) resetFor(id string) bool {
	if c.resetAll {
		return true
	}
	for _, r := range c.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

func (c *Controller) event(unit string, from, to State, cause Cause, t time.Time) {
	c.events = append(c.events, Event{Unit: unit, From: from, To: to, Cause: cause, Time: t})
}

// Step runs one control cycle: it fills out[i] with the setpoint for
// in.Units[i] (len(out) must be >= len(in.Units)) and reports what was
// asked, what was delivered, which constraint bound, and the protection
// events of this cycle. Given the same state, input and time it always
// produces the same result.
func (c *Controller) Step(in *Input, out []Setpoint) Report {
	n := len(in.Units)
	if len(out) < n {
		panic("dispatch: Step: out is shorter than in.Units")
	}
	c.grow(n)
	c.events = c.events[:0]
	dt := 0.0
	if c.started {
		dt = clamp(in.Now.Sub(c.last).Seconds(), 0, c.cfg.MaxDt)
	}
	c.last = in.Now
	rep := Report{Mode: c.mode}

	// Plant emergency stop: latched until Reset.
	if c.estopNew {
		c.event(PlantID, StateNormal, StateTrip, CauseEStop, in.Now)
		c.estopNew = false
	}
	if c.estop && c.resetAll {
		c.estop = false
		c.afterEStop()
		rep.Mode = c.mode
		c.event(PlantID, StateTrip, StateNormal, CauseReset, in.Now)
	}

	// Protection and the unit constraint stack.
	var stage limits
	var l limits
	var sumPMeas, socW, socCap, held, back float64
	assumed := false // a unit's power is assumed (held), not measured
	for i := range in.Units {
		u := &in.Units[i]
		if c.ids[i] != u.ID {
			if c.ids[i] != "" && c.states[i] != StateNormal {
				c.event(u.ID, c.states[i], StateNormal, CauseUnitReplaced, in.Now)
			}
			c.ids[i], c.states[i], c.lost[i] = u.ID, StateNormal, false
		}
		ns, cause, changed := NextState(c.states[i], u, c.cfg.BMSTimeout, c.resetFor(u.ID))
		if changed {
			c.event(u.ID, c.states[i], ns, cause, in.Now)
		}
		c.states[i] = ns
		if ns == StateTrip {
			rep.Tripped++
		}
		av := available(u, ns, c.estop)
		if av {
			rep.Available++
			socW += u.RatedP * u.SOC
			socCap += u.RatedP
		}
		computeLimits(u, ns, av, &c.cfg, &l)
		stage.add(&l)
		d, ch := l.final().sides()
		c.shares[i] = Share{DischargeMax: d, ChargeMax: ch, SOC: u.SOC}
		if u.PCSOK && finite(u.P) {
			sumPMeas += u.P
			if c.lost[i] && av {
				back += u.P
			}
		} else if isHeld(u, ns, c.estop) {
			held += u.HeldP
			sumPMeas += u.HeldP
			assumed = true
		}
		c.lost[i] = !(u.PCSOK && finite(u.P)) && !isHeld(u, ns, c.estop)
	}
	c.resetAll, c.resetIDs = false, c.resetIDs[:0]
	availD, availC := stage.final().sides()
	rep.AvailDischarge, rep.AvailCharge = availD, availC
	rep.EStop = c.estop
	meanSOC, socOK := 0.0, socCap > 0
	if socOK {
		meanSOC = socW / socCap
	}
	poiOK := in.POIOK && finite(in.POIP)
	load := 0.0 // site POI power without the battery (> 0 export)
	if poiOK {
		load = in.POIP - sumPMeas
	}
	// The feed-forward learns only from measured data: good POI power and
	// no unit counted at an assumed (held) power.
	c.site.update(load, sumPMeas, poiOK && !assumed, dt, c.cfg.RatedP)

	if !c.started {
		c.rampState = sumPMeas
		c.started = true
	} else {
		// A PCS that comes back from a communication loss may still run on
		// its last setpoint: the ramp starts from what it delivers, so it
		// resumes from there instead of being ordered down and ramped back.
		c.rampState += back
	}
	if c.estop {
		c.rampState = 0
		c.agc.integ = 0
		c.ffr = ffrState{}
	}

	// Base mode, ramp limiter, headroom reserve.
	base, qReq := c.base(in, poiOK, load, meanSOC, socOK, dt)
	rep.Base = base
	if c.mode == ModeAGC && !c.estop {
		rep.Cuts[ConstraintAGCTrim] = c.agc.cut
	}
	baseR := approach(c.rampState, base, c.cfg.RampRate*dt)
	rep.Cuts[ConstraintRamp] = math.Abs(base - baseR)
	if c.pfrOn && c.pfr.Reserve > 0 {
		b := clamp(baseR, -max(availC-c.pfr.Reserve, 0), max(availD-c.pfr.Reserve, 0))
		rep.Cuts[ConstraintReserve] = math.Abs(baseR - b)
		baseR = b
	}

	// Overlays.
	var pfr float64
	if c.pfrOn && in.FOK && !c.estop {
		pfr = Droop(in.F, DroopParams{RatedP: c.cfg.RatedP, NominalF: c.cfg.NominalF,
			DroopPct: c.pfr.DroopPct, DeadBand: c.pfr.DeadBand, Limit: c.pfr.Limit})
	}
	ffr := c.ffr.step(c.ffrOn && !c.estop, &c.ffrP, in.F, in.FOK, in.Now, dt)
	rep.PFR, rep.FFR = pfr, ffr
	rep.Requested = base + pfr + ffr
	total := baseR + pfr + ffr

	// Plant capacity: attribute the cut to the unit stages in order. Held
	// units deliver their part without taking a share.
	dir := directionOf(total - held)
	want, prev := math.Abs(total-held), math.Inf(1)
	for k := range stage {
		ck := stage[k][dir]
		rep.Cuts[stageConstraint[k]] += min(want, prev) - min(want, ck)
		prev = ck
	}
	p := clamp(total-held, -availC, availD) + held

	// POI limits: never let the battery add to an import or export excess.
	hi := max(c.exportLim-load, 0)
	lo := min(-c.importLim-load, 0)
	pp := clamp(p, lo, hi)
	rep.Cuts[ConstraintPOI] = math.Abs(p - pp)
	p = pp
	rep.Target = p

	// Split P, then Q inside each unit's apparent-power circle.
	rep.P = Allocate(p-held, c.shares, c.cfg.SOCBalanceGain, c.pbuf) + held
	for i := range in.Units {
		u := &in.Units[i]
		if isHeld(u, c.states[i], c.estop) {
			c.pbuf[i] = u.HeldP
		}
		var qc float64
		if available(u, c.states[i], c.estop) {
			s := unitS(u)
			if c.states[i] == StateDerate || c.states[i] == StateLimit {
				s *= c.cfg.DerateFactor
			}
			qc = math.Sqrt(max(s*s-c.pbuf[i]*c.pbuf[i], 0))
		}
		c.qshares[i] = Share{DischargeMax: qc, ChargeMax: qc}
	}
	rep.Q = Allocate(qReq, c.qshares, 0, c.qbuf)
	rep.Cuts[ConstraintApparent] = math.Abs(qReq - rep.Q)
	for i := range in.Units {
		out[i] = Setpoint{P: c.pbuf[i], Q: c.qbuf[i]}
	}

	// Which constraint bound (active power only).
	for k := ConstraintRated; k < numConstraints; k++ {
		if k != ConstraintApparent && rep.Cuts[k] > rep.Cut+1e-6 {
			rep.Binding, rep.Cut = k, rep.Cuts[k]
		}
	}

	// State for the next cycle.
	asked := base + pfr + ffr
	c.satHi = p < asked-1e-6
	c.satLo = p > asked+1e-6
	c.rampState = clamp(baseR, -availC+min(held, 0), availD+max(held, 0))
	if c.estop {
		c.rampState = 0
	}
	c.lastOver = p - clamp(c.rampState, lo, hi)
	rep.Events = c.events
	return rep
}

// isHeld reports whether a unit counts as held this cycle: it says so, its
// PCS data is not good, it is not tripped and there is no emergency stop.
func isHeld(u *Unit, s State, estop bool) bool {
	return u.Held && !u.PCSOK && s != StateTrip && !estop && finite(u.HeldP)
}

// base computes the base-mode plant request (P, Q) before the ramp limiter.
func (c *Controller) base(in *Input, poiOK bool, load, meanSOC float64, socOK bool, dt float64) (float64, float64) {
	if c.modeChanged {
		c.modeChanged = false
		if c.mode == ModeAGC {
			c.agc.enter(c.rampState, c.site.ff())
		}
	}
	if c.estop {
		return 0, 0
	}
	switch c.mode {
	case ModeManual:
		return c.manual.P, c.manual.Q
	case ModeSchedule:
		if c.sched == nil {
			return 0, 0
		}
		h, m, s := in.Now.Clock()
		return c.sched.power(h*3600+m*60+s, meanSOC, socOK), 0
	case ModePeakShaving:
		return peakShave(&c.peak, poiOK, load, meanSOC, socOK), 0
	case ModeAGC:
		return c.agc.step(&c.agcP, c.site.poi(in.POIP), poiOK, c.lastOver, dt, c.satHi, c.satLo, c.cfg.RatedP) - c.site.ff(), 0
	}
	return 0, 0
}

// peakShave returns the battery P that keeps site import within the limits.
// load is the site's POI power without the battery (> 0 export).
func peakShave(p *PeakParams, poiOK bool, load, soc float64, socOK bool) float64 {
	if !poiOK {
		return 0 // stale meter data never drives power
	}
	imp := -load // site import without the battery
	aim := p.ImportLimit - p.Margin
	var out float64
	switch {
	case imp > aim:
		out = imp - aim
	case imp < p.RechargeBelow && socOK && soc < p.RechargeSOC:
		out = -min(p.RechargeP, p.RechargeBelow-imp)
	}
	if p.ExportLimit != nil {
		out = min(out, *p.ExportLimit+imp) // export = out - imp
	}
	return out
}
