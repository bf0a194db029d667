package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/trace"
)

// signal is a value over simulated time (since Start).
type signal interface {
	at(t time.Duration) float64
}

// constant is a signal that never changes.
type constant float64

func (c constant) at(time.Duration) float64 { return float64(c) }

// steps holds base until the first step, then each step's value from its time on.
type steps struct {
	base  float64
	steps []config.FreqStep // increasing At
}

func (s steps) at(t time.Duration) float64 {
	v := s.base
	for _, st := range s.steps {
		if st.At > t {
			break
		}
		v = st.Hz
	}
	return v
}

// replay plays a trace from its first sample at speed times real time,
// holding the last value after the end.
type replay struct {
	s     *trace.Series
	speed float64
}

func (r replay) at(t time.Duration) float64 {
	if len(r.s.T) == 0 {
		return 0
	}
	return r.s.At(r.s.T[0] + t.Seconds()*r.speed)
}

// loadTrace loads a trace file and checks its kind.
func loadTrace(path string, want trace.Kind, speed float64) (signal, error) {
	s, err := trace.Load(path)
	if err != nil {
		return nil, err
	}
	if s.Kind != want {
		return nil, fmt.Errorf("%s: a %v trace, a %v trace is needed here", path, s.Kind, want)
	}
	return replay{s: s, speed: speed}, nil
}

// frequencySource builds the configured frequency signal: a trace replay,
// else scripted steps, else a constant.
func frequencySource(g *config.SimGrid, nominal float64) (signal, error) {
	base := g.FrequencyHz
	if base == 0 {
		base = nominal
	}
	if base == 0 {
		base = 50
	}
	switch {
	case g.FrequencyTrace != "":
		return loadTrace(g.FrequencyTrace, trace.FrequencyHz, speedOf(g))
	case len(g.Steps) > 0:
		return steps{base: base, steps: g.Steps}, nil
	}
	return constant(base), nil
}

// loadSource builds the configured site-load signal: the trace, else the
// constant load, plus the auxiliary load.
func loadSource(g *config.SimGrid) (signal, error) {
	var site signal = constant(g.LoadKW)
	if g.LoadTrace != "" {
		var err error
		if site, err = loadTrace(g.LoadTrace, trace.LoadKW, speedOf(g)); err != nil {
			return nil, err
		}
	}
	if g.AuxLoad.KW == 0 {
		return site, nil
	}
	return sum{site, newAuxLoad(&g.AuxLoad)}, nil
}

// sum is the sum of two signals.
type sum [2]signal

func (s sum) at(t time.Duration) float64 { return s[0].at(t) + s[1].at(t) }

// auxLoad is a station's auxiliary load (HVAC cycling, transformer losses):
// base ± swing, the weighted sum of sinusoids of the configured period and
// shorter ones, with seeded phases, so a run is repeatable.
type auxLoad struct {
	base, swing float64
	period      [3]float64 // s
	phase       [3]float64 // rad
}

// auxShape are the periods (fractions of the slowest) and weights (summing
// to 1, so |variation| ≤ swing) of the auxiliary load's components.
var auxShape = [3]struct{ frac, weight float64 }{{1, 0.5}, {1 / 2.7, 0.3}, {1 / 7.3, 0.2}}

func newAuxLoad(c *config.AuxLoad) auxLoad {
	a := auxLoad{base: c.KW, swing: c.SwingKW}
	rng := rand.New(rand.NewPCG(c.Seed, 0x9e3779b97f4a7c15))
	for i, sh := range auxShape {
		a.period[i] = c.Period.Seconds() * sh.frac
		a.phase[i] = 2 * math.Pi * rng.Float64()
	}
	return a
}

func (a auxLoad) at(t time.Duration) float64 {
	v := a.base
	for i, sh := range auxShape {
		v += a.swing * sh.weight * math.Sin(2*math.Pi*t.Seconds()/a.period[i]+a.phase[i])
	}
	return v
}

func speedOf(g *config.SimGrid) float64 {
	if g.TraceSpeed > 0 {
		return g.TraceSpeed
	}
	return 1
}

// meterState is the POI meter's integrated state.
type meterState struct {
	eImport, eExport float64 // kWh
}

// poiPower is the power balance at the POI: P = Σ PCS P − load (+ export),
// Q = Σ PCS Q.
func poiPower(pcsP, pcsQ []float64, loadKW float64) (p, q float64) {
	for i := range pcsP {
		p += pcsP[i]
		q += pcsQ[i]
	}
	return p - loadKW, q
}

// integrate adds dt seconds at POI power p to the energy counters.
func (m *meterState) integrate(p, dt float64) {
	if p > 0 {
		m.eExport += p * dt / 3600
	} else {
		m.eImport -= p * dt / 3600
	}
}

// ramps holds base until the first step, then moves linearly to each
// step's value over its ramp (0: at once) and holds it.
type ramps struct {
	base  float64
	steps []config.VoltageStep // increasing At, ramps not overlapping
}

func (s ramps) at(t time.Duration) float64 {
	v := s.base
	for _, st := range s.steps {
		if st.At > t {
			break
		}
		if d := t - st.At; d < st.Ramp {
			return v + (st.V-v)*float64(d)/float64(st.Ramp)
		}
		v = st.V
	}
	return v
}

// voltageSource builds the configured source-voltage signal: a trace
// replay, else scripted steps and ramps, else the constant voltage_v.
func voltageSource(g *config.SimGrid) (signal, error) {
	base := orDefaultF(g.VoltageV, 10000)
	switch {
	case g.VoltageTrace != "":
		return loadTrace(g.VoltageTrace, trace.VoltageV, speedOf(g))
	case len(g.VoltageSteps) > 0:
		return ramps{base: base, steps: g.VoltageSteps}, nil
	}
	return constant(base), nil
}

// thevenin is the grid seen from the POI: a source voltage behind a
// per-phase impedance R + jX. The zero value is a stiff grid.
type thevenin struct {
	r, x float64 // Ω per phase
}

// newThevenin sizes the impedance for a short-circuit ratio scr on a plant
// of ratedKW (short-circuit power scr·ratedKW at nominal line voltage vn)
// and an X/R ratio xr. scr 0 is a stiff grid.
func newThevenin(scr, xr, ratedKW, vn float64) thevenin {
	if !(scr > 0) || !(ratedKW > 0) {
		return thevenin{}
	}
	z := vn * vn / (scr * ratedKW * 1000)
	r := z / math.Sqrt(1+xr*xr)
	return thevenin{r: r, x: r * xr}
}

// poi is the POI line voltage for source line voltage e and the plant's
// three-phase export p (kW, > 0 into the grid) and q (kvar, > 0 capacitive,
// into the grid). With the POI voltage V as reference, E = V − Z·(P − jQ)/V;
// with a = R·P + X·Q and b = X·P − R·Q that is E²V² = (V² − a)² + b², whose
// higher root is the operating point: V ≈ E + a/E for a small impedance.
// Past the nose of the curve (no real root) it returns the voltage at the
// nose, and never less than a tenth of E (a collapsed grid, not NaN).
func (g thevenin) poi(e, p, q float64) float64 {
	if g.r == 0 && g.x == 0 {
		return e
	}
	pw, qw := p*1000, q*1000
	a := g.r*pw + g.x*qw
	b := g.x*pw - g.r*qw
	h := 2*a + e*e
	disc := max(h*h-4*(a*a+b*b), 0)
	return max(math.Sqrt(max((h+math.Sqrt(disc))/2, 0)), 0.1*e)
}
