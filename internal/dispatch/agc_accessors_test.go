package dispatch

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/reactive"
)

// TestAGCTargetReportsTheAcceptedTarget: the accessor the northbound
// telemetry reads shows no target until one is accepted, then that one;
// a refused target leaves it.
func TestAGCTargetReportsTheAcceptedTarget(t *testing.T) {
	c, err := New(DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.AGCTarget(); ok {
		t.Fatal("a target before any was set")
	}
	if err := c.Apply(AGCTarget{P: 400}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(AGCTarget{P: 1400}, time.Now()); err == nil {
		t.Fatal("a target above rating was accepted")
	}
	if p, ok := c.AGCTarget(); !ok || p != 400 {
		t.Fatalf("AGCTarget = %v, %v; want 400, true", p, ok)
	}
}

// TestPFRReportsTheParametersInForce: the accessor behind the pfr_on
// point and the pfr_enable command follows SetPFR.
func TestPFRReportsTheParametersInForce(t *testing.T) {
	c, err := New(DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	if p, on := c.PFR(); on || p != c.Config().PFR {
		t.Fatalf("PFR at start = %+v, %v; want the configured parameters, off", p, on)
	}
	q := c.Config().PFR
	q.DroopPct = 4
	if err := c.Apply(SetPFR{Enable: true, PFRParams: q}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(SetPFR{Enable: false}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if p, on := c.PFR(); on || p != q {
		t.Fatalf("PFR after on then off = %+v, %v; want %+v, off", p, on, q)
	}
}

// TestReactiveReportsTheParametersInForce: the accessor the AVC setpoints
// start from follows SetReactive.
func TestReactiveReportsTheParametersInForce(t *testing.T) {
	c, err := New(DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Reactive(); p.Mode != reactive.ModeOff {
		t.Fatalf("reactive at start %+v, want off", p)
	}
	want := reactive.Params{Mode: reactive.ModeFixedQ, Q: 100, QMax: 300, QMin: -300}
	if err := c.Apply(SetReactive{Params: want}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if p := c.Reactive(); p != want {
		t.Fatalf("reactive %+v, want %+v", p, want)
	}
}
