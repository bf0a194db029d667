package dispatch

import (
	"math"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

// cycle carries one Step's intermediate results from stage to stage.
type cycle struct {
	dt float64 // s since the last Step, at most Config.MaxDt

	// Unit stage.
	plant          limits  // plant capacity: the unit limits summed stage by stage
	availD, availC float64 // plant capacity after every unit constraint, kW
	bat            float64 // battery output, measured or, for held units, assumed, kW
	held           float64 // output of held units, kW
	back           float64 // output of units back from a communication loss, kW
	assumed        bool    // some unit's output is assumed (held), not measured
	meanSOC        float64 // rating-weighted mean SOC of the available units, %
	socOK          bool    // meanSOC is known (some unit is available)

	// Site stage.
	poiOK bool    // POI power is good
	load  float64 // site POI power without the battery (> 0 export), kW

	// Base and overlay stages.
	base, q  float64 // base-mode request before the ramp (P, kW) and Q (kvar)
	ramped   float64 // base after the ramp limiter and the reserve, kW
	pfr, ffr float64 // overlay powers, kW
	asked    float64 // base + overlays before any constraint, kW

	// Plant stage.
	lo, hi float64 // battery power the POI limits leave, kW
	p      float64 // plant target handed to the allocator, kW
}

// Step runs one control cycle: it fills out[i] with the setpoint for
// in.Units[i] (len(out) must be >= len(in.Units)) and reports what was
// asked, what was delivered, which constraint bound, and the protection
// events of this cycle. Given the same state, input and time it always
// produces the same result.
//
// The stages run in the order doc.go lists them.
func (c *Controller) Step(in *Input, out []plant.Setpoint) Report {
	if len(out) < len(in.Units) {
		panic("dispatch: Step: out is shorter than in.Units")
	}
	var cy cycle
	cy.dt = c.begin(in)
	rep := Report{Mode: c.mode}
	c.emergencyStop(in.Now, &rep)
	c.unitStage(in, &cy, &rep)
	c.siteStage(in, &cy)
	c.rampStart(&cy)
	c.baseStage(in, &cy, &rep)
	c.overlayStage(in, &cy, &rep)
	c.plantStage(&cy, &rep)
	c.allocStage(in, &cy, out, &rep)
	rep.bind()
	c.carry(&cy)
	rep.Events = c.events
	return rep
}

// begin sizes the buffers for this cycle's units, clears the events and
// returns the time step.
func (c *Controller) begin(in *Input) float64 {
	c.grow(len(in.Units))
	c.events = c.events[:0]
	dt := 0.0
	if c.started {
		dt = clamp(in.Now.Sub(c.last).Seconds(), 0, c.cfg.MaxDt)
	}
	c.last = in.Now
	return dt
}

// emergencyStop reports a new plant emergency stop and clears a latched
// one that a plant Reset asked to clear. While it holds, the AGC trim and
// the FFR state machine stay at rest.
func (c *Controller) emergencyStop(now time.Time, rep *Report) {
	if c.estopNew {
		c.event(PlantID, StateNormal, StateTrip, CauseEStop, now)
		c.estopNew = false
	}
	if c.estop && c.resetAll {
		c.estop = false
		c.afterEStop()
		rep.Mode = c.mode
		c.event(PlantID, StateTrip, StateNormal, CauseReset, now)
	}
	if c.estop {
		c.agc.integ = 0
		c.ffr = ffrState{}
	}
}

// unitStage runs each unit's protection state machine and constraint
// stack, fills the allocator's shares and sums the plant's capacity and
// battery output.
func (c *Controller) unitStage(in *Input, cy *cycle, rep *Report) {
	var l limits
	var socW, socCap float64
	for i := range in.Units {
		u := &in.Units[i]
		st := c.protect(i, u, in.Now)
		if st == StateTrip {
			rep.Tripped++
		}
		av := available(u, st, c.estop)
		if av {
			rep.Available++
			socW += u.RatedP * u.SOC
			socCap += u.RatedP
		}
		computeLimits(u, st, av, &c.cfg, &l)
		cy.plant.add(&l)
		d, ch := l.final().sides()
		c.shares[i] = Share{DischargeMax: d, ChargeMax: ch, SOC: u.SOC}
		// Battery output: measured when the PCS data is good, assumed
		// when the unit is held (inline: this loop runs for every unit).
		good := u.PCSOK && finite(u.P)
		held := !good && isHeld(u, st, c.estop)
		switch {
		case good:
			cy.bat += u.P
			if c.lost[i] && av {
				cy.back += u.P
			}
		case held:
			cy.held += u.HeldP
			cy.bat += u.HeldP
			cy.assumed = true
		}
		c.lost[i] = !good && !held
	}
	c.resetAll, c.resetIDs = false, c.resetIDs[:0]
	cy.availD, cy.availC = cy.plant.final().sides()
	rep.AvailDischarge, rep.AvailCharge = cy.availD, cy.availC
	rep.EStop = c.estop
	cy.socOK = socCap > 0
	if cy.socOK {
		cy.meanSOC = socW / socCap
	}
}

// protect advances unit i's protection state, emitting its events, and
// returns the new state. A new unit in slot i starts in normal.
func (c *Controller) protect(i int, u *Unit, now time.Time) State {
	if c.ids[i] != u.ID {
		if c.ids[i] != "" && c.states[i] != StateNormal {
			c.event(u.ID, c.states[i], StateNormal, CauseUnitReplaced, now)
		}
		c.ids[i], c.states[i], c.lost[i] = u.ID, StateNormal, false
	}
	ns, cause, changed := NextState(c.states[i], u, c.cfg.BMSTimeout, c.resetFor(u.ID))
	if changed {
		c.event(u.ID, c.states[i], ns, cause, now)
	}
	c.states[i] = ns
	return ns
}

// isHeld reports whether a unit counts as held this cycle: it says so, its
// PCS data is not good, it is not tripped and there is no emergency stop.
func isHeld(u *Unit, s State, estop bool) bool {
	return u.Held && !u.PCSOK && s != StateTrip && !estop && finite(u.HeldP)
}

// siteStage reads the POI and updates the site-load feed-forward, which
// learns only from measured data: good POI power and no unit counted at an
// assumed (held) power.
func (c *Controller) siteStage(in *Input, cy *cycle) {
	cy.poiOK = in.POIOK && finite(in.POIP)
	if cy.poiOK {
		cy.load = in.POIP - cy.bat
	}
	c.site.update(cy.load, cy.bat, cy.poiOK && !cy.assumed, cy.dt, c.cfg.RatedP)
}

// rampStart sets where the ramp limiter starts this cycle. The first cycle
// starts from the measured output. A PCS that comes back from a
// communication loss may still run on its last setpoint: the ramp starts
// from what it delivers, so it resumes from there instead of being ordered
// down and ramped back. An emergency stop holds it at zero.
func (c *Controller) rampStart(cy *cycle) {
	if !c.started {
		c.rampState = cy.bat
		c.started = true
	} else {
		c.rampState += cy.back
	}
	if c.estop {
		c.rampState = 0
	}
}

// baseStage runs the active base mode, the plant ramp limiter and the
// frequency-response headroom reserve.
func (c *Controller) baseStage(in *Input, cy *cycle, rep *Report) {
	cy.base, cy.q = c.base(in, cy)
	rep.Base = cy.base
	if c.mode == ModeAGC && !c.estop {
		rep.Cuts[ConstraintAGCTrim] = c.agc.cut
	}
	r := approach(c.rampState, cy.base, c.cfg.RampRate*cy.dt)
	rep.Cuts[ConstraintRamp] = math.Abs(cy.base - r)
	if res := c.params.pfr.Reserve; c.params.pfrOn && res > 0 {
		b := clamp(r, -max(cy.availC-res, 0), max(cy.availD-res, 0))
		rep.Cuts[ConstraintReserve] = math.Abs(r - b)
		r = b
	}
	cy.ramped = r
}

// overlayStage adds primary and fast frequency response.
func (c *Controller) overlayStage(in *Input, cy *cycle, rep *Report) {
	if c.params.pfrOn && in.FOK && !c.estop {
		cy.pfr = Droop(in.F, c.droop())
	}
	cy.ffr = c.ffr.step(c.params.ffrOn && !c.estop, &c.params.ffr, in.F, in.FOK, in.Now, cy.dt)
	cy.asked = cy.base + cy.pfr + cy.ffr
	rep.PFR, rep.FFR, rep.Requested = cy.pfr, cy.ffr, cy.asked
}

// plantStage applies the plant capacity, attributing its cut to the unit
// stages in order, then the POI limits, which never let the battery add to
// an import or export excess. Held units deliver their part without taking
// a share.
func (c *Controller) plantStage(cy *cycle, rep *Report) {
	shared := cy.ramped + cy.pfr + cy.ffr - cy.held
	want, prev := math.Abs(shared), math.Inf(1)
	dir := directionOf(shared)
	for k := range cy.plant {
		ck := cy.plant[k][dir]
		rep.Cuts[stageConstraint[k]] += min(want, prev) - min(want, ck)
		prev = ck
	}
	p := clamp(shared, -cy.availC, cy.availD) + cy.held
	cy.hi = max(c.exportLim-cy.load, 0)
	cy.lo = min(-c.importLim-cy.load, 0)
	cy.p = clamp(p, cy.lo, cy.hi)
	rep.Cuts[ConstraintPOI] = math.Abs(p - cy.p)
	rep.Target = cy.p
}

// allocStage splits P and Q across the units and writes the setpoints.
// P first (the default): P is split, then Q within what each unit's
// apparent power leaves. Q first: Q is split over the units' apparent
// power, then P within what Q leaves; the P it takes is the q_priority cut,
// and the target is what is left.
func (c *Controller) allocStage(in *Input, cy *cycle, out []plant.Setpoint, rep *Report) {
	if c.qFirst() {
		c.reactiveStage(in, cy, c.headroom(in, true), rep)
		c.capForQ()
	}
	rep.P = Allocate(cy.p-cy.held, c.shares, c.cfg.SOCBalanceGain, c.pbuf) + cy.held
	for i := range in.Units {
		if isHeld(&in.Units[i], c.states[i], c.estop) {
			c.pbuf[i] = in.Units[i].HeldP
		}
	}
	if c.qFirst() {
		rep.Cuts[ConstraintQPriority] = math.Abs(cy.p - rep.P)
		cy.p, rep.Target = rep.P, rep.P
	} else {
		c.reactiveStage(in, cy, c.headroom(in, false), rep)
	}
	for i := range in.Units {
		out[i] = plant.Setpoint{P: c.pbuf[i], Q: c.qbuf[i]}
	}
}

// bind names the constraint that cut the most active power.
func (r *Report) bind() {
	for k := ConstraintRated; k < numConstraints; k++ {
		if k != ConstraintApparent && r.Cuts[k] > r.Cut+1e-6 {
			r.Binding, r.Cut = k, r.Cuts[k]
		}
	}
}

// carry keeps what the next cycle needs: whether the output was cut, where
// the ramp stands and the overlay power delivered.
func (c *Controller) carry(cy *cycle) {
	c.satHi = cy.p < cy.asked-1e-6
	c.satLo = cy.p > cy.asked+1e-6
	c.rampState = clamp(cy.ramped, -cy.availC+min(cy.held, 0), cy.availD+max(cy.held, 0))
	if c.estop {
		c.rampState = 0
	}
	c.lastOver = cy.p - clamp(c.rampState, cy.lo, cy.hi)
}
