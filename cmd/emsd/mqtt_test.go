package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/emsd/emsd/internal/testutil"
)

// mqttDaemon is the daemon on the demo plant, reached over MQTT.
type mqttDaemon struct {
	out      *lines
	broker   string // host:port
	http     string
	stateDir string
}

// startMQTTDaemon runs the daemon on the demo plant with the broker at
// brokerAddr, or with its embedded broker when brokerAddr is "". extra is
// appended to the mqtt section of the config.
func startMQTTDaemon(t *testing.T, brokerAddr, extra string) *mqttDaemon {
	t.Helper()
	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(demo)
	if brokerAddr == "" {
		brokerAddr = regexpFind(cfg, `embedded_broker: (127\.0\.0\.1:\d+)`)
	} else {
		cfg = regexpReplace(cfg, `  embedded_broker: 127\.0\.0\.1:\d+\n`, fmt.Sprintf("  brokers: [\"tcp://%s\"]\n", brokerAddr))
	}
	cfg = strings.Replace(cfg, "mqtt:\n  enabled: true\n", "mqtt:\n  enabled: true\n"+extra, 1)
	d := &mqttDaemon{out: &lines{}, broker: brokerAddr,
		http:     regexpFind(cfg, `http:\n  addr: (127\.0\.0\.1:\d+)`),
		stateDir: regexpFind(cfg, `state_dir: (\S+)`)}
	cmd := exec.Command(binPath, "run", "-config", writeFile(t, "mqtt.yaml", cfg), "-log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go d.out.read(bufio.NewScanner(stderr))
	d.out.waitFor(t, 10*time.Second, "all devices online")
	d.out.waitFor(t, 5*time.Second, "operator commands over MQTT")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct{ Ready bool }
		getJSON(t, "http://"+d.http+"/api/state", &st)
		if st.Ready {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatal("the control loop is not running 10 s after start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dispatchState is the part of /api/state these tests read.
type dispatchState struct {
	Mode  string  `json:"mode"`
	P     float64 `json:"p_kw"`
	EStop bool    `json:"estop"`
}

func (d *mqttDaemon) dispatch(t *testing.T) dispatchState {
	t.Helper()
	var st struct {
		Dispatch dispatchState `json:"dispatch"`
	}
	getJSON(t, "http://"+d.http+"/api/state", &st)
	return st.Dispatch
}

// waitDispatch polls the dispatch state until ok holds.
func (d *mqttDaemon) waitDispatch(t *testing.T, timeout time.Duration, what string, ok func(dispatchState) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := d.dispatch(t)
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: dispatch state %+v after %v", what, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// audit returns the daemon's audit records.
func (d *mqttDaemon) audit(t *testing.T) []map[string]any {
	t.Helper()
	var recs []map[string]any
	files, _ := filepath.Glob(filepath.Join(d.stateDir, "audit", "*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("audit line %q: %v", l, err)
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// mqttReply is one reply as the operator sees it.
type mqttReply struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// mqttOperator is an independent MQTT client sending commands to site demo
// and collecting every reply.
type mqttOperator struct {
	pc paho.Client

	mu      sync.Mutex
	replies map[string][]mqttReply
	arrived chan struct{}
}

func newMQTTOperator(t *testing.T, addr, clientID string) *mqttOperator {
	t.Helper()
	op := &mqttOperator{replies: map[string][]mqttReply{}, arrived: make(chan struct{}, 1)}
	op.pc = paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(clientID).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
	if tok := op.pc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { op.pc.Disconnect(100) })
	tok := op.pc.Subscribe("emsd/demo/cmd/+/reply", 1, func(_ paho.Client, m paho.Message) {
		var r mqttReply
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Errorf("reply %s: %v", m.Payload(), err)
			return
		}
		op.mu.Lock()
		op.replies[r.ID] = append(op.replies[r.ID], r)
		op.mu.Unlock()
		select {
		case op.arrived <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe replies: %v", tok.Error())
	}
	return op
}

// awaitOnline waits for the daemon's status online, which it publishes
// once it is subscribed to the command topics.
func (op *mqttOperator) awaitOnline(t *testing.T, timeout time.Duration) {
	t.Helper()
	online := make(chan struct{}, 1)
	op.pc.Subscribe("emsd/demo/status", 1, func(_ paho.Client, m paho.Message) {
		if string(m.Payload()) == "online" {
			select {
			case online <- struct{}{}:
			default:
			}
		}
	}).WaitTimeout(5 * time.Second)
	select {
	case <-online:
	case <-time.After(timeout):
		t.Fatalf("no status online within %v", timeout)
	}
}

// publish sends payload to cmd/name.
func (op *mqttOperator) publish(t *testing.T, name, payload string, retained bool) {
	t.Helper()
	tok := op.pc.Publish("emsd/demo/cmd/"+name, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", name, tok.Error())
	}
}

// reply waits for the first reply to id.
func (op *mqttOperator) reply(id string, timeout time.Duration) (mqttReply, bool) {
	deadline := time.After(timeout)
	for {
		op.mu.Lock()
		rs := op.replies[id]
		op.mu.Unlock()
		if len(rs) > 0 {
			return rs[0], true
		}
		select {
		case <-op.arrived:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			return mqttReply{}, false
		}
	}
}

// send publishes a command and returns its reply.
func (op *mqttOperator) send(t *testing.T, name, payload string) mqttReply {
	t.Helper()
	var id struct{ ID string }
	if err := json.Unmarshal([]byte(payload), &id); err != nil || id.ID == "" {
		t.Fatalf("test command %s without id", payload)
	}
	op.publish(t, name, payload, false)
	r, ok := op.reply(id.ID, 5*time.Second)
	if !ok {
		t.Fatalf("no reply to %s %s", name, payload)
	}
	return r
}

// mustOK and mustRefuse send a command and check its reply.
func (op *mqttOperator) mustOK(t *testing.T, name, payload string) {
	t.Helper()
	if r := op.send(t, name, payload); !r.OK {
		t.Fatalf("%s %s: %+v, want ok", name, payload, r)
	}
}

func (op *mqttOperator) mustRefuse(t *testing.T, name, payload, reason string) mqttReply {
	t.Helper()
	r := op.send(t, name, payload)
	if r.OK || !strings.Contains(r.Error, reason) {
		t.Fatalf("%s %s: %+v, want refused with %q", name, payload, r, reason)
	}
	return r
}

// retainedOn reports whether the broker holds a retained message on topic:
// a new subscriber gets it at once.
func retainedOn(t *testing.T, addr, topic string) string {
	t.Helper()
	pc := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("probe-%d", time.Now().UnixNano())).SetAutoReconnect(false))
	if tok := pc.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("probe connect: %v", tok.Error())
	}
	defer pc.Disconnect(50)
	got := make(chan string, 1)
	pc.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		if m.Retained() && len(m.Payload()) > 0 {
			select {
			case got <- string(m.Payload()):
			default:
			}
		}
	}).WaitTimeout(5 * time.Second)
	select {
	case s := <-got:
		return s
	case <-time.After(500 * time.Millisecond):
		return ""
	}
}

// brokers runs f against Mosquitto and against the embedded broker. For
// Mosquitto, before is called with the broker's address before the daemon
// starts (a retained command can wait there for it).
func brokers(t *testing.T, f func(t *testing.T, mosq string)) {
	t.Run("mosquitto", func(t *testing.T) {
		m := newMosquitto(t)
		if m == nil {
			testutil.SkipOrFail(t, "mosquitto is not installed")
		}
		f(t, m.addr)
	})
	t.Run("embedded", func(t *testing.T) { f(t, "") })
}

// TestDaemonCommandsOverMQTT drives the daemon on the demo plant with an
// operator over a real broker (Mosquitto and the embedded one): emergency
// stop and reset, unknown units, retained commands, command storms and the
// operator identity in the audit log.
func TestDaemonCommandsOverMQTT(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon and a broker")
	}
	brokers(t, func(t *testing.T, mosq string) {
		var early *mqttOperator
		if mosq != "" {
			// A retained command waiting on the broker before the daemon
			// subscribes is replayed to it with the retain flag.
			early = newMQTTOperator(t, mosq, "early-operator")
			early.publish(t, "setpoint", `{"id":"ret-early","p":9000}`, true)
		}
		d := startMQTTDaemon(t, mosq, "")
		op := newMQTTOperator(t, d.broker, "operator-alice")
		op.awaitOnline(t, 10*time.Second)

		t.Run("retained", func(t *testing.T) {
			if early != nil {
				r, ok := early.reply("ret-early", 5*time.Second)
				if !ok || r.OK || !strings.Contains(r.Error, "retained") {
					t.Errorf("retained command waiting before the daemon subscribed: reply %+v (got one: %v), want refused", r, ok)
				}
			}
			// Published retained while the daemon is subscribed: the broker
			// delivers it live without the flag, and also stores it.
			op.publish(t, "setpoint", `{"id":"ret-live","p":9000}`, true)
			r, ok := op.reply("ret-live", 5*time.Second)
			if !ok || r.OK || !strings.Contains(r.Error, "retained") {
				t.Errorf("retained command published live: reply %+v (got one: %v), want refused", r, ok)
			}
			if s := retainedOn(t, d.broker, "emsd/demo/cmd/setpoint"); s != "" {
				t.Errorf("the broker still holds the retained command %s", s)
			}
			if p := d.dispatch(t).P; math.Abs(p) > 50 {
				t.Errorf("plant setpoint %.0f kW after refused retained setpoints, want 0", p)
			}
			// The daemon still works.
			op.mustOK(t, "setpoint", `{"id":"after-retained","p":0}`)
		})

		t.Run("unknown unit", func(t *testing.T) {
			r := op.mustRefuse(t, "reset", `{"id":"reset-u99","unit":"u99"}`, `"u99"`)
			if !strings.Contains(r.Error, "u1, u2, u3, u4") {
				t.Errorf("reset of an unknown unit: %q does not list the known units", r.Error)
			}
			op.mustOK(t, "reset", `{"id":"reset-u2","unit":"u2"}`)
		})

		t.Run("estop", func(t *testing.T) {
			op.mustOK(t, "setpoint", `{"id":"es-1","p":2000}`)
			op.mustOK(t, "mode", `{"id":"es-2","mode":"manual"}`)
			d.waitDispatch(t, 10*time.Second, "manual 2000 kW", func(s dispatchState) bool { return math.Abs(s.P-2000) < 50 })
			op.mustOK(t, "estop", `{"id":"es-3","reason":"test"}`)
			d.waitDispatch(t, 2*time.Second, "estop", func(s dispatchState) bool { return s.EStop && s.P == 0 })
			// State-setting commands are refused while the stop is latched.
			op.mustRefuse(t, "setpoint", `{"id":"es-4","p":3000}`, "emergency stop active")
			op.mustRefuse(t, "mode", `{"id":"es-5","mode":"agc"}`, "emergency stop active")
			// A unit reset leaves the plant's emergency stop latched.
			op.mustOK(t, "reset", `{"id":"es-6","unit":"u1"}`)
			time.Sleep(500 * time.Millisecond)
			if s := d.dispatch(t); !s.EStop || s.P != 0 {
				t.Fatalf("after a reset of u1 the plant emergency stop is off: %+v", s)
			}
			op.mustRefuse(t, "mode", `{"id":"es-7","mode":"manual"}`, "emergency stop active")
			// A plant reset clears it into standby: nothing flows until a
			// new, explicit command.
			op.mustOK(t, "reset", `{"id":"es-8"}`)
			d.waitDispatch(t, 2*time.Second, "estop cleared", func(s dispatchState) bool { return !s.EStop })
			deadline := time.Now().Add(1500 * time.Millisecond)
			for time.Now().Before(deadline) {
				if s := d.dispatch(t); s.Mode != "standby" || math.Abs(s.P) > 1 {
					t.Fatalf("after reset: %+v, want standby at 0 kW", s)
				}
				time.Sleep(100 * time.Millisecond)
			}
			op.mustOK(t, "mode", `{"id":"es-9","mode":"manual"}`)
			time.Sleep(500 * time.Millisecond)
			if s := d.dispatch(t); math.Abs(s.P) > 1 {
				t.Fatalf("manual after reset runs at %.0f kW: the setpoint from before the stop came back", s.P)
			}
			op.mustOK(t, "setpoint", `{"id":"es-10","p":1000}`)
			d.waitDispatch(t, 10*time.Second, "manual 1000 kW after reset", func(s dispatchState) bool { return math.Abs(s.P-1000) < 50 })
		})

		t.Run("storm", func(t *testing.T) {
			modes := []string{"standby", "manual", "peak_shaving", "agc"}
			const n = 200
			ids := make([]string, n)
			start := time.Now()
			var toks []paho.Token
			for i := range n {
				ids[i] = fmt.Sprintf("storm-%d", i)
				toks = append(toks, op.pc.Publish("emsd/demo/cmd/mode", 1, false,
					fmt.Sprintf(`{"id":%q,"mode":%q}`, ids[i], modes[(i+2)%len(modes)])))
			}
			// Sent back to back: well within 200 ms.
			for _, tok := range toks {
				tok.WaitTimeout(5 * time.Second)
			}
			sent := time.Since(start)
			last := modes[(n-1+2)%len(modes)]
			if _, ok := op.reply(ids[n-1], 10*time.Second); !ok {
				t.Fatalf("no reply to the storm's last command")
			}
			time.Sleep(time.Second) // any extra replies
			op.mu.Lock()
			results := map[string]int{}
			for _, id := range ids {
				rs := op.replies[id]
				if len(rs) != 1 {
					t.Errorf("%s: %d replies, want 1", id, len(rs))
				}
				for _, r := range rs {
					switch {
					case r.OK:
						results["ok"]++
					case strings.Contains(r.Error, "superseded by id"):
						results["superseded"]++
					default:
						results[r.Error]++
					}
				}
			}
			lastRep := op.replies[ids[n-1]]
			op.mu.Unlock()
			t.Logf("%d mode commands sent in %v: %v", n, sent.Round(time.Millisecond), results)
			if len(results) > 2 || results["ok"]+results["superseded"] != n {
				t.Errorf("storm replies %v: want each applied or superseded, none refused", results)
			}
			if len(lastRep) == 0 || !lastRep[0].OK {
				t.Errorf("the storm's last command: %+v, want applied", lastRep)
			}
			if m := d.dispatch(t).Mode; m != last {
				t.Errorf("plant in mode %s after the storm, want the last command's %s", m, last)
			}
			op.mustOK(t, "mode", `{"id":"after-storm","mode":"standby"}`)
		})

		t.Run("audit identity", func(t *testing.T) {
			op.mustOK(t, "mode", `{"id":"who-1","mode":"standby","operator":"alice@control-room"}`)
			var rec map[string]any
			for _, r := range d.audit(t) {
				if r["id"] == "who-1" {
					rec = r
				}
			}
			if rec == nil || rec["operator"] != "alice@control-room" {
				t.Errorf("audit record of who-1: %v, want operator alice@control-room", rec)
			}
		})
	})
}

// TestDaemonAnswersSoonAfterTheBrokerReturns stops Mosquitto for longer
// than the reconnect backoff would need to grow past its cap, starts it
// again and expects commands answered within mqtt.reconnect_max and a
// margin of its return.
func TestDaemonAnswersSoonAfterTheBrokerReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon and stops a broker for 8 s")
	}
	m := newMosquitto(t)
	if m == nil {
		testutil.SkipOrFail(t, "mosquitto is not installed")
	}
	const capBackoff, margin, outage = time.Second, 1500 * time.Millisecond, 8 * time.Second
	d := startMQTTDaemon(t, m.addr, fmt.Sprintf("  reconnect_max: %v\n", capBackoff))
	op := newMQTTOperator(t, d.broker, "operator-before")
	op.awaitOnline(t, 10*time.Second)
	op.mustOK(t, "mode", `{"id":"before","mode":"standby"}`)

	m.stop()
	time.Sleep(outage)
	m.start(t)
	back := time.Now()
	op = newMQTTOperator(t, d.broker, "operator-after")
	for i := 0; ; i++ {
		id := fmt.Sprintf("after-%d", i)
		op.publish(t, "mode", fmt.Sprintf(`{"id":%q,"mode":"standby"}`, id), false)
		if r, ok := op.reply(id, 100*time.Millisecond); ok {
			took := time.Since(back)
			t.Logf("first command answered %v after the broker returned (reconnect_max %v): %+v", took.Round(10*time.Millisecond), capBackoff, r)
			if took > capBackoff+margin {
				t.Errorf("commands unanswered for %v after the broker returned, want at most %v", took, capBackoff+margin)
			}
			return
		}
		if time.Since(back) > 40*time.Second {
			t.Fatal("no command answered 40 s after the broker returned")
		}
	}
}
