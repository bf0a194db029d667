package command

import (
	"context"
	"testing"
	"time"
)

// TestGateRefusesWithoutRemembering: a closed gate (a standby) refuses a
// command with its reason, audited, without submitting it and without
// remembering its id, so the same command, retried once the gate opens
// (the standby took over), is applied rather than answered with the old
// refusal.
func TestGateRefusesWithoutRemembering(t *testing.T) {
	reason := "standby; the active controller is ctl-a"
	gate := reason
	var audit []Record
	h := NewHandler(slowBus{}, HandlerOptions{
		Gate:  func() string { return gate },
		Audit: auditFunc(func(r Record) error { audit = append(audit, r); return nil }),
	})
	src := Source{Transport: "mqtt", Topic: "emsd/site/cmd/setpoint"}
	cmd := []byte(`{"id":"g1","p":100}`)
	if rep := h.Handle(context.Background(), NameSetpoint, cmd, src); rep.OK || rep.Error != reason || rep.ID != "g1" {
		t.Fatalf("closed gate: %+v, want refused %q", rep, reason)
	}
	if len(audit) != 1 || audit[0].Result != ResultRefused || audit[0].Reason != reason {
		t.Fatalf("audit %+v, want one refusal with the gate's reason", audit)
	}
	gate = ""
	if rep := h.Handle(context.Background(), NameSetpoint, cmd, src); !rep.OK || rep.AppliedAt == nil || rep.AppliedAt.After(time.Now()) {
		t.Fatalf("open gate, same command again: %+v, want applied", rep)
	}
}

type auditFunc func(Record) error

func (f auditFunc) Audit(r Record) error { return f(r) }
