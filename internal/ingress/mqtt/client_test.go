package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/testutil"
)

const site = "site1"

// recBus is the station side of the command path in these tests: it
// records the commands it is given and applies them at once.
type recBus struct {
	mu  sync.Mutex
	got []dispatch.Command
}

func (b *recBus) Submit(_ context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, cmd)
	return time.Now(), nil
}

func (b *recBus) commands() []dispatch.Command {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// plantState stands in for the caller's state struct.
type plantState struct {
	P, Q, SOC, F float64
	Mode         string
}

// startClient starts a Client for site on the broker at addr.
func startClient(t testing.TB, addr string, h CommandHandler, mod func(*Options)) *Client {
	t.Helper()
	o := Options{
		Brokers:              []string{"tcp://" + addr},
		Site:                 site,
		ClientID:             fmt.Sprintf("emsd-test-%d", time.Now().UnixNano()),
		KeepAlive:            2 * time.Second,
		ConnectTimeout:       2 * time.Second,
		ConnectRetryInterval: 100 * time.Millisecond,
		MaxReconnectInterval: 500 * time.Millisecond,
		StateInterval:        50 * time.Millisecond,
	}
	o.Log = zaptest.NewLogger(t)
	if mod != nil {
		mod(&o)
	}
	c, err := New(o, h)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client stats at failure: %+v", c.Stats())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// operator is a second, independent MQTT client: the test's view of the broker.
type operator struct {
	t  testing.TB
	pc paho.Client
}

func newOperator(t testing.TB, addr string) *operator {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("operator-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
	pc := paho.NewClient(o)
	if tok := pc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { pc.Disconnect(100) })
	return &operator{t: t, pc: pc}
}

// sub subscribes to filter and returns the messages that arrive.
func (op *operator) sub(filter string) chan paho.Message {
	op.t.Helper()
	ch := make(chan paho.Message, 4096)
	tok := op.pc.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) { ch <- m })
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		op.t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func (op *operator) pub(topic string, payload []byte, retained bool) {
	op.t.Helper()
	tok := op.pc.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		op.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// await returns the first message on ch that satisfies ok.
func await(t testing.TB, ch chan paho.Message, d time.Duration, what string, ok func(paho.Message) bool) paho.Message {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-ch:
			if ok(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("timed out after %s waiting for %s", d, what)
			return nil
		}
	}
}

func payloadIs(s string) func(paho.Message) bool {
	return func(m paho.Message) bool { return string(m.Payload()) == s }
}

// replyFor waits for the reply with the given id.
func replyFor(t testing.TB, ch chan paho.Message, id string) (command.Reply, string) {
	t.Helper()
	var rep command.Reply
	m := await(t, ch, 5*time.Second, "reply to "+id, func(m paho.Message) bool {
		var r command.Reply
		if json.Unmarshal(m.Payload(), &r) != nil || r.ID != id {
			return false
		}
		rep = r
		return true
	})
	if m.Retained() {
		t.Errorf("reply %s is retained", id)
	}
	return rep, m.Topic()
}

func awaitOnline(t testing.TB, op *operator) chan paho.Message {
	t.Helper()
	// Everything on the broker, kept (up to a point) for the failure log.
	spy := make(chan paho.Message, 256)
	op.pc.Subscribe("#", 0, func(_ paho.Client, m paho.Message) {
		select {
		case spy <- m:
		default:
		}
	}).WaitTimeout(5 * time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			for len(spy) > 0 {
				m := <-spy
				t.Logf("broker traffic: %s retained=%v %.80s", m.Topic(), m.Retained(), m.Payload())
			}
		}
	})
	st := op.sub("emsd/" + site + "/status")
	await(t, st, 10*time.Second, "status online", payloadIs(StatusOnline))
	return st
}

