package dispatch

import "math"

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
	if poiOK {
		e := a.ref + overlay - poiP
		settled := a.still >= agcSettle || math.Abs(e) <= agcBand*rated
		if satHi { // the output is cut below the request: the trim does not grow
			e = min(e, 0)
		}
		if satLo {
			e = max(e, 0)
		}
		if settled {
			want := a.integ + p.Ki*e*dt
			a.integ = clamp(want, -p.IntegralLimit, p.IntegralLimit)
			if want != a.integ {
				a.cut = math.Abs(e)
			}
		}
	}
	return a.ref + a.integ
}
