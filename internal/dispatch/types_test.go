package dispatch

import "testing"

// Every state and constraint has its name; a value past the last one is
// "unknown", never a panic.
func TestStateAndConstraintNames(t *testing.T) {
	for s, want := range map[State]string{StateNormal: "normal", StateTrip: "trip", StateTrip + 1: "unknown", 255: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", s, got, want)
		}
	}
	for c, want := range map[Constraint]string{ConstraintNone: "none", ConstraintPOI: "poi_limit", numConstraints: "unknown", 255: "unknown"} {
		if got := c.String(); got != want {
			t.Errorf("Constraint(%d) = %q, want %q", c, got, want)
		}
	}
}