func TestCommandRoundTripAndPublishing(t *testing.T) {
	b := newBroker(t)
	bus := &recBus{}
	h := command.NewHandler(bus, command.HandlerOptions{})
	c := startClient(t, b.Addr(), h, func(o *Options) {
		o.State = func() (any, map[string]any) {
			return plantState{P: 1200, Q: -50, SOC: 61.5, F: 49.98, Mode: "agc"},
				map[string]any{"pcs1": map[string]float64{"p": 600}, "pcs2": map[string]float64{"p": 600}}
		}
	})
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	state := op.sub("emsd/" + site + "/state")
	units := op.sub("emsd/" + site + "/units/+/state")
	events := op.sub("emsd/" + site + "/events")
	alarms := op.sub("emsd/" + site + "/alarms")

	before := time.Now()
	op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"rt-1","mode":"agc"}`), false)
	rep, topic := replyFor(t, replies, "rt-1")
	if topic != "emsd/site1/cmd/mode/reply" {
		t.Errorf("reply topic = %s", topic)
	}
	if !rep.OK || rep.Error != "" || rep.AppliedAt == nil || rep.AppliedAt.Before(before.Add(-time.Second)) {
		t.Errorf("reply = %+v", rep)
	}
	op.pub("emsd/"+site+"/cmd/setpoint", []byte(`{"id":"rt-2","p":-2500,"q":100}`), false)
	if rep, _ := replyFor(t, replies, "rt-2"); !rep.OK {
		t.Errorf("setpoint reply = %+v", rep)
	}
	want := []dispatch.Command{dispatch.SetMode{Mode: dispatch.ModeAGC}, dispatch.ManualSetpoint{P: -2500, Q: 100}}
	if got := bus.commands(); !slices.Equal(got, want) {
		t.Errorf("bus got %#v, want %#v", got, want)
	}

	m := await(t, state, 5*time.Second, "state", func(paho.Message) bool { return true })
	var ps plantState
	if err := json.Unmarshal(m.Payload(), &ps); err != nil || ps.SOC != 61.5 || ps.Mode != "agc" {
		t.Errorf("state %s: %v", m.Payload(), err)
	}
	if m.Retained() || m.Qos() != 0 {
		t.Errorf("state retained=%v qos=%d", m.Retained(), m.Qos())
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		m := await(t, units, 5*time.Second, "unit states", func(paho.Message) bool { return true })
		seen[m.Topic()] = true
	}
	if !seen["emsd/site1/units/pcs1/state"] || !seen["emsd/site1/units/pcs2/state"] {
		t.Errorf("unit topics = %v", seen)
	}

	if err := c.Event(map[string]string{"kind": "mode_change", "to": "agc"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Alarm(map[string]any{"unit": "pcs1", "level": 2}); err != nil {
		t.Fatal(err)
	}
	ev := await(t, events, 5*time.Second, "event", payloadIs(`{"kind":"mode_change","to":"agc"}`))
	al := await(t, alarms, 5*time.Second, "alarm", payloadIs(`{"level":2,"unit":"pcs1"}`))
	if ev.Qos() != 1 || ev.Retained() || al.Qos() != 1 || al.Retained() {
		t.Errorf("event qos=%d retained=%v, alarm qos=%d retained=%v", ev.Qos(), ev.Retained(), al.Qos(), al.Retained())
	}
	if err := c.Event(func() {}); err == nil {
		t.Error("Event accepted a value JSON cannot encode")
	}

	s := c.Stats()
	if !s.Connected || s.CommandsOK != 2 || s.CommandsFailed != 0 || s.Published < 5 || s.Reconnects != 0 {
		t.Errorf("stats = %+v", s)
	}
	if hc := h.Counts(); hc[command.ResultOK] != 2 {
		t.Errorf("handler counts = %v", hc)
	}
}

func TestMalformedCommandsThroughBroker(t *testing.T) {
	b := newBroker(t)
	bus := &recBus{}
	auth := command.NewAuthority(true)
	h := command.NewHandler(bus, command.HandlerOptions{Authority: auth})
	c := startClient(t, b.Addr(), h, nil)
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")

	big := `{"id":"m-big","points":[` + strings.Repeat("1234.5,", 12000) + `1]}`
	cases := []struct {
		id, name, payload, reason string
	}{
		{"m-json", "mode", `{"id":"m-json","mode":`, "invalid JSON"},
		{"", "mode", `{"mode":"agc","id":`, "invalid JSON"},
		{"m-type", "setpoint", `{"id":"m-type","p":"lots","q":0}`, "p: expected a number, got string"},
		{"m-range", "frequency_response", `{"id":"m-range","enable":true,"droop_pct":50,"dead_band":0.03}`, "droop_pct: 50 is outside [0.5, 5]"},
		{"m-unknown-cmd", "self_destruct", `{"id":"m-unknown-cmd"}`, `unknown command "self_destruct"`},
		{"m-field", "mode", `{"id":"m-field","mode":"agc","priority":9}`, `unknown field "priority"`},
		{"m-big", "schedule", big, "payload too large"},
		{"", "mode", `{"mode":"agc"}`, "id: required"},
		{"m-expired", "mode", `{"id":"m-expired","mode":"agc","expires_at":"2001-01-01T00:00:00Z"}`, "stale command: expired at 2001-01-01T00:00:00Z"},
		{"m-trailing", "estop", `{"id":"m-trailing"}{"id":"x"}`, "trailing data"},
	}
	for _, tc := range cases {
		op.pub("emsd/"+site+"/cmd/"+tc.name, []byte(tc.payload), false)
		rep, topic := replyFor(t, replies, tc.id)
		if rep.OK || !strings.Contains(rep.Error, tc.reason) || rep.AppliedAt != nil {
			t.Errorf("%s: reply %+v, want an error containing %q", tc.name, rep, tc.reason)
		}
		if topic != "emsd/site1/cmd/"+tc.name+"/reply" {
			t.Errorf("%s: reply on %s", tc.name, topic)
		}
		t.Logf("%-20s -> %s", tc.name, rep.Error)
	}

	// Local mode refuses even a good command (all but an emergency stop,
	// which the command handler's own tests cover).
	auth.SetRemoteEnabled(false)
	op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"m-local","mode":"standby"}`), false)
	if rep, _ := replyFor(t, replies, "m-local"); rep.OK || rep.Error != "remote control disabled (local mode)" {
		t.Errorf("local mode reply = %+v", rep)
	}
	auth.SetRemoteEnabled(true)

	if got := bus.commands(); len(got) != 0 {
		t.Errorf("bus got %v from bad commands", got)
	}
	op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"m-good","mode":"peak_shaving"}`), false)
	if rep, _ := replyFor(t, replies, "m-good"); !rep.OK || rep.AppliedAt == nil {
		t.Errorf("good command after bad ones: %+v", rep)
	}
	if got := bus.commands(); !slices.Equal(got, []dispatch.Command{dispatch.SetMode{Mode: dispatch.ModePeakShaving}}) {
		t.Errorf("bus got %v", got)
	}
	s := c.Stats()
	if s.CommandsOK != 1 || s.CommandsFailed != uint64(len(cases))+1 || !s.Connected {
		t.Errorf("stats = %+v", s)
	}
}

// TestRetainedCommandRefused publishes retained commands before the client
// subscribes (replayed to it flagged retained) and while it is subscribed
// (delivered live without the flag, and stored): both are refused, with one
// reply each, and removed from the broker, on Mosquitto and on mochi.
func TestRetainedCommandRefused(t *testing.T) {
	eachBroker(t, func(t *testing.T, b testBroker) {
		op := newOperator(t, b.Addr())
		replies := op.sub("emsd/" + site + "/cmd/+/reply")
		// Left retained on the broker, it would be replayed on every resubscribe.
		op.pub("emsd/"+site+"/cmd/estop", []byte(`{"id":"stuck"}`), true)
		// Start the client only once the broker holds the estop as a
		// retained message: a client subscribed before that would get it
		// as a live command.
		await(t, newOperator(t, b.Addr()).sub("emsd/"+site+"/cmd/estop"), 5*time.Second, "the broker to hold the retained estop",
			func(m paho.Message) bool { return m.Retained() })
		bus := &recBus{}
		startClient(t, b.Addr(), command.NewHandler(bus, command.HandlerOptions{}), nil)
		if rep, _ := replyFor(t, replies, "stuck"); rep.OK || !strings.Contains(rep.Error, "retained commands are refused") {
			t.Errorf("retained reply = %+v", rep)
		}
		awaitOnline(t, op)
		op.pub("emsd/"+site+"/cmd/setpoint", []byte(`{"id":"live","p":9000}`), true)
		if rep, _ := replyFor(t, replies, "live"); rep.OK || !strings.Contains(rep.Error, "retained commands are refused") {
			t.Errorf("retained command published live: reply %+v", rep)
		}
		op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"plain","mode":"agc"}`), false)
		if rep, _ := replyFor(t, replies, "plain"); !rep.OK {
			t.Errorf("plain command after the retained ones: %+v", rep)
		}
		if got := bus.commands(); !slices.Equal(got, []dispatch.Command{dispatch.SetMode{Mode: dispatch.ModeAGC}}) {
			t.Errorf("bus got %v", got)
		}
		// Nothing stays on the broker, and nothing got a second reply.
		probe := newOperator(t, b.Addr())
		stored := probe.sub("emsd/" + site + "/cmd/+")
		time.Sleep(300 * time.Millisecond)
		for len(stored) > 0 {
			if m := <-stored; m.Retained() && len(m.Payload()) > 0 {
				t.Errorf("the broker still holds %s %s", m.Topic(), m.Payload())
			}
		}
		for len(replies) > 0 {
			t.Errorf("extra reply %s", (<-replies).Payload())
		}
	})
}

