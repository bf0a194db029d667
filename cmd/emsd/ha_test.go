package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/etcdtest"
)

// haTTL is the pair's lease in these tests.
const haTTL = 2 * time.Second

// controller is one emsd process of a pair.
type controller struct {
	name, http, stateDir string
	cmd                  *exec.Cmd
	out                  *lines
}

// pairRig is a real etcd, a Mosquitto broker, one simulated plant (emsd
// sim) and two emsd controllers in a hot-standby pair, all on loopback.
type pairRig struct {
	sim    string // the simulator's control API, host:port
	broker string
	etcd   *etcdtest.Server
	ctl    [2]*controller
}

func startPair(t *testing.T) *pairRig {
	t.Helper()
	if testing.Short() {
		t.Skip("runs etcd, a broker, a simulated plant and two daemons")
	}
	testutil.NeedProgram(t, "mosquitto")
	etcd := etcdtest.Start(t)
	r := &pairRig{broker: startMosquitto(t), etcd: etcd}
	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	r.sim = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	simCfg := regexpReplace(string(demo), `control_addr: 127\.0\.0\.1:\d+`, "control_addr: "+r.sim)
	simProc := exec.Command(binPath, "sim", "-config", writeFile(t, "sim.yaml", simCfg), "-log-format", "json")
	simOut := &lines{}
	se, _ := simProc.StderrPipe()
	if err := simProc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simProc.Process.Signal(syscall.SIGINT); simProc.Wait() })
	go simOut.read(bufio.NewScanner(se))
	simOut.waitFor(t, 10*time.Second, "simulated plant serving")

	for i, name := range []string{"ctl-a", "ctl-b"} {
		c := &controller{name: name, http: fmt.Sprintf("127.0.0.1:%d", freePort(t)), stateDir: t.TempDir(), out: &lines{}}
		cfg := strings.Replace(string(demo), "simulator:\n  enabled: true\n", "simulator:\n  enabled: false\n", 1)
		cfg = regexpReplace(cfg, `  control_addr: 127\.0\.0\.1:\d+\n`, "")
		cfg = regexpReplace(cfg, `  embedded_broker: 127\.0\.0\.1:\d+\n`, fmt.Sprintf("  brokers: [\"tcp://%s\"]\n  client_id: emsd-%s\n", r.broker, name))
		cfg = regexpReplace(cfg, `http:\n  addr: 127\.0\.0\.1:\d+`, "http:\n  addr: "+c.http)
		cfg = regexpReplace(cfg, `state_dir: \S+`, "state_dir: "+c.stateDir)
		// Each controller serves the dispatch link on its own ports.
		cfg = regexpReplace(cfg, `iec104: \{enabled: true, listen: 127\.0\.0\.1:\d+\}`, fmt.Sprintf("iec104: {enabled: true, listen: 127.0.0.1:%d}", freePort(t)))
		cfg = regexpReplace(cfg, `modbus: \{enabled: true, listen: 127\.0\.0\.1:\d+\}`, fmt.Sprintf("modbus: {enabled: true, listen: 127.0.0.1:%d}", freePort(t)))
		cfg += fmt.Sprintf("ha: {enabled: true, name: %s, etcd: [%q], lease_ttl: %v}\n", name, etcd.Endpoint(), haTTL)
		c.cmd = exec.Command(binPath, "run", "-config", writeFile(t, name+".yaml", cfg), "-log-format", "json")
		ce, _ := c.cmd.StderrPipe()
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		r.ctl[i] = c
		go c.out.read(bufio.NewScanner(ce))
	}
	// Both start at once.
	for _, c := range r.ctl {
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGCONT); c.cmd.Process.Kill(); c.cmd.Wait() })
	}
	for _, c := range r.ctl {
		c.out.waitFor(t, 15*time.Second, "all devices online")
	}
	return r
}

