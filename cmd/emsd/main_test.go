package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/testutil"
)

var binPath string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "emsd-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "emsd")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building emsd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func emsd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(binPath, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckConfigHASummary: a pair's configuration is summarised with its
// name, etcd and lease.
func TestCheckConfigHASummary(t *testing.T) {
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "pair.yaml", string(demo)+"ha: {enabled: true, name: ctl-a, etcd: [\"http://10.0.0.11:2379\"]}\n")
	out, errOut, code := emsd(t, "check-config", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := `hot standby: "ctl-a" of a pair, etcd http://10.0.0.11:2379, lease 2s, fence margin 300ms`; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
}

func TestCheckConfigDemoIsOK(t *testing.T) {
	out, errOut, code := emsd(t, "check-config", "../../configs/demo.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"OK", `site "demo"`, "4 units, 8 BMS", "simulator: enabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckConfigErrorsExit2AndNameTheKey breaks the demo config in one
// place each and expects exit 2 and exactly one error, "FILE:LINE: key:
// problem", on the line of the text marked at (the replacement by default).
func TestCheckConfigErrorsExit2AndNameTheKey(t *testing.T) {
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const tail = "  addr: 127.0.0.1:9110\n"
	cases := []struct{ name, from, to, at, want string }{
		{"typo.yaml", "import_limit_kw:", "import_limt_kw:", "", "site.poi.import_limt_kw: unknown key"},
		{"range.yaml", "    pcs: {address: 127.0.0.1:15027}", "    pcs: {address: 127.0.0.1:15027, unit_id: 300}", "",
			"units[2].pcs.unit_id: must be within 0..255 (got 300)"},
		{"inf.yaml", "capacity_kwh: 5000}", "capacity_kwh: .inf}", "", "units[0].bms[0].capacity_kwh: must be a finite number (got .inf)"},
		{"nan.yaml", "load_kw: 1500", "load_kw: .nan", "", "simulator.grid.load_kw: must be a finite number (got .nan)"},
		{"control-port.yaml", "control_addr: 127.0.0.1:18080", "control_addr: 127.0.0.1:15021", "",
			"simulator.control_addr: 127.0.0.1:15021 is already used by units[0].pcs.address"},
		{"http-port.yaml", "  addr: 127.0.0.1:9110", "  addr: 127.0.0.1:1883", "",
			"http.addr: 127.0.0.1:1883 is already used by mqtt.embedded_broker"},
		{"wildcard-port.yaml", "  addr: 127.0.0.1:9110", "  addr: 0.0.0.0:15020", "",
			"http.addr: 0.0.0.0:15020 is already used by site.poi.meter.address"},
		{"lines.yaml", tail, tail + "lines: {}\n", "lines:", `lines: unknown key "lines" at the top level`},
		{"second-doc.yaml", tail, tail + "---\nsite: {name: other}\n", "site: {name: other}",
			"site: in a second YAML document; a configuration is one document, and the rest would be ignored"},
		{"type.yaml", "rated_e_kwh: 40000", "rated_e_kwh: lots", "", `site.rated_e_kwh: "lots" is not a number`},
		{"duration.yaml", "log: {format: console}", "log: {format: console}\ndevices: {timeout: 500}", "devices:",
			"devices.timeout: 500 has no unit; write a duration such as 500ms or 5s"},
		{"duplicate.yaml", tail, tail + "state_dir: ./other\n", "state_dir: ./other", "state_dir: set twice (first on line 42)"},
		{"no-capacity.yaml", "- {address: 127.0.0.1:15022, capacity_kwh: 5000}", "- {address: 127.0.0.1:15022}", "",
			"units[0].bms[0].capacity_kwh: missing (usable energy, kWh)"},
		{"negative-p.yaml", "rated_p_kw: 2500", "rated_p_kw: -5", "", "units[0].rated_p_kw: must be greater than 0 (got -5)"},
		{"ha-url.yaml", tail, tail + "ha: {enabled: true, name: a, etcd: [\"127.0.0.1:2379\"]}\n", "ha:",
			`ha.etcd[0]: "127.0.0.1:2379" is not an http:// or https:// URL`},
	}
	for _, c := range cases {
		bad := strings.Replace(string(demo), c.from, c.to, 1)
		if bad == string(demo) {
			t.Fatalf("%s: the demo config no longer has %q", c.name, c.from)
		}
		at := c.at
		if at == "" {
			at = c.to
		}
		path := writeFile(t, c.name, bad)
		want := fmt.Sprintf("%s:%d: %s", path, lineOf(t, bad, at), c.want)
		_, errOut, code := emsd(t, "check-config", path)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", c.name, code)
		}
		if n := strings.Count(errOut, want); n != 1 {
			t.Errorf("%s: error says %q %d times, want once:\n%s", c.name, want, n, errOut)
		}
		if n := strings.Count(strings.TrimSpace(errOut), "\n") + 1; n != 1 {
			t.Errorf("%s: %d error lines, want 1:\n%s", c.name, n, errOut)
		}
	}
}

// lineOf returns the 1-based line of the first occurrence of s in doc.
func lineOf(t *testing.T, doc, s string) int {
	t.Helper()
	i := strings.Index(doc, s)
	if i < 0 {
		t.Fatalf("%q is not in the document", s)
	}
	return strings.Count(doc[:i], "\n") + 1
}

// TestCheckConfigRefusesAHugeFileAtOnce: a file beyond any plant's
// configuration is refused by its size, before it is read: a 2 MiB file of
// comments, and a 200 MiB one (sparse, so the test writes little) within a
// second.
func TestCheckConfigRefusesAHugeFileAtOnce(t *testing.T) {
	for _, size := range []int64{2 << 20, 200 << 20} {
		path := filepath.Join(t.TempDir(), "huge.yaml")
		line := "# " + strings.Repeat("x", 1021) + "\n"
		if err := os.WriteFile(path, []byte(strings.Repeat(line, 2<<10)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, errOut, code := emsd(t, "check-config", path)
		took := time.Since(start)
		want := fmt.Sprintf("%s: the file is %d bytes; a configuration may have at most 1 MiB", path, size)
		if code != 2 || strings.Count(errOut, want) != 1 {
			t.Errorf("exit %d, want 2 and %q once:\n%s", code, want, errOut)
		}
		if took > time.Second {
			t.Errorf("check-config took %v to refuse a %d-byte file", took, size)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"check-config"}, {"run", "-nope"}} {
		if _, _, code := emsd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if out, _, code := emsd(t, "version"); code != 0 || !strings.HasPrefix(out, "emsd ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}

// demoOnFreePorts rewrites the demo config onto free ports so tests can run
// next to a `make run`.
func demoOnFreePorts(t *testing.T) string {
	t.Helper()
	p, _ := demoOnFreePortsMap(t)
	return p
}

// demoOnFreePortsMap is demoOnFreePorts that also returns each demo port's
// replacement, all distinct.
func demoOnFreePortsMap(t *testing.T) (string, map[int]int) {
	t.Helper()
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(demo)
	ports := map[int]int{}
	taken := map[int]bool{}
	for _, old := range []int{15020, 15021, 15022, 15023, 15024, 15025, 15026, 15027, 15028, 15029, 15030, 15031, 15032, 18080, 1883, 9110, 2404, 5020} {
		if !strings.Contains(s, fmt.Sprintf("127.0.0.1:%d", old)) {
			t.Fatalf("configs/demo.yaml no longer uses 127.0.0.1:%d; update demoOnFreePortsMap", old)
		}
		p := freePort(t)
		for taken[p] {
			p = freePort(t)
		}
		taken[p], ports[old] = true, p
		// \b: port 5020 must not match the start of a port already put in, like 50201.
		s = regexpReplace(s, fmt.Sprintf(`127\.0\.0\.1:%d\b`, old), fmt.Sprintf("127.0.0.1:%d", p))
	}
	s = strings.ReplaceAll(s, "state_dir: ./state", "state_dir: "+t.TempDir())
	s = strings.Replace(s, "control: {pcs_watchdog: 5s}", "control: {pcs_watchdog: 5s, summary_period: 1s}", 1)
	if !strings.Contains(s, "summary_period: 1s") {
		t.Fatal("demo.yaml no longer has the control line this test edits")
	}
	return writeFile(t, "demo.yaml", s), ports
}

// lines collects a process's output lines and lets a test wait for one.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) read(r *bufio.Scanner) {
	for r.Scan() {
		l.mu.Lock()
		l.all = append(l.all, r.Text())
		l.mu.Unlock()
	}
}

func (l *lines) waitFor(t *testing.T, timeout time.Duration, substr string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, s := range l.all {
			if strings.Contains(s, substr) {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no line with %q within %v; output:\n%s", substr, timeout, strings.Join(l.all, "\n"))
	return ""
}

// TestRunOnTheSimulatedPlant is `make run`: every device online and a plant
// summary within 10 s, then SIGINT ramps to 0 and exits 0. It also listens
// on a real NOTIFY_SOCKET for READY, WATCHDOG and STOPPING.
func TestRunOnTheSimulatedPlant(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var nmu sync.Mutex
	var notes []string
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			nmu.Lock()
			notes = append(notes, string(buf[:n]))
			nmu.Unlock()
		}
	}()

	cfg := demoOnFreePorts(t)
	cmd := exec.Command(binPath, "run", "-config", cfg, "-log-format", "console")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=300000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	go out.read(bufio.NewScanner(stderr))
	defer cmd.Process.Kill()

	out.waitFor(t, 10*time.Second, "all devices online")
	sum := out.waitFor(t, 10*time.Second-time.Since(start)+2*time.Second, "plant summary")
	for _, f := range []string{"poi_p_kw", "soc_pct", "f_hz", `"online": "13/13"`} {
		if !strings.Contains(sum, f) {
			t.Errorf("plant summary lacks %s: %s", f, sum)
		}
	}
	t.Logf("summary after %v: %s", time.Since(start).Round(time.Millisecond), sum)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("emsd did not exit after SIGINT")
	}
	out.waitFor(t, time.Second, "all units confirmed 0 kW")

	nmu.Lock()
	defer nmu.Unlock()
	got := strings.Join(notes, "|")
	for _, want := range []string{"READY=1", "WATCHDOG=1", "STOPPING=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("systemd notifications %q lack %s", got, want)
		}
	}
	if strings.Index(got, "READY=1") > strings.Index(got, "STOPPING=1") {
		t.Errorf("READY after STOPPING: %q", got)
	}
}

// TestDocsRegisterMapsMatchProfiles keeps docs/devices.md's simulator
// register maps identical to what the profiles say.
func TestDocsRegisterMapsMatchProfiles(t *testing.T) {
	readme, err := os.ReadFile("../../docs/devices.md")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sim-meter", "sim-pcs", "sim-bms", "example-pcs"} {
		var b bytes.Buffer
		writeMap(&b, ps[name])
		if !bytes.Contains(readme, b.Bytes()) {
			t.Errorf("docs/devices.md's register map of %s differs from `emsd profiles %s`; regenerate it:\n%s", name, name, b.String())
		}
	}
}

// docsMbpoll extracts docs/simulator.md's mbpoll examples: each fenced
// block that starts with "$ mbpoll" and the output lines under it.
func docsMbpoll(t *testing.T) (cmds [][]string, outs [][]string) {
	t.Helper()
	readme, err := os.ReadFile("../../docs/simulator.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```")
	for i := 1; i < len(blocks); i += 2 {
		ls := strings.Split(strings.Trim(blocks[i], "\n"), "\n")
		if len(ls) == 0 || !strings.HasPrefix(ls[0], "$ mbpoll ") {
			continue
		}
		cmds = append(cmds, strings.Fields(strings.TrimPrefix(ls[0], "$ mbpoll ")))
		outs = append(outs, ls[1:])
	}
	return cmds, outs
}

// TestDocsMbpoll runs docs/simulator.md's mbpoll commands against `emsd sim` on
// configs/demo.yaml, moved to free ports (each command's -p with it), and
// compares the data lines with what it documents.
func TestDocsMbpoll(t *testing.T) {
	mbpoll := testutil.NeedProgram(t, "mbpoll")
	cmds, outs := docsMbpoll(t)
	if len(cmds) < 4 {
		t.Fatalf("found %d mbpoll examples in docs/simulator.md, want at least 4", len(cmds))
	}
	demo, ports := demoOnFreePortsMap(t)
	for _, args := range cmds {
		if err := movePort(args, ports); err != nil {
			t.Fatalf("docs/simulator.md: mbpoll %s: %v", strings.Join(args, " "), err)
		}
	}
	cmd := exec.Command(binPath, "sim", "-config", demo, "-log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() }()
	out := &lines{}
	go out.read(bufio.NewScanner(stderr))
	out.waitFor(t, 10*time.Second, "simulated plant serving")

	for i, args := range cmds {
		res, err := exec.Command(mbpoll, args...).CombinedOutput()
		if err != nil {
			t.Errorf("mbpoll %s: %v\n%s", strings.Join(args, " "), err, res)
			continue
		}
		var got []string
		for _, l := range strings.Split(string(res), "\n") {
			if strings.HasPrefix(l, "[") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
		}
		var want []string
		for _, l := range outs[i] {
			want = append(want, strings.Join(strings.Fields(l), " "))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("mbpoll %s:\ngot\n%s\ndocs/simulator.md says\n%s", strings.Join(args, " "), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// movePort rewrites an mbpoll command's "-p PORT" in place to the port the
// demo's PORT was moved to.
func movePort(args []string, ports map[int]int) error {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-p" {
			continue
		}
		p, err := strconv.Atoi(args[i+1])
		if err != nil || ports[p] == 0 {
			return fmt.Errorf("-p %s is not a port of configs/demo.yaml", args[i+1])
		}
		args[i+1] = strconv.Itoa(ports[p])
		return nil
	}
	return errors.New("no -p PORT")
}

// TestKilledDaemonLeavesUnitsToTheirHeartbeatWatchdogs runs the plant
// (`emsd sim`) and the daemon (`emsd run`) as separate processes, holds the
// plant at power through frequency response, kills the daemon with SIGKILL
// (no shutdown ramp), and checks that every PCS falls to 0 kW once its
// heartbeat lapses.
func TestKilledDaemonLeavesUnitsToTheirHeartbeatWatchdogs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two processes for several seconds")
	}
	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	ctl := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	simCfg := strings.Replace(string(demo), "simulator:\n  enabled: true\n", "simulator:\n  enabled: true\n  pcs: {heartbeat_timeout: 1500ms}\n", 1)
	simCfg = regexpReplace(simCfg, `control_addr: 127\.0\.0\.1:\d+`, "control_addr: "+ctl)
	simCfg = strings.Replace(simCfg, "    frequency_hz: 50\n", "    frequency_hz: 49.8\n", 1)
	runCfg := strings.Replace(string(demo), "simulator:\n  enabled: true\n", "simulator:\n  enabled: false\n", 1)
	runCfg = regexpReplace(runCfg, `  control_addr: 127\.0\.0\.1:\d+\n`, "")
	runCfg = regexpReplace(runCfg, `  embedded_broker: 127\.0\.0\.1:\d+\n`, "  embedded_broker: \"\"\n")
	runCfg = strings.Replace(runCfg, "mqtt:\n  enabled: true\n", "mqtt:\n  enabled: false\n", 1)

	simProc := exec.Command(binPath, "sim", "-config", writeFile(t, "sim.yaml", simCfg), "-log-format", "json")
	simOut := &lines{}
	se, _ := simProc.StderrPipe()
	if err := simProc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { simProc.Process.Signal(syscall.SIGINT); simProc.Wait() }()
	go simOut.read(bufio.NewScanner(se))
	simOut.waitFor(t, 10*time.Second, "simulated plant serving")

	runProc := exec.Command(binPath, "run", "-config", writeFile(t, "run.yaml", runCfg), "-log-format", "json")
	runOut := &lines{}
	re, _ := runProc.StderrPipe()
	if err := runProc.Start(); err != nil {
		t.Fatal(err)
	}
	defer runProc.Process.Kill()
	go runOut.read(bufio.NewScanner(re))
	runOut.waitFor(t, 10*time.Second, "all devices online")

	// 49.8 Hz at 2 % droop and 0.033 Hz dead band: 1670 kW over 4 units.
	pcsP := func() []float64 {
		var st struct {
			Units []struct {
				PCS struct {
					PKW           float64 `json:"p_kw"`
					HeartbeatLost bool    `json:"heartbeat_lost"`
				} `json:"pcs"`
			} `json:"units"`
		}
		getJSON(t, "http://"+ctl+"/state", &st)
		var out []float64
		for _, u := range st.Units {
			p := u.PCS.PKW
			if u.PCS.HeartbeatLost {
				p = -p - 1e6 // mark lost heartbeats so the caller can see them
			}
			out = append(out, p)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := pcsP()
		if len(p) == 4 && p[0] > 300 && p[3] > 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("units never reached frequency-response power: %v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := runProc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	runProc.Wait()
	killed := time.Now()
	// Still at power right after the kill: nothing ramped them down.
	if p := pcsP(); p[0] < 300 {
		t.Fatalf("units dropped before their watchdog: %v", p)
	}
	for {
		p := pcsP()
		zero := true
		for _, x := range p {
			if x > -1e6+0.5 || x < -1e6-0.5 { // heartbeat lost and 0 kW
				zero = false
			}
		}
		if zero {
			t.Logf("all PCS at 0 kW with heartbeat lost %v after SIGKILL (watchdog 1.5 s)", time.Since(killed).Round(10*time.Millisecond))
			break
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("PCS still at power 5 s after the daemon died: %v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func regexpReplace(s, expr, repl string) string {
	return regexpMust(expr).ReplaceAllString(s, repl)
}

func regexpMust(expr string) *regexp.Regexp { return regexp.MustCompile(expr) }

// netDialer dials TCP with a short timeout.
type netDialer struct{}

func (netDialer) dial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 200*time.Millisecond)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
