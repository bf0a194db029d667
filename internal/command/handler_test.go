package command

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/emsd/emsd/internal/dispatch"
)

// fakeBus records what it is given and answers with err, or blocks until
// ctx is done when block is set.
type fakeBus struct {
	mu    sync.Mutex
	got   []dispatch.Command
	srcs  []Source
	err   error
	block bool
	panic bool
}

func (b *fakeBus) Submit(ctx context.Context, cmd dispatch.Command, src Source) (time.Time, error) {
	if b.panic {
		panic("bus bug")
	}
	if b.block {
		<-ctx.Done()
		return time.Time{}, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return time.Time{}, b.err
	}
	b.got = append(b.got, cmd)
	b.srcs = append(b.srcs, src)
	return t0.Add(time.Second), nil
}

func (b *fakeBus) commands() []dispatch.Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]dispatch.Command(nil), b.got...)
}

// memAudit keeps records in memory.
type memAudit struct {
	mu   sync.Mutex
	recs []Record
}

func (m *memAudit) Audit(r Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return nil
}

func (m *memAudit) last() Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[len(m.recs)-1]
}

var mqttSrc = Source{Transport: "mqtt", Topic: "emsd/site/cmd/mode"}

func newTestHandler(bus Bus, o HandlerOptions) (*Handler, *memAudit) {
	a := &memAudit{}
	o.Audit = a
	o.Now = func() time.Time { return t0 }
	return NewHandler(bus, o), a
}

func TestHandleOK(t *testing.T) {
	bus := &fakeBus{}
	h, audit := newTestHandler(bus, HandlerOptions{})
	rep := h.Handle(context.Background(), NameMode, []byte(`{"id":"c1","mode":"agc"}`), mqttSrc)
	if !rep.OK || rep.ID != "c1" || rep.Error != "" || rep.AppliedAt == nil || !rep.AppliedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("reply = %+v", rep)
	}
	if got := bus.commands(); len(got) != 1 || got[0] != (dispatch.SetMode{Mode: dispatch.ModeAGC}) {
		t.Errorf("bus got %v", got)
	}
	if bus.srcs[0] != mqttSrc {
		t.Errorf("source = %+v", bus.srcs[0])
	}
	r := audit.last()
	if r.Result != ResultOK || r.ID != "c1" || r.Name != NameMode || r.Topic != mqttSrc.Topic || r.Payload != `{"id":"c1","mode":"agc"}` || r.AppliedAt == nil {
		t.Errorf("audit = %+v", r)
	}
	b, _ := json.Marshal(rep)
	if want := `{"id":"c1","ok":true,"applied_at":"2025-06-01T12:00:01Z"}`; string(b) != want {
		t.Errorf("reply JSON = %s, want %s", b, want)
	}
}

func TestHandleRefusals(t *testing.T) {
	refusal := errors.New("mode refused: plant is tripped")
	cases := []struct {
		label   string
		bus     *fakeBus
		remote  bool
		name    string
		payload string
		res     Result
		reason  string
		id      string
	}{
		{"malformed", &fakeBus{}, true, NameMode, `{"id":"m1","mode":1}`, ResultMalformed, "mode: expected a string", "m1"},
		{"invalid", &fakeBus{}, true, NameMode, `{"id":"m2","mode":"boost"}`, ResultInvalid, "unknown mode", "m2"},
		{"stale", &fakeBus{}, true, NameMode, `{"id":"m3","mode":"agc","expires_at":"2020-01-01T00:00:00Z"}`, ResultStale, "expired", "m3"},
		{"unknown", &fakeBus{}, true, "warp", `{"id":"m4"}`, ResultMalformed, "unknown command", "m4"},
		{"local mode", &fakeBus{}, false, NameMode, `{"id":"m5","mode":"agc"}`, ResultDenied, "remote control disabled (local mode)", "m5"},
		{"local mode bad", &fakeBus{}, false, NameMode, `{"id":"m6","mode":"zzz"}`, ResultDenied, "remote control disabled (local mode)", "m6"},
		{"refused", &fakeBus{err: refusal}, true, NameMode, `{"id":"m7","mode":"agc"}`, ResultRefused, "plant is tripped", "m7"},
		{"panic", &fakeBus{panic: true}, true, NameMode, `{"id":"m8","mode":"agc"}`, ResultError, "internal error", "m8"},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			h, audit := newTestHandler(c.bus, HandlerOptions{Authority: NewAuthority(c.remote)})
			rep := h.Handle(context.Background(), c.name, []byte(c.payload), mqttSrc)
			if rep.OK || rep.ID != c.id || !strings.Contains(rep.Error, c.reason) || rep.AppliedAt != nil {
				t.Errorf("reply = %+v, want error containing %q", rep, c.reason)
			}
			if got := c.bus.commands(); len(got) != 0 {
				t.Errorf("bus got %v", got)
			}
			if r := audit.last(); r.Result != c.res || r.ID != c.id || r.Reason == "" {
				t.Errorf("audit = %+v, want result %s", r, c.res)
			}
			if h.Counts()[c.res] != 1 {
				t.Errorf("counts = %v", h.Counts())
			}
		})
	}
}

