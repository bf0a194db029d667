package sim

import (
	"math"
	"time"
)

// Fault-word bits of the simulated PCS.
const (
	FaultGeneral       = 1 << 0 // forced by SetPCSFault
	FaultHeartbeatLost = 1 << 1 // the heartbeat watchdog expired
	FaultDCLost        = 1 << 2 // every BMS contactor of the unit is open
)

// pcsParams are a converter's fixed parameters.
type pcsParams struct {
	ratedP     float64       // kW
	ratedS     float64       // kVA
	qMax       float64       // own reactive limit at any P, kvar
	tau        time.Duration // first-order lag
	delay      time.Duration // transport delay, setpoint to response
	rampKWPerS float64       // slope limit of P and Q
	eff        float64       // one-way AC↔DC efficiency
	hbTimeout  time.Duration // 0: watchdog off
}

// command is a setpoint pair written at a simulated time.
type command struct {
	at   time.Duration
	p, q float64
}

// pcsState is a converter's mutable state. Times are simulated time since Start.
type pcsState struct {
	pset, qset float64 // latest written setpoints
	run        bool
	hb         uint16        // heartbeat register
	hbChanged  time.Duration // when hb last changed
	fault      bool          // forced general fault
	hbLost     bool
	dcLost     bool
	p, q       float64   // AC output
	pdc        float64   // DC power, + out of the batteries
	hist       []command // setpoints not yet effective, oldest first; hist[0] is effective
	alive      uint16    // the converter's alive counter: +1 every 100 ms
}

func newPCSState() pcsState {
	return pcsState{run: true, hist: []command{{}}}
}

// command records new setpoints written at time at.
func (s *pcsState) command(at time.Duration, p, q float64) {
	s.pset, s.qset = p, q
	s.hist = append(s.hist, command{at: at, p: p, q: q})
}

// heartbeat records a write of the heartbeat register at time at.
func (s *pcsState) heartbeat(at time.Duration, v uint16) {
	if v != s.hb {
		s.hb = v
		s.hbChanged = at
	}
}

// effective returns the setpoints in force at time t (the latest written at
// or before t) and forgets the older ones.
func (s *pcsState) effective(t time.Duration) (p, q float64) {
	i := 0
	for i+1 < len(s.hist) && s.hist[i+1].at <= t {
		i++
	}
	if i > 0 {
		s.hist = append(s.hist[:0], s.hist[i:]...)
	}
	return s.hist[0].p, s.hist[0].q
}

// faultWord is the fault register.
func (s *pcsState) faultWord() uint16 {
	var w uint16
	if s.fault {
		w |= FaultGeneral
	}
	if s.hbLost {
		w |= FaultHeartbeatLost
	}
	if s.dcLost {
		w |= FaultDCLost
	}
	return w
}

// mode is the state register: 0 stopped, 1 running, 2 fault.
func (s *pcsState) mode() int {
	switch {
	case s.faultWord() != 0:
		return 2
	case s.run:
		return 1
	}
	return 0
}

// dcLimits is what the batteries behind a PCS can take, as AC power.
type dcLimits struct {
	dischargeKW float64 // ≥ 0
	chargeKW    float64 // ≥ 0
	closed      bool    // at least one contactor is closed
}

// limitPQ applies the converter's ratings: |P| ≤ min(rated P, S), then Q
// gets what is left of S (P priority), within its own limit |Q| ≤ qMax.
func limitPQ(p, q float64, pp *pcsParams) (float64, float64) {
	pm := math.Min(pp.ratedP, pp.ratedS)
	p = clamp(p, -pm, pm)
	qm := math.Min(math.Sqrt(math.Max(0, pp.ratedS*pp.ratedS-p*p)), pp.qMax)
	return p, clamp(q, -qm, qm)
}

// stepPCS advances a converter from now-dt to now. The output follows the
// setpoint written delay ago through a first-order lag and a ramp limit,
// within the apparent-power rating and what the batteries can take. A
// forced fault, a lost heartbeat or open DC contactors trip it to 0 at
// once; stop brings it to 0 through the normal response.
func stepPCS(pp *pcsParams, s *pcsState, now, dt time.Duration, dc dcLimits) {
	s.alive = uint16(now / (100 * time.Millisecond))
	cp, cq := s.effective(now - dt - pp.delay) // held over the step
	s.hbLost = pp.hbTimeout > 0 && now-s.hbChanged >= pp.hbTimeout
	s.dcLost = !dc.closed
	if s.fault || s.hbLost || s.dcLost {
		s.p, s.q, s.pdc = 0, 0, 0
		return
	}
	var tp, tq float64
	if s.run {
		tp, tq = limitPQ(cp, cq, pp)
		tp = clamp(tp, -dc.chargeKW, dc.dischargeKW)
	}
	a := 1.0
	if pp.tau > 0 {
		a = -math.Expm1(-dt.Seconds() / pp.tau.Seconds())
	}
	r := pp.rampKWPerS * dt.Seconds()
	s.p += clamp((tp-s.p)*a, -r, r)
	s.q += clamp((tq-s.q)*a, -r, r)
	s.p = clamp(s.p, -dc.chargeKW, dc.dischargeKW)
	s.p, s.q = limitPQ(s.p, s.q, pp)
	s.pdc = acToDC(s.p, pp.eff)
}

// acToDC converts AC power to DC power at the battery terminals: a
// discharge draws P/η from the batteries, a charge stores P·η.
func acToDC(p, eff float64) float64 {
	if p > 0 {
		return p / eff
	}
	return p * eff
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func clamp01(v float64) float64 { return clamp(v, 0, 1) }
