package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

// startMosquitto runs a real Mosquitto on a free loopback port, or returns
// "" when it is not installed (the test then uses the embedded broker;
// under CI=true it fails instead).
func startMosquitto(t *testing.T) string {
	t.Helper()
	if m := newMosquitto(t); m != nil {
		return m.addr
	}
	return ""
}

// mosquitto is a Mosquitto child process that a test can stop and start
// again on the same port.
type mosquitto struct {
	bin, conf, addr string
	cmd             *exec.Cmd
}

// newMosquitto starts Mosquitto on a free loopback port, or returns nil
// when it is not installed (fatal under CI=true).
func newMosquitto(t *testing.T) *mosquitto {
	t.Helper()
	bin := testutil.WantProgram(t, "mosquitto", "the embedded broker")
	if bin == "" {
		return nil
	}
	port := freePort(t)
	conf := writeFile(t, "mosquitto.conf", fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n", port))
	m := &mosquitto{bin: bin, conf: conf, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	m.start(t)
	t.Cleanup(m.stop)
	return m
}

// start runs the broker and waits until it listens.
func (m *mosquitto) start(t *testing.T) {
	t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := (&netDialer{}).dial(m.addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mosquitto did not listen on %s", m.addr)
}

// stop kills the broker, as a crash or a network loss would end it.
func (m *mosquitto) stop() {
	if m.cmd != nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
		m.cmd = nil
	}
}

// TestDaemonEndToEnd runs the daemon on the simulated plant with a real
// MQTT broker and a real InfluxDB: operator commands change the plant's
// power, bad ones get reasons, and the telemetry lands in the database.
func TestDaemonEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts InfluxDB, a broker and the daemon")
	}
	db := influxd.Start(t)
	db.CreateDB(t, "emsd")
	brokerAddr := startMosquitto(t)
	brokerKind := "mosquitto"

	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(demo)
	if brokerAddr == "" {
		brokerKind = "embedded mochi-mqtt (mosquitto not installed)"
		brokerAddr = regexpFind(cfg, `embedded_broker: (127\.0\.0\.1:\d+)`)
	} else {
		cfg = regexpReplace(cfg, `  embedded_broker: 127\.0\.0\.1:\d+\n`, fmt.Sprintf("  brokers: [\"tcp://%s\"]\n", brokerAddr))
	}
	t.Logf("broker: %s at %s", brokerKind, brokerAddr)
	httpAddr := regexpFind(cfg, `http:\n  addr: (127\.0\.0\.1:\d+)`)
	cfg += fmt.Sprintf("influx: {enabled: true, url: %q, database: emsd}\n", db.URL())
	cfg = strings.Replace(cfg, "  name: demo\n", "  name: e2e\n", 1)

	cmd := exec.Command(binPath, "run", "-config", writeFile(t, "e2e.yaml", cfg), "-log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	out := &lines{}
	go out.read(bufio.NewScanner(stderr))
	out.waitFor(t, 10*time.Second, "all devices online")
	out.waitFor(t, 5*time.Second, "operator commands over MQTT")

	op := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("e2e-operator"))
	if tok := op.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	defer op.Disconnect(100)
	replies := make(chan []byte, 16)
	op.Subscribe("emsd/e2e/cmd/+/reply", 1, func(_ paho.Client, m paho.Message) { replies <- m.Payload() }).WaitTimeout(5 * time.Second)
	send := func(name, payload string) map[string]any {
		t.Helper()
		op.Publish("emsd/e2e/cmd/"+name, 1, false, payload).WaitTimeout(5 * time.Second)
		select {
		case b := <-replies:
			var r map[string]any
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("reply %s: %v", b, err)
			}
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no reply to %s %s", name, payload)
			return nil
		}
	}
	if r := send("setpoint", `{"id":"a","p":3000}`); r["ok"] != true || r["applied_at"] == nil {
		t.Fatalf("setpoint: %v", r)
	}
	if r := send("mode", `{"id":"b","mode":"manual"}`); r["ok"] != true {
		t.Fatalf("mode: %v", r)
	}
	for _, bad := range []struct{ name, payload, reason string }{
		{"setpoint", `{"id":"c","p":"lots"}`, "expected a number"},
		{"setpoint", `{"id":"d","p":99999}`, "exceeds plant rated power"},
		{"mode", `{"id":"e","mode":"turbo"}`, "mode"},
		{"warp", `{"id":"f"}`, "unknown command"},
		{"setpoint", `{"id":"g","p":1,"extra":2}`, "extra"},
		{"setpoint", `{nope`, "invalid JSON"},
	} {
		r := send(bad.name, bad.payload)
		if r["ok"] != false || !strings.Contains(fmt.Sprint(r["error"]), bad.reason) {
			t.Errorf("%s %s: reply %v, want an error about %q", bad.name, bad.payload, r, bad.reason)
		}
	}

	// The plant follows: 3000 kW from the units less the 1500 kW site load.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Plant struct {
				P struct{ Value float64 } `json:"p_kw"`
			} `json:"plant"`
		}
		getJSON(t, "http://"+httpAddr+"/api/state", &st)
		if d := st.Plant.P.Value - 1500; d > -30 && d < 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("POI at %.0f kW, want 1500", st.Plant.P.Value)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // two or more 1 s telemetry intervals at 1500 kW

	plant := db.Count(t, "emsd", "plant")
	if plant < 3 {
		t.Errorf("%d plant points in InfluxDB, want one per second", plant)
	}
	last := db.Query(t, "emsd", `SELECT last("p_kw") FROM "plant"`)
	if len(last) != 1 || len(last[0].Values) != 1 {
		t.Fatalf("last plant p_kw: %+v", last)
	}
	if v, err := strconv.ParseFloat(fmt.Sprint(last[0].Values[0][1]), 64); err != nil || v < 1400 || v > 1600 {
		t.Errorf("last plant p_kw %v, want about 1500", last[0].Values[0][1])
	}
	for _, m := range []string{"pcs", "bms", "meter"} {
		if n := db.Count(t, "emsd", m); n < 3 {
			t.Errorf("%d %s points, want several", n, m)
		}
	}
	ev := db.Query(t, "emsd", `SELECT count("message") FROM "event" WHERE "kind" = 'command'`)
	if len(ev) != 1 || fmt.Sprint(ev[0].Values[0][1]) != "8" {
		t.Errorf("command events in InfluxDB: %+v, want all 8 commands audited", ev)
	}
	var audit []string
	entries, _ := filepath.Glob(filepath.Join(regexpFind(cfg, `state_dir: (\S+)`), "audit", "*.jsonl"))
	for _, e := range entries {
		b, _ := os.ReadFile(e)
		audit = append(audit, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	if len(audit) != 8 {
		t.Errorf("audit log has %d records, want 8", len(audit))
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v", err)
	}
	out.waitFor(t, time.Second, "all units confirmed 0 kW")
}

func regexpFind(s, expr string) string {
	m := regexpMust(expr).FindStringSubmatch(s)
	if len(m) < 2 {
		panic("no match for " + expr)
	}
	return m[1]
}