func TestEStopIsAcceptedInLocalMode(t *testing.T) {
	bus := &fakeBus{}
	h, audit := newTestHandler(bus, HandlerOptions{Authority: NewAuthority(false)})
	if rep := h.Handle(context.Background(), NameMode, []byte(`{"id":"m","mode":"manual"}`), mqttSrc); rep.OK {
		t.Fatalf("remote mode change accepted in local mode: %+v", rep)
	}
	if rep := h.Handle(context.Background(), NameEStop, []byte(`{"id":"e","reason":"fire alarm"}`), mqttSrc); !rep.OK {
		t.Fatalf("remote emergency stop refused in local mode: %+v", rep)
	}
	if got := bus.commands(); len(got) != 1 {
		t.Fatalf("bus got %v, want only the emergency stop", got)
	}
	if r := audit.last(); r.ID != "e" || r.Result != ResultOK {
		t.Errorf("emergency stop not audited as accepted: %+v", r)
	}
}

func TestHandleLocalTransportIgnoresAuthority(t *testing.T) {
	bus := &fakeBus{}
	h, _ := newTestHandler(bus, HandlerOptions{Authority: NewAuthority(false)})
	if rep := h.Handle(context.Background(), NameEStop, []byte(`{"id":"hmi"}`), Source{Transport: TransportLocal}); !rep.OK {
		t.Fatalf("local command refused: %+v", rep)
	}
	h.Authority().SetRemoteEnabled(true)
	if rep := h.Handle(context.Background(), NameReset, []byte(`{"id":"r"}`), mqttSrc); !rep.OK {
		t.Fatalf("remote command refused after enabling: %+v", rep)
	}
	if len(bus.commands()) != 2 {
		t.Errorf("bus got %v", bus.commands())
	}
}