// TestRetainedCheckFailureRefusesAllButEStop runs Mosquitto with an ACL
// that silently drops the client's markers, so the retained check never
// completes: commands are refused with the reason, an emergency stop still
// goes ahead.
func TestRetainedCheckFailureRefusesAllButEStop(t *testing.T) {
	path := testutil.NeedProgram(t, "mosquitto")
	b := &mosquittoBroker{path: path, addr: freeAddr(t), dir: t.TempDir(),
		brokerOpts: brokerOpts{acl: "topic readwrite emsd/" + site + "/cmd/#\ntopic readwrite emsd/" + site + "/status\ntopic read emsd/" + site + "/cmd_probe\n"}}
	b.Start(t)
	t.Cleanup(func() { b.Stop(t) })
	bus := &recBus{}
	startClient(t, b.Addr(), command.NewHandler(bus, command.HandlerOptions{}), func(o *Options) { o.WriteTimeout = 300 * time.Millisecond })
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"m","mode":"agc"}`), false)
	if rep, _ := replyFor(t, replies, "m"); rep.OK || !strings.Contains(rep.Error, "could not check the broker for a retained copy") {
		t.Errorf("mode without the retained check: %+v", rep)
	}
	op.pub("emsd/"+site+"/cmd/estop", []byte(`{"id":"s"}`), false)
	if rep, _ := replyFor(t, replies, "s"); !rep.OK {
		t.Errorf("estop without the retained check: %+v", rep)
	}
	if got := bus.commands(); !slices.Equal(got, []dispatch.Command{dispatch.EStop{}}) {
		t.Errorf("bus got %v, want only the estop", got)
	}
}

// slowBus applies commands only when released, like a control loop that
// stalls, and records the order.
type slowBus struct {
	recBus
	gate chan struct{}
}

func (b *slowBus) Submit(ctx context.Context, cmd dispatch.Command, src command.Source) (time.Time, error) {
	select {
	case <-b.gate:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	return b.recBus.Submit(ctx, cmd, src)
}

// TestCommandStormNewestWins fills the command queue while the control
// loop stalls: no command is refused busy, each gets one reply, and the
// last one sent is the last applied.
func TestCommandStormNewestWins(t *testing.T) {
	b := newBroker(t)
	bus := &slowBus{gate: make(chan struct{})}
	c := startClient(t, b.Addr(), command.NewHandler(bus, command.HandlerOptions{}), func(o *Options) { o.CommandQueue = 8 })
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	modes := []dispatch.Mode{dispatch.ModeManual, dispatch.ModeAGC, dispatch.ModePeakShaving, dispatch.ModeStandby}
	const n = 60
	for i := range n {
		op.pub("emsd/"+site+"/cmd/mode", fmt.Appendf(nil, `{"id":"s%d","mode":%q}`, i, modes[i%len(modes)]), false)
		if i == 20 { // an emergency stop in the middle is never coalesced away
			op.pub("emsd/"+site+"/cmd/estop", []byte(`{"id":"stop"}`), false)
		}
	}
	time.Sleep(200 * time.Millisecond)
	close(bus.gate)
	got := map[string][]command.Reply{}
	deadline := time.After(10 * time.Second)
	for len(got) < n+1 {
		select {
		case m := <-replies:
			var r command.Reply
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Fatal(err)
			}
			got[r.ID] = append(got[r.ID], r)
		case <-deadline:
			t.Fatalf("%d of %d commands answered", len(got), n+1)
		}
	}
	time.Sleep(200 * time.Millisecond)
	for len(replies) > 0 {
		t.Errorf("extra reply %s", (<-replies).Payload())
	}
	for id, rs := range got {
		if len(rs) != 1 {
			t.Errorf("%s: %d replies", id, len(rs))
		}
		if r := rs[0]; !r.OK && !strings.Contains(r.Error, "superseded by id") {
			t.Errorf("%s: %+v, want applied or superseded", id, r)
		}
	}
	if r := got[fmt.Sprintf("s%d", n-1)][0]; !r.OK {
		t.Errorf("last command: %+v", r)
	}
	cmds := bus.commands()
	if !slices.Contains(cmds, dispatch.Command(dispatch.EStop{})) {
		t.Errorf("the emergency stop was not applied: %v", cmds)
	}
	if last := cmds[len(cmds)-1]; last != (dispatch.SetMode{Mode: modes[(n-1)%len(modes)]}) {
		t.Errorf("last applied %v, want the last sent", last)
	}
	s := c.Stats()
	t.Logf("%d commands: %d applied, stats %+v", n+1, len(cmds), s)
	if s.CommandsBusy != 0 || s.Superseded == 0 {
		t.Errorf("stats %+v: want none busy, some superseded", s)
	}
}

func TestBrokerRestart(t *testing.T) {
	b := newBroker(t)
	bus := &recBus{}
	c := startClient(t, b.Addr(), command.NewHandler(bus, command.HandlerOptions{}), nil)
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	op.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"before","mode":"manual"}`), false)
	if rep, _ := replyFor(t, replies, "before"); !rep.OK {
		t.Fatalf("before restart: %+v", rep)
	}

	b.Stop(t)
	deadline := time.Now().Add(5 * time.Second)
	for c.Connected() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Connected() {
		t.Fatal("client still connected after the broker stopped")
	}
	// Events raised during the outage wait in the queue.
	if err := c.Event(map[string]string{"kind": "during_outage"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b.Start(t)

	// A fresh subscriber on the restarted broker (no persistence) sees the
	// retained online only if the client published it again.
	op2 := newOperator(t, b.Addr())
	replies2 := op2.sub("emsd/" + site + "/cmd/+/reply")
	events := op2.sub("emsd/" + site + "/events")
	await(t, op2.sub("emsd/"+site+"/status"), 15*time.Second, "status online after restart", payloadIs(StatusOnline))
	// A subscriber arriving later gets it as a retained message: the
	// restarted broker (no persistence) only has it because the client
	// published it again.
	op3 := newOperator(t, b.Addr())
	m := await(t, op3.sub("emsd/"+site+"/status"), 5*time.Second, "retained status online after restart", payloadIs(StatusOnline))
	if !m.Retained() {
		t.Error("status online after restart is not retained")
	}

	op2.pub("emsd/"+site+"/cmd/mode", []byte(`{"id":"after","mode":"agc"}`), false)
	if rep, _ := replyFor(t, replies2, "after"); !rep.OK {
		t.Fatalf("after restart: %+v", rep)
	}
	await(t, events, 5*time.Second, "event queued during the outage", payloadIs(`{"kind":"during_outage"}`))
	if s := c.Stats(); s.Reconnects < 1 || !s.Connected || s.CommandsOK != 2 {
		t.Errorf("stats = %+v", s)
	}
	if got := bus.commands(); len(got) != 2 {
		t.Errorf("bus got %v", got)
	}
}

func TestWillOnAbruptDisconnect(t *testing.T) {
	b := newBroker(t)
	p := newProxy(t, b.Addr())
	c := startClient(t, p.Addr(), command.NewHandler(&recBus{}, command.HandlerOptions{}), func(o *Options) {
		o.MaxReconnectInterval = 200 * time.Millisecond
	})
	op := newOperator(t, b.Addr()) // directly on the broker
	st := awaitOnline(t, op)

	// Cut the network: no DISCONNECT packet, so the broker must publish the
	// will. Reconnection is held off until the will is seen, so that the
	// broker does not see a session takeover instead.
	p.block(true)
	p.sever()
	m := await(t, st, 10*time.Second, "will: status offline", payloadIs(StatusOffline))
	if m.Qos() != 1 {
		t.Errorf("will qos = %d", m.Qos())
	}
	p.block(false)
	// The client reconnects through the proxy and says online again.
	await(t, st, 10*time.Second, "status online after reconnect", payloadIs(StatusOnline))
	// The will was retained: a new subscriber now sees "online", the latest.
	op2 := newOperator(t, b.Addr())
	if m := await(t, op2.sub("emsd/"+site+"/status"), 5*time.Second, "retained online", payloadIs(StatusOnline)); !m.Retained() {
		t.Error("online after reconnect is not retained")
	}
	if s := c.Stats(); s.Reconnects < 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCleanShutdownPublishesOffline(t *testing.T) {
	b := newBroker(t)
	c := startClient(t, b.Addr(), command.NewHandler(&recBus{}, command.HandlerOptions{}), nil)
	op := newOperator(t, b.Addr())
	st := awaitOnline(t, op)
	events := op.sub("emsd/" + site + "/events")
	for i := range 50 {
		if err := c.Event(map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, st, 5*time.Second, "status offline", payloadIs(StatusOffline))
	// Queued events were flushed before the disconnect.
	await(t, events, 5*time.Second, "last queued event", payloadIs(`{"n":49}`))
	if err := c.Close(ctx); err != ErrClosed {
		t.Errorf("second Close = %v", err)
	}
	if err := c.Event("late"); err != ErrClosed {
		t.Errorf("Event after Close = %v", err)
	}
	op2 := newOperator(t, b.Addr())
	m := await(t, op2.sub("emsd/"+site+"/status"), 5*time.Second, "retained offline", payloadIs(StatusOffline))
	if !m.Retained() {
		t.Error("offline is not retained")
	}
}

func TestStateQueueDropsWhenFull(t *testing.T) {
	b := newBroker(t)
	// A tiny queue and a fast ticker with many units: the queue overflows
	// and the drops are counted, while events still get through.
	many := map[string]any{}
	for i := range 200 {
		many[fmt.Sprintf("u%03d", i)] = map[string]int{"i": i}
	}
	c := startClient(t, b.Addr(), nil, func(o *Options) {
		o.QueueSize = 4
		o.StateInterval = 5 * time.Millisecond
		o.State = func() (any, map[string]any) { return nil, many }
	})
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Dropped == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := c.Stats(); s.Dropped == 0 || s.Published == 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestOptions(t *testing.T) {
	bad := []Options{
		{Site: "s"},
		{Brokers: []string{"http://x:1"}, Site: "s"},
		{Brokers: []string{"tcp://x:1"}},
		{Brokers: []string{"tcp://x:1"}, Site: "a/b"},
		{Brokers: []string{"tcp://x:1"}, Site: "s", Prefix: "a/+"},
		{Brokers: []string{"tcp://x:1"}, Site: "s", QoS: 2},
		{Brokers: []string{"tcp://x:1"}, Site: "s", CertFile: "c.pem"},
		{Brokers: []string{"ssl://x:1"}, Site: "s", CAFile: "/nonexistent/ca.pem"},
	}
	for _, o := range bad {
		if _, err := New(o, nil); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	c, err := New(Options{Brokers: []string{"ssl://x:8883"}, Site: "s", Prefix: "ems/cn"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.o.ClientID != "emsd-s" || c.Topic("state") != "ems/cn/s/state" || c.t.reply("mode") != "ems/cn/s/cmd/mode/reply" {
		t.Errorf("defaults: %+v", c.o)
	}
	if tc, _ := c.o.tlsConfig(); tc == nil || tc.InsecureSkipVerify {
		t.Errorf("ssl:// must verify certificates by default: %+v", tc)
	}
}

// TestStateRoundIsOneSnapshot: each state round publishes the plant state
// and the unit states of one call of State, so a round never mixes
// control cycles. The source numbers its calls; every unit state must
// carry a number also published as a plant state.
func TestStateRoundIsOneSnapshot(t *testing.T) {
	b := newBroker(t)
	var calls atomic.Int64
	type stamp struct{ Cycle int64 }
	startClient(t, b.Addr(), nil, func(o *Options) {
		o.StateInterval = 10 * time.Millisecond
		o.State = func() (any, map[string]any) {
			n := calls.Add(1)
			return stamp{n}, map[string]any{"u1": stamp{n}, "u2": stamp{n}}
		}
	})
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	state := op.sub("emsd/" + site + "/state")
	units := op.sub("emsd/" + site + "/units/+/state")
	cycle := func(m paho.Message) int64 {
		var s stamp
		if err := json.Unmarshal(m.Payload(), &s); err != nil || s.Cycle == 0 {
			t.Fatalf("%s: %s: %v", m.Topic(), m.Payload(), err)
		}
		return s.Cycle
	}
	plants := map[int64]bool{}
	for len(plants) < 20 {
		plants[cycle(await(t, state, 5*time.Second, "plant state", func(paho.Message) bool { return true }))] = true
	}
	for range 20 {
		m := await(t, units, 5*time.Second, "unit state", func(paho.Message) bool { return true })
		n := cycle(m)
		for !plants[n] && len(plants) < 200 {
			plants[cycle(await(t, state, 5*time.Second, "plant state", func(paho.Message) bool { return true }))] = true
		}
		if !plants[n] {
			t.Fatalf("%s from call %d, and no plant state from that call", m.Topic(), n)
		}
	}
}
