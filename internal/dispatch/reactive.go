package dispatch

import (
	"math"

	"github.com/emsd/emsd/internal/reactive"
)

// SetReactive sets the reactive-power mode and the P/Q priority
// (reactive.Params). Mode off leaves Q to the manual setpoint.
type SetReactive struct {
	reactive.Params
}

// Validate checks the parameters on their own.
func (x SetReactive) Validate() error { return x.Params.Validate(0) }

// apply sets the reactive mode; its reactive powers are bounded by the
// plant's rated power, like the manual Q. A new mode starts the voltage
// loop again from the measured Q.
func (x SetReactive) apply(c *Controller) error {
	if err := x.Params.Validate(c.cfg.RatedP); err != nil {
		return refuse("reactive", err)
	}
	c.params.reactive = x.Params
	c.volt = reactive.State{}
	return nil
}

// qFirst reports whether Q keeps its request when S binds.
func (c *Controller) qFirst() bool { return c.params.reactive.Priority == reactive.QFirst }

// headroom fills c.hbuf with each unit's reactive headroom: its apparent
// power (derated with its protection state) less its P, or all of it when
// Q goes first; 0 for a unit that is not available. It returns the sum.
func (c *Controller) headroom(in *Input, qFirst bool) float64 {
	var sum float64
	for i := range in.Units {
		u := &in.Units[i]
		c.hbuf[i] = 0
		if available(u, c.states[i], c.estop) {
			s := unitS(u)
			if c.states[i] == StateDerate || c.states[i] == StateLimit {
				s *= c.cfg.DerateFactor
			}
			c.hbuf[i] = s
			if !qFirst {
				c.hbuf[i] = reactive.Headroom(s, c.pbuf[i])
			}
		}
		sum += c.hbuf[i]
	}
	return sum
}

// reactiveStage asks the reactive mode (or, when it is off, the manual
// setpoint) for the plant Q within the head the units have, splits it over
// them by headroom into c.qbuf and reports it.
func (c *Controller) reactiveStage(in *Input, cy *cycle, head float64, rep *Report) {
	rp := &c.params.reactive
	var q, lim float64 // delivered, and asked within the mode's limits
	if rp.Mode == reactive.ModeOff || c.estop {
		rep.QTarget, lim, q, rep.QBinding = cy.q, cy.q, clamp(cy.q, -head, head), reactive.BindNone
		if q != cy.q {
			rep.QBinding = reactive.BindApparent
		}
	} else {
		var meas float64
		for i := range in.Units {
			if in.Units[i].PCSOK && finite(in.Units[i].Q) {
				meas += in.Units[i].Q
			}
		}
		ri := reactive.Input{P: cy.p, V: in.V, VOK: in.VOK, QMeas: meas, Dt: cy.dt, Lo: -head, Hi: head}
		rep.QTarget, q, rep.QBinding = reactive.Target(rp, &c.volt, &ri)
		lim = clamp(rep.QTarget, rp.QMin, rp.QMax)
	}
	rep.Q = reactive.Split(q, c.hbuf, c.qbuf)
	rep.Cuts[ConstraintApparent] = math.Abs(lim - rep.Q)
}

// capForQ (Q first) limits each unit's P share to what its apparent power
// leaves after its Q.
func (c *Controller) capForQ() {
	for i := range c.shares {
		r := reactive.PRoom(c.hbuf[i], c.qbuf[i])
		c.shares[i].DischargeMax = min(c.shares[i].DischargeMax, r)
		c.shares[i].ChargeMax = min(c.shares[i].ChargeMax, r)
	}
}
