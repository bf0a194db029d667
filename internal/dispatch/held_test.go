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
	s := newSim(healthyUnits(4, 300))
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

// TestReconnectedUnitResumesFromItsOutput: a PCS that stopped answering and
// was not held (no watchdog configured, or the hold ran out) comes back
// still running on its setpoint. The ramp limiter must start from what it
// delivers, not from 0: no dip and no ramp back from ~0 kW.
func TestReconnectedUnitResumesFromItsOutput(t *testing.T) {
	c := mustNew(t, DefaultConfig(250)) // ramp 25 kW/s
	s := newSim(healthyUnits(1, 250))
	s.out[0].P = 200 // running at 200 kW when the daemon starts
	s.step(c, 0)
	mustApply(t, c, ManualSetpoint{P: 200})
	mustApply(t, c, SetMode{Mode: ModeManual})
	for range 5 {
		s.step(c, 100*time.Millisecond)
	}
	u := &s.in.Units[0]
	u.PCSOK = false // 1 s blip; the PCS holds 200 kW on its own
	for range 10 {
		s.in.Now = s.in.Now.Add(100 * time.Millisecond)
		c.Step(&s.in, s.out)
	}
	if s.out[0].P != 0 {
		t.Fatalf("lost unit ordered %v, want 0", s.out[0].P)
	}
	u.PCSOK, u.P = true, 200
	s.in.Now = s.in.Now.Add(100 * time.Millisecond)
	r := c.Step(&s.in, s.out)
	if !near(s.out[0].P, 200, 1e-6) {
		t.Fatalf("reconnected unit at 200 kW ordered %v (report %+v), want 200", s.out[0].P, r)
	}
	// One that comes back stopped is ramped up from 0 as usual.
	u.PCSOK = false
	c.Step(&s.in, s.out)
	u.PCSOK, u.P = true, 0
	s.in.Now = s.in.Now.Add(100 * time.Millisecond)
	c.Step(&s.in, s.out)
	if !near(s.out[0].P, 2.5, 1e-6) {
		t.Fatalf("reconnected stopped unit ordered %v, want 2.5 (ramp from 0)", s.out[0].P)
	}
}

// A held unit's output counts toward what the plant delivers, so a steady
// request the available units and the held one meet together stays met:
// the ramp limiter does not restart from the available units' capacity
// alone. Both directions.
func TestHeldOutputCountsTowardTheRampState(t *testing.T) {
	for _, dir := range []float64{1, -1} {
		c := mustNew(t, DefaultConfig(1000)) // ramp 100 kW/s
		mustApply(t, c, SetMode{Mode: ModeManual})
		mustApply(t, c, ManualSetpoint{P: dir * 900})
		s := newSim(healthyUnits(4, 250))
		for range 12 { // 900 kW reached at 100 kW/s
			s.step(c, time.Second)
		}
		// u000 stops answering, held at 200 kW; the other three can give 750.
		u := &s.in.Units[0]
		u.PCSOK, u.Held, u.HeldP = false, true, dir*200
		for k := range 5 {
			r := s.step(c, time.Second)
			if !near(r.P, dir*900, 1e-6) || s.out[0].P != dir*200 {
				t.Fatalf("direction %v, cycle %d with u000 held: plant %v, u000 %v; want %v with u000 at its held %v",
					dir, k, r.P, s.out[0].P, dir*900, dir*200)
			}
		}
	}
}
