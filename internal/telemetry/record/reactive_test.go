package record

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/reactive"
)

// TestReactiveFields: the plant point carries the reactive mode's Q target
// (last of the interval) and what limited Q.
func TestReactiveFields(t *testing.T) {
	sink := &memSink{}
	r, _ := New(sink, Options{Site: "s1"})
	v := testView(1, 1)
	rep := report()
	rep.QTarget, rep.Q, rep.QBinding = 900, 700, reactive.BindLimit
	r.Observe(v, rep)
	rep.QTarget, rep.QBinding = 800, reactive.BindApparent
	r.Observe(v, rep)
	r.Flush(t0)
	pl := one(t, sink.take(), MPlant).Fields
	if pl["q_target_kvar"] != 800.0 || pl["q_binding"] != "apparent_power" || pl["setpoint_q_kvar"] != 700.0 {
		t.Errorf("q_target_kvar %v, q_binding %v, setpoint_q_kvar %v; want 800, apparent_power, 700",
			pl["q_target_kvar"], pl["q_binding"], pl["setpoint_q_kvar"])
	}
	r.Observe(v, report()) // a report without a reactive binding says none
	r.Flush(t0.Add(time.Second))
	if b := one(t, sink.take(), MPlant).Fields["q_binding"]; b != "none" {
		t.Errorf("q_binding %v, want none", b)
	}
}
