package command

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestDedupWindowOptions: Dedup 0 remembers the default 1024 ids, a
// negative Dedup none (a reused id is applied again).
func TestDedupWindowOptions(t *testing.T) {
	ctx := context.Background()
	p := func(id string, kw int) []byte { return fmt.Appendf(nil, `{"id":%q,"p":%d,"q":0}`, id, kw) }

	bus := &fakeBus{}
	h, _ := newTestHandler(bus, HandlerOptions{})
	h.Handle(ctx, NameSetpoint, p("x0", 1), mqttSrc)
	for i := 1; i < 1024; i++ {
		h.Handle(ctx, NameSetpoint, p(fmt.Sprintf("x%d", i), 1), mqttSrc)
	}
	if rep := h.Handle(ctx, NameSetpoint, p("x0", 2), mqttSrc); rep.OK || !strings.Contains(rep.Error, `duplicate id "x0"`) {
		t.Errorf("default window: id reused 1023 ids later: %+v, want refused as a duplicate", rep)
	}
	h.Handle(ctx, NameSetpoint, p("x1024", 1), mqttSrc)
	h.Handle(ctx, NameSetpoint, p("x1025", 1), mqttSrc)
	if rep := h.Handle(ctx, NameSetpoint, p("x1", 2), mqttSrc); !rep.OK {
		t.Errorf("default window: id reused 1024+ ids later: %+v, want applied", rep)
	}

	bus = &fakeBus{}
	h, _ = newTestHandler(bus, HandlerOptions{Dedup: -1})
	h.Handle(ctx, NameSetpoint, p("y", 1), mqttSrc)
	if rep := h.Handle(ctx, NameSetpoint, p("y", 1), mqttSrc); !rep.OK || len(bus.commands()) != 2 {
		t.Errorf("no dedup: redelivery %+v, %d commands applied; want both applied", rep, len(bus.commands()))
	}
}