func TestHandleTimeoutAndExpiryWhileQueued(t *testing.T) {
	h := NewHandler(&fakeBus{block: true}, HandlerOptions{SubmitTimeout: 20 * time.Millisecond})
	rep := h.Handle(context.Background(), NameMode, []byte(`{"id":"t","mode":"agc"}`), mqttSrc)
	if rep.OK || !strings.Contains(rep.Error, "did not take the command within 20ms") {
		t.Errorf("timeout reply = %+v", rep)
	}
	h = NewHandler(&fakeBus{block: true}, HandlerOptions{SubmitTimeout: time.Second})
	exp := time.Now().Add(30 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	rep = h.Handle(context.Background(), NameMode, []byte(`{"id":"e","mode":"agc","expires_at":"`+exp+`"}`), mqttSrc)
	if rep.OK || !strings.Contains(rep.Error, "expired before the control loop applied it") {
		t.Errorf("expiry reply = %+v", rep)
	}
	if c := h.Counts(); c[ResultStale] != 1 {
		t.Errorf("counts = %v", c)
	}
}

func TestHandleDedup(t *testing.T) {
	bus := &fakeBus{}
	h, audit := newTestHandler(bus, HandlerOptions{Dedup: 2})
	p := []byte(`{"id":"d1","p":100,"q":0}`)
	first := h.Handle(context.Background(), NameSetpoint, p, mqttSrc)
	again := h.Handle(context.Background(), NameSetpoint, p, mqttSrc)
	if !first.OK || !again.OK || !again.AppliedAt.Equal(*first.AppliedAt) {
		t.Errorf("redelivery: first %+v again %+v", first, again)
	}
	if len(bus.commands()) != 1 {
		t.Errorf("redelivery applied twice: %v", bus.commands())
	}
	if r := audit.last(); r.Result != ResultDuplicate {
		t.Errorf("audit = %+v", r)
	}
	other := h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d1","p":200,"q":0}`), mqttSrc)
	if other.OK || !strings.Contains(other.Error, `duplicate id "d1"`) {
		t.Errorf("reused id: %+v", other)
	}
	// The window holds 2 ids: after two more, d1 is forgotten.
	h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d2","p":1,"q":0}`), mqttSrc)
	h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d3","p":1,"q":0}`), mqttSrc)
	if rep := h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d1","p":200,"q":0}`), mqttSrc); !rep.OK {
		t.Errorf("after eviction: %+v", rep)
	}
	// A malformed command does not claim its id.
	h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d9","p":"x"}`), mqttSrc)
	if rep := h.Handle(context.Background(), NameSetpoint, []byte(`{"id":"d9","p":1,"q":0}`), mqttSrc); !rep.OK {
		t.Errorf("fixed command with the id of a malformed one: %+v", rep)
	}
}

