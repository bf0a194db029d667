package dispatch

import (
	"strings"
	"testing"
)

// TestScheduleAboveRatingIsRefusedInBothDirections: a plan is refused when
// any point, segment or TOU power exceeds the plant rating, charging as
// well as discharging; a plan at exactly the rating is accepted; a refused
// plan leaves the previous one in force.
func TestScheduleAboveRatingIsRefusedInBothDirections(t *testing.T) {
	const rated = 1000
	points := func(i int, p float64) []float64 {
		ps := make([]float64, PointsPerDay)
		ps[i] = p
		return ps
	}
	tou := func(charge, discharge float64) *TOUPlan {
		return &TOUPlan{Periods: []TOUPeriod{{"00:00", "08:00", TOUValley}, {"08:00", "24:00", TOUPeak}},
			ChargeP: charge, DischargeP: discharge, ChargeToSOC: 90, DischargeToSOC: 10}
	}
	at := ScheduleUpload{Points: points(95, -rated)}
	at.Points[0] = rated
	c := mustNew(t, DefaultConfig(rated))
	mustApply(t, c, at)
	accepted := c.params.sched
	for _, tc := range []struct {
		name string
		up   ScheduleUpload
		ok   bool
	}{
		{"charge point above rating", ScheduleUpload{Points: points(40, -rated-1)}, false},
		{"discharge point above rating", ScheduleUpload{Points: points(40, rated+1)}, false},
		{"charge segment above rating", ScheduleUpload{Segments: []Segment{{"00:00", "06:00", 0}, {"06:00", "24:00", -rated - 1}}}, false},
		{"tou charge power above rating", ScheduleUpload{TOU: tou(rated+1, rated)}, false},
		{"tou discharge power above rating", ScheduleUpload{TOU: tou(rated, rated+1)}, false},
		{"tou at rating", ScheduleUpload{TOU: tou(rated, rated)}, true},
		{"segments at rating", ScheduleUpload{Segments: []Segment{{"00:00", "12:00", -rated}, {"12:00", "24:00", rated}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Apply(tc.up, t0)
			if tc.ok {
				if err != nil {
					t.Fatalf("a plan within the rating was refused: %v", err)
				}
				accepted = c.params.sched
				return
			}
			if err == nil || !strings.Contains(err.Error(), "rated") {
				t.Fatalf("want a refusal naming the rating, got %v", err)
			}
			if c.params.sched != accepted {
				t.Fatal("the refused plan replaced the accepted one")
			}
		})
	}
}
