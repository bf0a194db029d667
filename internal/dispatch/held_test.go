package dispatch

import (
	"testing"
	"time"
)

func TestHeldUnitKeepsItsShareUntilReleased(t *testing.T) {
	cfg := DefaultConfig(1200)
	cfg.RampRate = 1e6
	c := mustNew(t, cfg)
	mustApply(t, c, ManualSetpoint{P: 600})
	mustApply(t, c, SetMode{Mode: ModeManual})
	s := newSim(plant(4, 300))
	for range 3 {
		s.step(c, 100*time.Millisecond)
	}
	if got := sumP(s.out); !near(got, 600, 1e-6) {
		t.Fatalf("healthy plant ordered %v, want 600", got)
	}
	// u000 stops answering; it may still run on its last 150 kW.
	u := &s.in.Units[0]
	u.PCSOK, u.Held, u.HeldP = false, true, 150
	rep := c.Step(&s.in, s.out)
	if s.out[0].P != 150 || !near(s.out[1].P+s.out[2].P+s.out[3].P, 450, 1e-6) || !near(rep.P, 600, 1e-6) {
		t.Fatalf("held: out %v, report P %v; want u000 at its held 150 and the others 450", s.out, rep.P)
	}
	// Its watchdog has stopped it: no longer held, the others carry 600.
	u.Held = false
	c.Step(&s.in, s.out)
	if s.out[0].P != 0 || !near(sumP(s.out), 600, 1e-6) {
		t.Fatalf("released: out %v; want u000 at 0 and the others 600", s.out)
	}
	// A held unit that trips, or an emergency stop, is not counted as held.
	u.Held, u.AlarmLevel = true, 3
	c.Step(&s.in, s.out)
	if s.out[0].P != 0 || !near(sumP(s.out), 600, 1e-6) {
		t.Fatalf("tripped while held: out %v", s.out)
	}
	u.AlarmLevel = 0
	mustApply(t, c, EStop{Reason: "test"})
	c.Step(&s.in, s.out)
	for i, sp := range s.out {
		if sp.P != 0 {
			t.Fatalf("estop: unit %d ordered %v", i, sp.P)
		}
	}
}
