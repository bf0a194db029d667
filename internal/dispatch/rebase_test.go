package dispatch

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

// TestRebaseStartsFromMeasuredOutput: a standby's controller ran on orders
// that were never written (the units stayed at 1000 kW while it ramped its
// own idea to 3000 kW). After Rebase its next order is the measured 1000 kW,
// not a step to 3000, and it ramps from there at the plant ramp rate.
func TestRebaseStartsFromMeasuredOutput(t *testing.T) {
	cfg := DefaultConfig(4000) // ramp 400 kW/s
	c := mustNew(t, cfg)
	mustApply(t, c, ManualSetpoint{P: 3000})
	mustApply(t, c, SetMode{Mode: ModeManual})
	in := Input{F: 50, FOK: true, POIOK: true, Units: healthyUnits(4, 1000)}
	for i := range in.Units {
		in.Units[i].P = 250 // 1000 kW in all, whatever was ordered
	}
	out := make([]plant.Setpoint, 4)
	for k := range 100 { // 10 s at 100 ms: the standby's ramp reaches 3000
		in.Now = t0.Add(time.Duration(k) * 100 * time.Millisecond)
		c.Step(&in, out)
	}
	if p := sumP(out); !near(p, 3000, 1) {
		t.Fatalf("before the takeover the standby orders %.0f kW, want its own ramp at 3000", p)
	}
	c.Rebase()
	in.Now = in.Now.Add(100 * time.Millisecond)
	c.Step(&in, out)
	if p := sumP(out); !near(p, 1000, 1) {
		t.Fatalf("first order after Rebase %.0f kW, want the measured 1000 kW", p)
	}
	in.Now = in.Now.Add(100 * time.Millisecond)
	c.Step(&in, out)
	if p := sumP(out); !near(p, 1040, 1) {
		t.Fatalf("second order after Rebase %.0f kW, want 1000 + 400 kW/s × 0.1 s", p)
	}
}
