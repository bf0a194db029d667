package sim

import (
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/config"
)

// TestTheveninImpedance: the impedance is sized from the short-circuit power
// SCR·P_rated at nominal voltage and split by X/R.
func TestTheveninImpedance(t *testing.T) {
	g := newThevenin(10, 10, 10000, 10000) // S_sc = 100 MVA at 10 kV: |Z| = 1 Ω
	near(t, "|Z|", math.Hypot(g.r, g.x), 1, 1e-12)
	near(t, "X/R", g.x/g.r, 10, 1e-12)
	if s := newThevenin(0, 10, 10000, 10000); s != (thevenin{}) {
		t.Errorf("SCR 0 gives %+v, want a stiff grid", s)
	}
	if v := (thevenin{}).poi(10300, 5000, 3000); v != 10300 {
		t.Errorf("stiff grid: POI voltage %v, want the source 10300", v)
	}
}

// TestTheveninVoltageAnswersToPQ checks the POI voltage against the exact
// phasor equation and the linear estimate ΔU ≈ (R·P + X·Q)/U: export and
// capacitive Q raise it, import and inductive Q lower it.
func TestTheveninVoltageAnswersToPQ(t *testing.T) {
	const e = 10000.0
	g := newThevenin(10, 5, 10000, e) // |Z| = 1 Ω
	for _, c := range []struct{ p, q float64 }{
		{0, 0}, {10000, 0}, {-10000, 0}, {0, 3000}, {0, -3000}, {8000, 4000}, {-5000, -2000}, {2000, -6000},
	} {
		v := g.poi(e, c.p, c.q)
		// The exact equation: E = V − Z·(P − jQ)/V.
		i := complex(c.p*1000, -c.q*1000) / complex(v, 0)
		ee := complex(v, 0) - complex(g.r, g.x)*i
		near(t, "|E| recovered from V", math.Abs(real(ee)*real(ee)+imag(ee)*imag(ee)-e*e)/(e*e), 0, 1e-9)
		lin := e + (g.r*c.p*1000+g.x*c.q*1000)/e
		// The linear estimate is good to the second-order term (|Z|·S/U²)² ≈ 1 %.
		near(t, "V vs (R·P + X·Q)/U", (v-lin)/e, 0, 0.006)
	}
	base := g.poi(e, 0, 0)
	if up := g.poi(e, 0, 3000); !(up > base) {
		t.Errorf("capacitive Q: V %v, not above %v", up, base)
	}
	if dn := g.poi(e, 0, -3000); !(dn < base) {
		t.Errorf("inductive Q: V %v, not below %v", dn, base)
	}
	if up := g.poi(e, 5000, 0); !(up > base) {
		t.Errorf("export: V %v, not above %v", up, base)
	}
	// Sensitivity at SCR 10, X/R 5: 10 % of plant rating in Q moves U by ≈ X·Q/U² = 0.98 %.
	near(t, "dU/U for 1000 kvar", (g.poi(e, 0, 1000)-e)/e, g.x*1e6/(e*e), 1e-4)
}

// TestTheveninBeyondTheNose: a transfer past the maximum gives the nose
// voltage, a finite positive number, never NaN.
func TestTheveninBeyondTheNose(t *testing.T) {
	g := newThevenin(1, 10, 10000, 10000)
	v := g.poi(10000, -50000, -50000)
	if !(v > 0) || math.IsInf(v, 0) {
		t.Errorf("V = %v past the nose, want a finite positive voltage", v)
	}
}

func TestVoltageRamps(t *testing.T) {
	s := ramps{base: 10000, steps: []config.VoltageStep{
		{At: time.Second, V: 10200},
		{At: 2 * time.Second, V: 9800, Ramp: 4 * time.Second},
	}}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 10000}, {999 * time.Millisecond, 10000}, {time.Second, 10200}, {2 * time.Second, 10200},
		{3 * time.Second, 10100}, {4 * time.Second, 10000}, {6 * time.Second, 9800}, {time.Hour, 9800}} {
		near(t, "V at "+c.at.String(), s.at(c.at), c.want, 1e-9)
	}
}
