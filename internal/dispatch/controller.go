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
			if err := x.validate(c.cfg.NominalF); err != nil {
				return refuse("ffr", err)
			}
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
	var stage [numStages][2]float64
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
		for k := range stage {
			stage[k][0] += l[k][0]
			stage[k][1] += l[k][1]
		}
		c.shares[i] = Share{DischargeMax: l[numStages-1][0], ChargeMax: l[numStages-1][1], SOC: u.SOC}
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
	availD, availC := stage[numStages-1][0], stage[numStages-1][1]
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
	dir := 0
	if total-held < 0 {
		dir = 1
	}
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

// siteLoad is the feed-forward of the site's own POI power (load, losses,
// any unmeasured generation; > 0 export): POI power minus the measured
// battery output, low-pass filtered. The meter and the converters are not
// read at the same instant, so the difference is the site load only while
// the battery output is steady: it learns only then, and only from good
// data, and holds its last value otherwise, so stale or lost POI data and
// a fast-moving plant never drive it.
type siteLoad struct {
	v      float64 // kW
	ok     bool    // v has been learnt
	learnt bool    // v learnt from this cycle's data
	bat    float64 // measured battery output, kW
	prev   bool    // bat is set
}

// siteLoadTau is the time constant of the site-load filter: long enough to
// smooth the readings' noise and skew, short next to the minutes over which
// auxiliary loads (HVAC, transformers) drift.
const siteLoadTau = 1.0 // s

// siteLoadSteady is the battery output's rate of change, as a fraction of
// rated power per second, up to which the site load is learnt.
const siteLoadSteady = 0.005

func (s *siteLoad) update(load, bat float64, good bool, dt, rated float64) {
	steady := s.prev && math.Abs(bat-s.bat) <= siteLoadSteady*rated*dt
	s.bat, s.prev = bat, finite(bat)
	s.learnt = good && finite(load) && (steady || !s.ok) // the first good reading seeds it
	switch {
	case !s.learnt:
	case !s.ok:
		s.v, s.ok = load, true
	default:
		s.v += dt / (siteLoadTau + dt) * (load - s.v)
	}
}

// poi is the POI power the AGC trim works on: while the site load is
// learnt, battery output plus the filtered site load, so the trim corrects
// only the model error and not what the filter has yet to catch up with;
// otherwise the meter's reading meas.
func (s *siteLoad) poi(meas float64) float64 {
	if s.learnt {
		return s.bat + s.v
	}
	return meas
}

// ff is the battery power the site load needs fed forward: 0 until learnt.
func (s *siteLoad) ff() float64 { return s.v }

// agcState is the AGC tracker: ramped POI reference plus integral trim. The
// plant command is reference + trim - site load; the site load is fed
// forward, so the trim corrects only the model error (units that do not
// deliver their order) and its limit is not spent on the site load.
type agcState struct {
	target    float64 // commanded POI power, kW
	targetSet bool
	ref       float64 // ramped reference, kW
	integ     float64 // integral trim, kW
	still     float64 // seconds since the reference last moved
	cut       float64 // POI error the trim could not remove at its limit, kW
}

// The AGC trim integrates only the settled error: while the reference has
// been still for agcSettle, or while the error is within agcBand of rated
// power. Integrating the transient after a step (the converters' lag) would
// wind the trim up and overshoot the new target for seconds.
const (
	agcSettle = 0.5  // s
	agcBand   = 0.01 // fraction of rated power
)

// enter starts tracking from the current output without a step: the
// reference starts at the POI power the current output gives with the site
// load (the measured POI power, filtered) and the trim at 0, so the command
// equals the current output and then moves only toward the target.
func (a *agcState) enter(current, site float64) {
	a.ref = current + site
	if !a.targetSet {
		a.target = a.ref
		a.targetSet = true
	}
	a.integ, a.still, a.cut = 0, 0, 0
}

// step returns reference + integral trim (the caller subtracts the site
// load). The trim integrates the POI error (reference plus last overlay
// minus measured), is clamped to ±IntegralLimit and does not integrate
// further into saturation. A settled error the clamp keeps the trim from
// removing is the cut, reported as the agc_trim_limit constraint.
func (a *agcState) step(p *AGCParams, poiP float64, poiOK bool, overlay, dt float64, satHi, satLo bool, rated float64) float64 {
	prev := a.ref
	a.ref = approach(a.ref, a.target, p.RampRate*1000/60*dt)
	if a.ref != prev {
		a.still = 0
	} else {
		a.still += dt
	}
	a.cut = 0
	if poiOK && dt > 0 {
		e := a.ref + overlay - poiP
		settled := a.still >= agcSettle || math.Abs(e) <= agcBand*rated
		if settled && !(e > 0 && satHi) && !(e < 0 && satLo) {
			want := a.integ + p.Ki*e*dt
			a.integ = clamp(want, -p.IntegralLimit, p.IntegralLimit)
			if want != a.integ {
				a.cut = math.Abs(e)
			}
		}
	}
	return a.ref + a.integ
}

// FFR phases.
const (
	ffrIdle = iota
	ffrHold
	ffrRecover
)

// ffrState is the fast frequency response timer and energy account.
type ffrState struct {
	phase  uint8
	dir    float64   // +1 discharge (low f), -1 charge (high f)
	until  time.Time // end of hold
	armed  bool      // frequency has been back inside the triggers since the last trigger
	energy float64   // kWh moved by FFR and not yet recovered (> 0 discharged)
	last   float64   // last output, kW
}

// step returns the FFR power for this cycle.
func (s *ffrState) step(on bool, p *FFRParams, f float64, fok bool, now time.Time, dt float64) float64 {
	s.energy += s.last * dt / 3600
	if !on {
		*s = ffrState{}
		return 0
	}
	if fok && finite(f) {
		trig := 0.0
		switch {
		case p.LowTrigger != 0 && f <= p.LowTrigger:
			trig = 1
		case p.HighTrigger != 0 && f >= p.HighTrigger:
			trig = -1
		default:
			s.armed = true
		}
		if trig != 0 && (s.armed || s.phase == ffrIdle && s.dir == 0) {
			s.phase, s.dir, s.armed = ffrHold, trig, false
			s.until = now.Add(time.Duration(p.HoldS * float64(time.Second)))
		}
	}
	out := 0.0
	if s.phase == ffrHold && !now.Before(s.until) {
		s.phase = ffrRecover
	}
	switch s.phase {
	case ffrHold:
		out = s.dir * p.Power
	case ffrRecover:
		if math.Abs(s.energy) < 1e-3 {
			s.phase, s.energy = ffrIdle, 0
			break
		}
		out = -p.RecoveryP
		if s.energy < 0 {
			out = p.RecoveryP
		}
		if dt > 0 { // do not overshoot the energy still owed
			need := -s.energy * 3600 / dt
			out = clamp(out, min(need, 0), max(need, 0))
		}
	}
	s.last = out
	return out
}