// FuzzHandle checks that Handle never panics and always answers.
func FuzzHandle(f *testing.F) {
	f.Add(NameMode, []byte(`{"id":"a","mode":"manual"}`), true)
	f.Add(NameSchedule, []byte(`{"id":"a","points":[1]}`), false)
	f.Add("x/y", []byte{0xff, 0xfe}, true)
	f.Fuzz(func(t *testing.T, name string, payload []byte, remote bool) {
		h := NewHandler(&fakeBus{}, HandlerOptions{Authority: NewAuthority(remote), Audit: &memAudit{}})
		rep := h.Handle(context.Background(), name, payload, mqttSrc)
		if rep.OK == (rep.Error != "") {
			t.Fatalf("reply %+v: exactly one of ok and error expected", rep)
		}
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTruncatePayload(t *testing.T) {
	s, cut := truncatePayload([]byte("héllo"), 2) // cut inside é
	if s != "h" || !cut {
		t.Errorf("got %q %v", s, cut)
	}
	s, cut = truncatePayload([]byte{'a', 0xff}, 10)
	if s != "a\uFFFD" || cut {
		t.Errorf("got %q %v", s, cut)
	}
}

func TestFileAudit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	fa, err := OpenFileAudit(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(&fakeBus{}, HandlerOptions{Audit: fa, Now: func() time.Time { return t0 }})
	h.Handle(context.Background(), NameMode, []byte(`{"id":"f1","mode":"agc"}`), mqttSrc)
	long := `{"id":"f2","reason":"` + strings.Repeat("z", 3000) + `"}`
	h.Handle(context.Background(), NameEStop, []byte(long), mqttSrc)
	h.Handle(context.Background(), NameMode, []byte(`{"id":"f3"`), mqttSrc)
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen and append: the file keeps growing.
	fa, _ = OpenFileAudit(dir, false)
	if err := fa.Audit(Record{Time: t0, Name: "x", Result: ResultOK}); err != nil {
		t.Fatal(err)
	}
	fa.Close()
	if err := fa.Audit(Record{Time: t0}); err == nil {
		t.Error("audit after Close succeeded")
	}

	f, err := os.Open(filepath.Join(dir, "commands-2025-06-01.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 4 {
		t.Fatalf("got %d records", len(recs))
	}
	if recs[0].ID != "f1" || recs[0].Result != ResultOK || recs[0].Transport != "mqtt" {
		t.Errorf("rec 0 = %+v", recs[0])
	}
	if !recs[1].Truncated || len(recs[1].Payload) != MaxAuditPayload || recs[1].Size != len(long) {
		t.Errorf("rec 1 truncated=%v len=%d size=%d", recs[1].Truncated, len(recs[1].Payload), recs[1].Size)
	}
	if recs[2].Result != ResultMalformed || !strings.Contains(recs[2].Reason, "invalid JSON") {
		t.Errorf("rec 2 = %+v", recs[2])
	}
	if h.AuditErrors() != 0 {
		t.Errorf("audit errors = %d", h.AuditErrors())
	}
}

func TestZapAudit(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	a := MultiAudit{ZapAudit{Log: zap.New(core)}}
	h := NewHandler(&fakeBus{}, HandlerOptions{Audit: a})
	h.Handle(context.Background(), NameMode, []byte(`{"id":"z1","mode":"agc"}`), mqttSrc)
	h.Handle(context.Background(), NameMode, []byte(`{"id":"z2","mode":"no"}`), mqttSrc)
	es := logs.All()
	if len(es) != 2 || es[0].Level != zap.InfoLevel || es[1].Level != zap.WarnLevel {
		t.Fatalf("entries = %+v", es)
	}
	if f := es[1].ContextMap(); f["id"] != "z2" || f["result"] != "invalid" || f["reason"] == nil {
		t.Errorf("fields = %v", f)
	}
}

// TestHandleBatchNewestWins: of the valid commands of one name between two
// emergency stops or resets only the newest is submitted; the others are
// answered "superseded" and audited, and each keeps its own refusal.
func TestHandleBatchNewestWins(t *testing.T) {
	bus := &fakeBus{}
	h, audit := newTestHandler(bus, HandlerOptions{})
	msg := func(name, payload string) Message { return Message{Name: name, Payload: []byte(payload), Src: mqttSrc} }
	retained := msg(NameMode, `{"id":"r","mode":"standby"}`)
	retained.Refuse = "retained"
	msgs := []Message{
		msg(NameMode, `{"id":"a","mode":"manual"}`),
		msg(NameSetpoint, `{"id":"b","p":100}`),
		msg(NameMode, `{"id":"c","mode":"turbo"}`), // invalid: replaces nothing
		msg(NameMode, `{"id":"d","mode":"agc","operator":"alice"}`),
		retained, // refused: replaces nothing
		msg(NameEStop, `{"id":"e"}`),
		msg(NameMode, `{"id":"f","mode":"standby"}`),
		msg(NameSetpoint, `{"id":"g","p":200}`),
		msg(NameSetpoint, `{"id":"h","p":300}`),
	}
	reps := h.HandleBatch(context.Background(), msgs)
	want := map[string]string{"a": `superseded by id "d"`, "b": "", "c": "unknown mode", "d": "", "r": "retained",
		"e": "", "f": "", "g": `superseded by id "h"`, "h": ""}
	for i, r := range reps {
		w := want[r.ID]
		if (w == "") != r.OK || !strings.Contains(r.Error, w) {
			t.Errorf("%d: reply %+v, want %q", i, r, w)
		}
	}
	wantCmds := []dispatch.Command{dispatch.ManualSetpoint{P: 100}, dispatch.SetMode{Mode: dispatch.ModeAGC}, dispatch.EStop{},
		dispatch.SetMode{Mode: dispatch.ModeStandby}, dispatch.ManualSetpoint{P: 300}}
	if got := bus.commands(); !slices.Equal(got, wantCmds) {
		t.Errorf("bus got %v, want %v", got, wantCmds)
	}
	if len(audit.recs) != len(msgs) {
		t.Fatalf("%d audit records for %d commands", len(audit.recs), len(msgs))
	}
	if r := audit.recs[0]; r.Result != ResultSuperseded || r.ID != "a" {
		t.Errorf("audit of a: %+v", r)
	}
	if r := audit.recs[3]; r.Operator != "alice" || r.Result != ResultOK {
		t.Errorf("audit of d: %+v, want operator alice", r)
	}
	if c := h.Counts(); c[ResultSuperseded] != 2 || c[ResultOK] != 5 {
		t.Errorf("counts %v", c)
	}
	if rep := h.Handle(context.Background(), NameMode, []byte(`{"id":"x","mode":"agc","operator":""}`), mqttSrc); rep.OK || !strings.Contains(rep.Error, "operator: must not be empty") {
		t.Errorf("empty operator: %+v", rep)
	}
}
