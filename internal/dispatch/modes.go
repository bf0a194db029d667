package dispatch

// base computes the base-mode plant request (P, Q) before the ramp limiter.
func (c *Controller) base(in *Input, cy *cycle) (float64, float64) {
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
		return c.params.manual.P, c.params.manual.Q
	case ModeSchedule:
		if c.params.sched == nil {
			return 0, 0
		}
		h, m, s := in.Now.Clock()
		return c.params.sched.power(h*3600+m*60+s, cy.meanSOC, cy.socOK), 0
	case ModePeakShaving:
		return peakShave(&c.params.peak, cy.poiOK, cy.load, cy.meanSOC, cy.socOK), 0
	case ModeAGC:
		poi := c.site.poi(in.POIP)
		p := c.agc.step(&c.params.agc, poi, cy.poiOK, c.lastOver, cy.dt, c.satHi, c.satLo, c.cfg.RatedP)
		return p - c.site.ff(), 0
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
	out := max(imp-aim, 0) // discharge what the import exceeds the aim by
	if out == 0 && socOK && soc < p.RechargeSOC {
		// recharge, at most RechargeP, without lifting import above RechargeBelow
		out = min(max(imp-p.RechargeBelow, -p.RechargeP), 0)
	}
	if p.ExportLimit != nil {
		out = min(out, *p.ExportLimit+imp) // export = out - imp
	}
	return out
}