// role returns a controller's role from its /api/state ("" if it does not answer).
func (c *controller) role(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + c.http + "/api/state")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var st struct {
		HA struct{ Role, Active string } `json:"ha"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return ""
	}
	return st.HA.Role
}

// mode returns a controller's dispatch mode from its /api/state.
func (c *controller) mode(t *testing.T) string {
	t.Helper()
	var st struct {
		Dispatch struct{ Mode string } `json:"dispatch"`
	}
	getJSON(t, "http://"+c.http+"/api/state", &st)
	return st.Dispatch.Mode
}

// leader waits until exactly one controller leads and returns its index.
func (r *pairRig) leader(t *testing.T) int {
	t.Helper()
	who := -1
	testutil.WaitFor(t, 15*time.Second, "exactly one leader", func() bool {
		a, b := r.ctl[0].role(t), r.ctl[1].role(t)
		switch {
		case a == "leader" && b == "standby":
			who = 0
		case a == "standby" && b == "leader":
			who = 1
		default:
			return false
		}
		return true
	})
	return who
}

// writes are the simulator's accepted writes per device and client connection.
type clientWrites struct {
	Device, Client string
	Writes         uint64
	First, Last    time.Time
}

func (r *pairRig) writes(t *testing.T) []clientWrites {
	t.Helper()
	var w []clientWrites
	getJSON(t, "http://"+r.sim+"/writes", &w)
	return w
}

// poi is the simulated plant's POI power, kW.
func (r *pairRig) poi(t *testing.T) float64 {
	t.Helper()
	var st struct {
		POI struct {
			P float64 `json:"p_kw"`
		} `json:"poi"`
	}
	getJSON(t, "http://"+r.sim+"/state", &st)
	return st.POI.P
}

// command publishes one command and collects the replies of both
// controllers (each answers: the leader applies, the standby refuses).
func (r *pairRig) command(t *testing.T, op paho.Client, replies chan []byte, name, payload string) []map[string]any {
	t.Helper()
	op.Publish("emsd/demo/cmd/"+name, 1, false, payload).WaitTimeout(5 * time.Second)
	var out []map[string]any
	timeout := time.After(10 * time.Second)
	for len(out) < 2 {
		select {
		case b := <-replies:
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("reply %s: %v", b, err)
			}
			out = append(out, m)
		case <-timeout:
			t.Fatalf("%d replies to %s %s, want 2 (leader and standby)", len(out), name, payload)
		}
	}
	return out
}

func (r *pairRig) operator(t *testing.T) (paho.Client, chan []byte) {
	t.Helper()
	op := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + r.broker).SetClientID("ha-operator"))
	if tok := op.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { op.Disconnect(100) })
	replies := make(chan []byte, 16)
	op.Subscribe("emsd/demo/cmd/+/reply", 1, func(_ paho.Client, m paho.Message) { replies <- m.Payload() }).WaitTimeout(5 * time.Second)
	return op, replies
}

// oneOKOneStandby checks that of two replies the leader's applied and the
// standby's refused naming the leader.
func oneOKOneStandby(t *testing.T, reps []map[string]any, leader string) {
	t.Helper()
	var ok, refused int
	for _, r := range reps {
		switch {
		case r["ok"] == true:
			ok++
		case fmt.Sprint(r["error"]) == "standby; the active controller is "+leader:
			refused++
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("replies %v: want one applied and one \"standby; the active controller is %s\"", reps, leader)
	}
}

// TestPairKillLeaderAtPower: two controllers start at once and exactly one
// leads; the operator's commands are applied by the leader only (the
// standby refuses, naming it) and replicated; the leader is killed -9 at
// 3000 kW; the standby writes within TTL + 1 s, from the replicated
// operator state, and the POI stays within ±2 % of rated throughout.
func TestPairKillLeaderAtPower(t *testing.T) {
	r := startPair(t)
	who := r.leader(t)
	lead, stby := r.ctl[who], r.ctl[1-who]
	op, replies := r.operator(t)
	oneOKOneStandby(t, r.command(t, op, replies, "setpoint", `{"id":"k1","p":3000}`), lead.name)
	oneOKOneStandby(t, r.command(t, op, replies, "mode", `{"id":"k2","mode":"manual"}`), lead.name)
	testutil.WaitFor(t, 10*time.Second, "the standby in manual mode, replicated", func() bool { return stby.mode(t) == "manual" })

	const rated, load, want = 10000.0, 1500.0, 3000.0 - 1500.0
	testutil.WaitFor(t, 15*time.Second, "the POI at 1500 kW", func() bool { return math.Abs(r.poi(t)-want) < 30 })
	for _, w := range r.writes(t) {
		if strings.HasPrefix(w.Device, "u") && w.Writes > 0 && !ownedBy(t, lead.cmd.Process.Pid, w.Client) {
			t.Fatalf("before the kill, %s was written by %s, not the leader's connection", w.Device, w.Client)
		}
	}

	var mu sync.Mutex
	var maxDev float64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			d := math.Abs(r.poi(t) - want)
			mu.Lock()
			maxDev = max(maxDev, d)
			mu.Unlock()
		}
	}()
	if err := lead.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var took time.Duration
	testutil.WaitFor(t, 10*time.Second, "a PCS write by the new leader", func() bool {
		for _, w := range r.writes(t) {
			if strings.HasPrefix(w.Device, "u") && w.First.After(killed) {
				took = w.First.Sub(killed)
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second) // the new leader holds the plant
	close(stopSampling)
	<-sampled
	t.Logf("takeover: first PCS write by the new leader %v after kill -9 (lease TTL %v); max POI excursion %.0f kW (%.2f %% of rated)",
		took.Round(time.Millisecond), haTTL, maxDev, 100*maxDev/rated)
	if took > haTTL+time.Second {
		t.Errorf("takeover took %v, want within TTL + 1 s = %v", took, haTTL+time.Second)
	}
	if maxDev > 0.02*rated {
		t.Errorf("POI moved %.0f kW from %.0f during the takeover, want within ±2 %% of rated (%.0f kW)", maxDev, want, 0.02*rated)
	}
	if got := stby.role(t); got != "leader" {
		t.Fatalf("the standby's role after the takeover is %q", got)
	}
	code, body := httpGet(t, "http://"+stby.http+"/readyz")
	if code != http.StatusOK || !strings.Contains(body, `"ready"`) {
		t.Errorf("new leader /readyz: %d %s", code, body)
	}
	_, metrics := httpGet(t, "http://"+stby.http+"/metrics")
	for _, m := range []string{`emsd_ha_role{role="leader"} 1`, "emsd_ha_takeovers_total 1", "emsd_ha_writable 1"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("new leader's metrics lack %q", m)
		}
	}
	stby.out.waitFor(t, time.Second, "takeover: this controller is now the active one")
}

// TestPairPausedLeaderThenHandover: the leader is paused (SIGSTOP) past its
// lease; the standby takes over; the old leader, resumed, writes nothing
// more to any device (counted per connection by the simulator) and reports
// standby. Then an operator hands the active role back, audited.
func TestPairPausedLeaderThenHandover(t *testing.T) {
	r := startPair(t)
	who := r.leader(t)
	old, other := r.ctl[who], r.ctl[1-who]
	code, body := httpGet(t, "http://"+other.http+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "standby, healthy; the active controller is "+old.name) {
		t.Errorf("standby /readyz: %d %s", code, body)
	}
	pid := old.cmd.Process.Pid
	if err := old.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(200 * time.Millisecond) // a write in flight at the stop lands
	before := map[string]uint64{}
	for _, w := range r.writes(t) {
		before[w.Device+" "+w.Client] = w.Writes
	}
	testutil.WaitFor(t, 10*time.Second, "the standby writing", func() bool {
		for _, w := range r.writes(t) {
			if w.First.After(stopped) && ownedBy(t, other.cmd.Process.Pid, w.Client) {
				return true
			}
		}
		return false
	})
	if d := time.Until(stopped.Add(haTTL + 2*time.Second)); d > 0 {
		time.Sleep(d) // paused well past the lease
	}
	if err := old.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	time.Sleep(3 * time.Second) // three heartbeat periods at least
	var stale uint64
	for _, w := range r.writes(t) {
		if ownedBy(t, pid, w.Client) {
			stale += w.Writes - before[w.Device+" "+w.Client]
		}
	}
	t.Logf("old leader paused %v (lease TTL %v); writes by it after resuming: %d", resumed.Sub(stopped).Round(time.Millisecond), haTTL, stale)
	if stale != 0 {
		t.Fatalf("the old leader wrote %d times after resuming past its lease", stale)
	}
	if got := old.role(t); got != "standby" {
		t.Fatalf("the resumed old leader's role is %q, want standby", got)
	}

	// Hand-over on command, audited.
	resp, err := http.Post("http://"+other.http+"/api/handover?operator=alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handover: %s", resp.Status)
	}
	testutil.WaitFor(t, 10*time.Second, "the old leader leading again", func() bool { return old.role(t) == "leader" && other.role(t) == "standby" })
	resp, err = http.Post("http://"+other.http+"/api/handover?operator=alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("handover on the standby: %s, want 409", resp.Status)
	}
	var audit []string
	files, _ := filepath.Glob(filepath.Join(other.stateDir, "audit", "*.jsonl"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		audit = append(audit, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}
	var ok, refused bool
	for _, l := range audit {
		ok = ok || strings.Contains(l, `"name":"handover"`) && strings.Contains(l, `"operator":"alice"`) && strings.Contains(l, `"result":"ok"`)
		refused = refused || strings.Contains(l, `"name":"handover"`) && strings.Contains(l, `"result":"refused"`)
	}
	if !ok || !refused {
		t.Errorf("audit log lacks the hand-over (ok %v) or its refusal on the standby (%v):\n%s", ok, refused, strings.Join(audit, "\n"))
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// ownedBy reports whether the TCP connection whose local end is client
// (host:port, as the simulator saw it) belongs to process pid: one of its
// file descriptors is that socket (Linux /proc).
func ownedBy(t *testing.T, pid int, client string) bool {
	t.Helper()
	_, portS, ok := strings.Cut(client, ":")
	port, err := strconv.Atoi(portS)
	if !ok || err != nil {
		t.Fatalf("client address %q", client)
	}
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		_, lp, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseInt(lp, 16, 32); err == nil && int(p) == port && inodes[f[9]] {
			return true
		}
	}
	return false
}

// TestPairEtcdRestartNoTakeover restarts the pair's (single-member) etcd
// under two running daemons: the lease survives the restart, so the
// leader keeps the role, the standby never leads, and no takeover is
// counted on either.
func TestPairEtcdRestartNoTakeover(t *testing.T) {
	r := startPair(t)
	who := r.leader(t)
	lead, stby := r.ctl[who], r.ctl[1-who]
	var mu sync.Mutex
	var roles []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if got := stby.role(t); got != "standby" && got != "" {
				mu.Lock()
				roles = append(roles, got)
				mu.Unlock()
			}
		}
	}()
	r.etcd.Stop()
	time.Sleep(haTTL + time.Second) // longer than the TTL: etcd keeps the lease, the client gives up on its stream
	r.etcd.Start()
	time.Sleep(3 * haTTL)
	close(stop)
	<-done
	if len(roles) > 0 {
		t.Fatalf("the standby reported role %q %d times during the etcd restart", roles[0], len(roles))
	}
	if got := lead.role(t); got != "leader" {
		t.Fatalf("the leader's role after the etcd restart is %q", got)
	}
	_, ml := httpGet(t, "http://"+lead.http+"/metrics")
	_, ms := httpGet(t, "http://"+stby.http+"/metrics")
	if !strings.Contains(ml, "emsd_ha_takeovers_total 1") || !strings.Contains(ms, "emsd_ha_takeovers_total 0") {
		t.Errorf("takeover counters after the etcd restart: leader %q, standby %q; want 1 and 0",
			metricLine(ml, "emsd_ha_takeovers_total"), metricLine(ms, "emsd_ha_takeovers_total"))
	}
}

func metricLine(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name) {
			return l
		}
	}
	return ""
}
