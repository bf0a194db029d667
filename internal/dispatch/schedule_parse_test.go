package dispatch

import (
	"strings"
	"testing"
)

// parseTOD reads every digit of "HH:MM", up to 24:00.
func TestParseTOD(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // seconds; -1 = refused
	}{
		{"00:00", 0}, {"09:59", 9*3600 + 59*60}, {"19:09", 19*3600 + 9*60}, {"23:59", 23*3600 + 59*60}, {"24:00", 24 * 3600},
		{"10:60", -1}, {"24:01", -1}, {"25:00", -1}, {"9:00", -1}, {"0a:00", -1}, {"09/00", -1}, {"09:5:", -1}, {"/9:00", -1},
	} {
		got, err := parseTOD(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("%q: accepted as %d s, want a refusal", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %d, %v; want %d s", tc.in, got, err, tc.want)
		}
	}
}

// A segment must last: one that ends where it starts is refused, and a
// gap or overlap error names where it is, to the minute.
func TestSegmentsEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		segs []Segment
		want string
	}{
		{"empty segment", []Segment{{"00:00", "08:00", 0}, {"08:00", "08:00", 5}, {"08:00", "24:00", 0}}, "segments[1]: end must be after start"},
		{"gap", []Segment{{"00:00", "08:30", 0}, {"19:15", "24:00", 0}}, "gap between 08:30 and 19:15"},
		{"overlap", []Segment{{"00:00", "10:45", 0}, {"09:15", "24:00", 0}}, "overlap: entry starting 09:15 begins before 10:45"},
		{"same start", []Segment{{"00:00", "10:45", 0}, {"00:00", "08:15", 0}, {"10:45", "24:00", 0}}, "overlap: entry starting 00:00 begins before 10:45"},
		{"late start", []Segment{{"01:05", "24:00", 0}}, "first entry starts at 01:05"},
		{"early end", []Segment{{"00:00", "23:55", 0}}, "last entry ends at 23:55"},
	} {
		err := ScheduleUpload{Segments: tc.segs}.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
