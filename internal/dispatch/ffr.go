package dispatch

import (
	"math"
	"time"
)

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
		if trig != 0 && (s.armed || s.dir == 0) { // dir 0: never triggered since enabled
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
		out = -math.Copysign(p.RecoveryP, s.energy)
		// Do not overshoot the energy still owed (energy is not 0 here,
		// so dt 0 gives an infinite need, which does not bind).
		need := -s.energy * 3600 / dt
		out = clamp(out, min(need, 0), max(need, 0))
	}
	s.last = out
	return out
}
