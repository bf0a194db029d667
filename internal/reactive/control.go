package reactive

import "math"

// State is the voltage modes' memory, kept by the caller between cycles:
// the voltage loop's integrator, or the Q(U) response's filter. The zero
// value is at rest.
type State struct {
	Q       float64 // output, kvar
	Running bool    // started (from the measured Q)
}

// Input is what the modes read in one cycle.
type Input struct {
	P      float64 // plant active-power target, kW (power_factor)
	V      float64 // POI voltage, V
	VOK    bool    // the POI voltage is good
	QMeas  float64 // plant Q now, kvar: where the voltage loop starts, for no step
	Dt     float64 // s since the last cycle
	Lo, Hi float64 // Q the units can deliver this cycle, kvar (Lo ≤ 0 ≤ Hi)
}

// Target returns the plant Q the mode asks (asked, before any limit), the
// Q to deliver (q, within QMin..QMax and Lo..Hi) and what limited it. The
// voltage modes ask 0 without a good POI voltage, and the voltage loop then
// rests; it starts again from the measured Q. The voltage loop's integrator
// and the Q(U) filter never run beyond what the limits let them deliver
// (anti-windup).
func Target(p *Params, st *State, in *Input) (asked, q float64, b Binding) {
	if p.Mode != ModeVoltage && p.Mode != ModeQU {
		*st = State{}
	}
	lo, hi := math.Max(p.QMin, math.Min(in.Lo, 0)), math.Min(p.QMax, math.Max(in.Hi, 0))
	switch p.Mode {
	case ModeFixedQ:
		asked = p.Q
	case ModePowerFactor:
		asked = PowerFactorQ(in.P, p.PF)
	case ModeQU, ModeVoltage:
		if !in.VOK || !finite(in.V) {
			*st = State{}
			return 0, 0, BindVoltage
		}
		if p.Mode == ModeQU {
			asked = p.respond(st, in, DroopQ(p, in.V))
		} else {
			asked = p.integrate(st, in)
		}
		st.Q = clamp(asked, lo, hi)
	default:
		return 0, 0, BindNone
	}
	q = clamp(asked, p.QMin, p.QMax)
	if q != asked {
		b = BindLimit
	}
	if c := clamp(q, lo, hi); c != q {
		q, b = c, BindApparent
	}
	if b == "" {
		b = BindNone
	}
	return asked, q, b
}

// PowerFactorQ is the Q that holds power factor pf at active power p:
// |Q| = |P|·tan(acos |pf|), with the sign of P when pf > 0 and the opposite
// sign when pf < 0.
func PowerFactorQ(p, pf float64) float64 {
	a := math.Abs(pf)
	if !(a > 0 && a <= 1) {
		return 0
	}
	q := p * math.Sqrt(1-a*a) / a
	if pf < 0 {
		q = -q
	}
	return q
}

// DroopQ is the Q(U) characteristic: 0 within VRef ± DeadBand; beyond it Q
// against the deviation, reaching QMax (low voltage) or QMin (high voltage)
// DroopPct % of VRef past the band edge, and held there.
func DroopQ(p *Params, v float64) float64 {
	span := p.DroopPct / 100 * p.VRef
	if !(span > 0) {
		return 0
	}
	switch dev := v - p.VRef; {
	case dev < -p.DeadBand:
		return p.QMax * math.Min((-dev-p.DeadBand)/span, 1)
	case dev > p.DeadBand:
		return p.QMin * math.Min((dev-p.DeadBand)/span, 1)
	}
	return 0
}

// respond moves the Q(U) output toward want through a first-order lag of
// TauS from the measured Q; TauS 0 answers at once.
func (p *Params) respond(st *State, in *Input, want float64) float64 {
	p.start(st, in)
	if !(p.TauS > 0) {
		return want
	}
	return st.Q + (want-st.Q)*-math.Expm1(-math.Max(in.Dt, 0)/p.TauS)
}

// start starts the loop at the measured Q, once.
func (p *Params) start(st *State, in *Input) {
	if !st.Running {
		st.Q, st.Running = in.QMeas, true
		if !finite(st.Q) {
			st.Q = 0
		}
	}
}

// integrate advances the voltage loop by in.Dt and returns its output
// before the limits: outside the dead band Q moves at
// Ki·Qspan·(VRef − V)/VRef per second, Qspan the larger of QMax and −QMin.
func (p *Params) integrate(st *State, in *Input) float64 {
	p.start(st, in)
	e := p.VRef - in.V
	if math.Abs(e) <= p.DeadBand || !(in.Dt > 0) {
		return st.Q
	}
	span := math.Max(p.QMax, -p.QMin)
	return st.Q + p.Ki*span*e/p.VRef*in.Dt
}

// Headroom is the reactive power a unit of apparent power s can add at
// active power p: √(s² − p²), 0 at its S limit.
func Headroom(s, p float64) float64 {
	if !(s > 0) {
		return 0
	}
	return math.Sqrt(math.Max(s*s-p*p, 0))
}

// PRoom is the active power a unit of apparent power s has left once it
// delivers q (Q first).
func PRoom(s, q float64) float64 { return Headroom(s, q) }

// Split writes each unit's Q into out (len(out) ≥ len(head)) in proportion
// to its reactive headroom head[i] (NaN or < 0 counts as 0), never beyond
// it, and returns the sum. If q exceeds the total headroom every unit is
// at its headroom. A unit with no headroom gets none.
func Split(q float64, head, out []float64) float64 {
	out = out[:len(head)]
	var total float64
	for _, h := range head {
		if h > 0 {
			total += h
		}
	}
	f := 0.0
	if total > 0 && finite(q) {
		f = clamp(q/total, -1, 1)
	}
	var sum float64
	for i, h := range head {
		out[i] = 0
		if h > 0 {
			out[i] = f * h
		}
		sum += out[i]
	}
	return sum
}
