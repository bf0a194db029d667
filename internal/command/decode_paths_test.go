package command

import (
	"strings"
	"testing"
)

// Error reasons name the field as the operator wrote it: JSON names, array
// indexes counted from 0, no Go names of embedded structs.
func TestDecodeErrorsNameTheJSONPath(t *testing.T) {
	for _, tc := range []struct {
		name, payload, reason string
	}{
		{NameSchedule, `{"id":"a","segments":[{"start":"00:00","end":"12:00","p":1},{"start":"12:00","end":"24:00","p":1,"mode":"x"}]}`, `unknown field "segments[1].mode"`},
		{NameFastFrequency, `{"id":"a","enable":true,"low_trigger":"49.8"}`, "low_trigger: expected a number, got string"},
		{NameAGCParams, `{"id":"a","ramp_rate":"fast"}`, "ramp_rate: expected a number, got string"},
		{NameSchedule, `{"id":"a","tou":{"charge_p":"x"}}`, "tou.charge_p: expected a number, got string"},
	} {
		_, err := Parse(tc.name, []byte(tc.payload), t0)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s %s: got %v, want a reason containing %q", tc.name, tc.payload, err, tc.reason)
			continue
		}
		if r := err.Error(); strings.ContainsAny(r[strings.Index(r, ":")+1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			t.Errorf("%s: reason %q carries a Go name", tc.name, r)
		}
	}
}

// Nesting is refused from maxNestingDepth open objects and arrays on, the
// command object itself counted; one level less is only a wrong type.
func TestNestingDepthLimit(t *testing.T) {
	nested := func(arrays int) string {
		return `{"id":"a","points":` + strings.Repeat("[", arrays) + strings.Repeat("]", arrays) + `}`
	}
	_, err := Parse(NameSchedule, []byte(nested(maxNestingDepth-1)), t0)
	if err == nil || strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("%d levels: got %v, want a type error, not a nesting one", maxNestingDepth, err)
	}
	_, err = Parse(NameSchedule, []byte(nested(maxNestingDepth)), t0)
	if err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("%d levels: got %v, want nested deeper", maxNestingDepth+1, err)
	}
}
