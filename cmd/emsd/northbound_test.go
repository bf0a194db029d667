package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"
	"github.com/thinkgos/go-iecp5/cs104"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/modbus"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/testutil"
)

// dispatchMaster is an independent IEC 104 client (thinkgos/go-iecp5) in
// the role of the dispatch centre.
type dispatchMaster struct {
	c  *cs104.Client
	mu sync.Mutex
	rx []*asdu.ASDU
}

func (m *dispatchMaster) keep(a *asdu.ASDU) error {
	m.mu.Lock()
	m.rx = append(m.rx, a.Clone())
	m.mu.Unlock()
	return nil
}
func (m *dispatchMaster) InterrogationHandler(_ asdu.Connect, a *asdu.ASDU) error { return m.keep(a) }
func (m *dispatchMaster) CounterInterrogationHandler(_ asdu.Connect, a *asdu.ASDU) error {
	return m.keep(a)
}
func (m *dispatchMaster) ReadHandler(_ asdu.Connect, a *asdu.ASDU) error         { return m.keep(a) }
func (m *dispatchMaster) TestCommandHandler(_ asdu.Connect, a *asdu.ASDU) error  { return m.keep(a) }
func (m *dispatchMaster) ClockSyncHandler(_ asdu.Connect, a *asdu.ASDU) error    { return m.keep(a) }
func (m *dispatchMaster) ResetProcessHandler(_ asdu.Connect, a *asdu.ASDU) error { return m.keep(a) }
func (m *dispatchMaster) DelayAcquisitionHandler(_ asdu.Connect, a *asdu.ASDU) error {
	return m.keep(a)
}
func (m *dispatchMaster) ASDUHandler(_ asdu.Connect, a *asdu.ASDU) error { return m.keep(a) }

func newDispatchMaster(t *testing.T, addr string) *dispatchMaster {
	t.Helper()
	m := &dispatchMaster{}
	opt := cs104.NewOption()
	if err := opt.AddRemoteServer(addr); err != nil {
		t.Fatal(err)
	}
	opt.SetReconnectInterval(100 * time.Millisecond)
	m.c = cs104.NewClient(m, opt)
	m.c.LogMode(false)
	m.c.SetOnConnectHandler(func(c *cs104.Client) { c.SendStartDt() })
	if err := m.c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for m.c.TestCommand(asdu.CauseOfTransmission{Cause: asdu.Activation}, 1) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no IEC 104 data transfer 10 s after connecting")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}

// interrogated waits for the end of a station interrogation and returns
// its measurands by address.
func (m *dispatchMaster) interrogated(t *testing.T) map[asdu.InfoObjAddr]asdu.MeasuredValueFloatInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for i, a := range m.rx {
			if a.Type != asdu.C_IC_NA_1 || a.Coa.Cause != asdu.ActivationTerm {
				continue
			}
			out := map[asdu.InfoObjAddr]asdu.MeasuredValueFloatInfo{}
			for _, b := range m.rx[:i] {
				if b.Type == asdu.M_ME_NC_1 && b.Coa.Cause == asdu.InterrogatedByStation {
					for _, v := range b.Clone().GetMeasuredValueFloat() {
						out[v.Ioa] = v
					}
				}
			}
			m.rx = m.rx[i+1:]
			m.mu.Unlock()
			return out
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no end of interrogation within 10 s")
	return nil
}

// confirmation waits for the activation confirmation of typ and returns
// whether it was positive.
func (m *dispatchMaster) confirmation(t *testing.T, typ asdu.TypeID) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for i, a := range m.rx {
			if a.Type == typ && a.Coa.Cause == asdu.ActivationCon {
				m.rx = append(m.rx[:i:i], m.rx[i+1:]...)
				m.mu.Unlock()
				return !a.Coa.IsNegative
			}
		}
		m.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s confirmation within 10 s", typ)
	return false
}

// metric waits for a line of the daemon's /metrics.
func metric(t *testing.T, addr, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "\n"+line+"\n") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in /metrics within 10 s", line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ioaFor(q string) asdu.InfoObjAddr {
	for _, p := range points.DefaultPoints() {
		if p.Quantity == q {
			return asdu.InfoObjAddr(p.IOA)
		}
	}
	panic(q)
}

// TestDispatchLinkEndToEnd runs the daemon on the demo plant with its IEC
// 104 slave and drives it as a dispatch centre would: AGC on by
// select-before-execute, an AGC target that the plant follows at the POI,
// a target above rating refused with a negative confirmation, every
// command in the one audit log, and the fallback to 0 kW when the link
// is lost.
func TestDispatchLinkEndToEnd(t *testing.T) {
	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(demo)
	addr := regexpFind(cfg, `iec104: \{enabled: true, listen: (127\.0\.0\.1:\d+)\}`)
	d := &mqttDaemon{out: &lines{}, http: regexpFind(cfg, `http:\n  addr: (127\.0\.0\.1:\d+)`), stateDir: regexpFind(cfg, `state_dir: (\S+)`)}
	cmd := exec.Command(binPath, "run", "-config", writeFile(t, "dispatch.yaml", cfg), "-log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go d.out.read(bufio.NewScanner(stderr))
	d.out.waitFor(t, 10*time.Second, "all devices online")
	d.out.waitFor(t, 5*time.Second, "dispatch link")

	m := newDispatchMaster(t, addr)
	metric(t, d.http, "emsd_northbound_connections 1")

	// Interrogation: the POI power measured good, the energy counters and
	// the remote switch there.
	if err := m.c.InterrogationCmd(asdu.CauseOfTransmission{Cause: asdu.Activation}, 1, asdu.QOIStation); err != nil {
		t.Fatal(err)
	}
	gi := m.interrogated(t)
	if v, ok := gi[ioaFor(points.QP)]; !ok || v.Qds != asdu.QDSGood {
		t.Errorf("P in GI: %+v (present %v), want good", v, ok)
	}
	for _, q := range []string{points.QChargedToday, points.QDischargedToday, points.QAvailDischarge} {
		if _, ok := gi[ioaFor(q)]; !ok {
			t.Errorf("%s missing from GI", q)
		}
	}
	agc := ioaFor(points.QAGCEnable)
	for _, sel := range []bool{true, false} {
		if err := asdu.SingleCmd(m.c, asdu.C_SC_NA_1, asdu.CauseOfTransmission{Cause: asdu.Activation}, 1,
			asdu.SingleCommandInfo{Ioa: agc, Value: true, Qoc: asdu.QualifierOfCommand{InSelect: sel}}); err != nil {
			t.Fatal(err)
		}
		if !m.confirmation(t, asdu.C_SC_NA_1) {
			t.Fatalf("AGC on (select %v) refused", sel)
		}
	}
	d.waitDispatch(t, 5*time.Second, "AGC mode", func(s dispatchState) bool { return s.Mode == "agc" })

	target := ioaFor(points.QAGCTarget)
	setpoint := func(mw float32) bool {
		t.Helper()
		if err := asdu.SetpointCmdFloat(m.c, asdu.C_SE_NC_1, asdu.CauseOfTransmission{Cause: asdu.Activation}, 1,
			asdu.SetpointCommandFloatInfo{Ioa: target, Value: mw}); err != nil {
			t.Fatal(err)
		}
		return m.confirmation(t, asdu.C_SE_NC_1)
	}
	if !setpoint(2) {
		t.Fatal("AGC target 2 MW refused")
	}
	// AGC ramps at 20 % of rating per minute: the units start discharging.
	d.waitDispatch(t, 30*time.Second, "units discharging toward the 2 MW POI target", func(s dispatchState) bool { return s.P > 300 })
	if setpoint(12) {
		t.Fatal("AGC target 12 MW above the 10 MW rating confirmed")
	}

	_ = m.c.Close()
	d.out.waitFor(t, 10*time.Second, "dispatch fallback: AGC target 0 kW")
	metric(t, d.http, "emsd_northbound_fallbacks_total 1")

	var results []string
	for _, r := range d.audit(t) {
		if r["transport"] == "iec104" || r["transport"] == "northbound" {
			results = append(results, r["transport"].(string)+" "+r["name"].(string)+" "+r["result"].(string))
		}
	}
	want := []string{"iec104 mode ok", "iec104 agc_target ok", "iec104 agc_target refused", "northbound agc_target ok"}
	if strings.Join(results, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit %q, want %q", results, want)
	}
}

// TestNorthboundPointsCommand: `emsd northbound points` prints the default
// table as CSV, and with -config the table the configuration gives.
func TestNorthboundPointsCommand(t *testing.T) {
	out, errOut, code := emsd(t, "northbound", "points")
	var want strings.Builder
	if err := points.WriteCSV(&want, points.DefaultPoints()); err != nil {
		t.Fatal(err)
	}
	if code != 0 || out != want.String() {
		t.Fatalf("exit %d, stderr %q, stdout\n%s\nwant\n%s", code, errOut, out, want.String())
	}
	if !strings.HasPrefix(out, "ioa,type,name,unit,scale\n1,single,remote,,1\n") {
		t.Errorf("CSV starts %q", out[:min(len(out), 60)])
	}
	demo, err := os.ReadFile("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(demo), "  iec104: {enabled: true, listen: 127.0.0.1:2404}\n",
		"  iec104:\n    enabled: true\n    points:\n      - {ioa: 700, type: setpoint, quantity: agc_target, unit: kW}\n      - {ioa: 9, type: measurand, quantity: f_hz, unit: Hz}\n", 1)
	out, errOut, code = emsd(t, "northbound", "points", "-config", writeFile(t, "points.yaml", cfg))
	if code != 0 || out != "ioa,type,name,unit,scale\n700,setpoint,agc_target,kW,1\n9,measurand,f_hz,Hz,1\n" {
		t.Errorf("exit %d, stderr %q, stdout\n%s", code, errOut, out)
	}
	bad := strings.Replace(cfg, "quantity: f_hz", "quantity: hz", 1)
	_, errOut, code = emsd(t, "northbound", "points", "-config", writeFile(t, "bad.yaml", bad))
	if code != 2 || !strings.Contains(errOut, "northbound.iec104.points[1].quantity") {
		t.Errorf("bad table: exit %d, stderr %q", code, errOut)
	}
	if _, _, code := emsd(t, "northbound"); code != 2 {
		t.Errorf("emsd northbound without a subcommand exits %d, want 2", code)
	}
}

// TestDocsNorthboundTables: docs/northbound.md shows the default points
// table and its Modbus map as the code lays them out, and the README's
// "Connecting to dispatch" names every default point.
func TestDocsNorthboundTables(t *testing.T) {
	doc, err := os.ReadFile("../../docs/northbound.md")
	if err != nil {
		t.Fatal(err)
	}
	var pts, mbmap strings.Builder
	points.WriteMarkdown(&pts, points.DefaultPoints())
	modbus.WriteMap(&mbmap, points.DefaultPoints())
	for what, table := range map[string]string{"points table": pts.String(), "Modbus map": mbmap.String()} {
		if !strings.Contains(string(doc), table) {
			t.Errorf("docs/northbound.md's %s differs from the code's; it is:\n%s", what, table)
		}
	}
	sec := readmeSection(t, "## Connecting to dispatch")
	for _, p := range points.DefaultPoints() {
		if !strings.Contains(sec, "`"+p.Quantity+"`") {
			t.Errorf("README's Connecting to dispatch does not name %s (ioa %d)", p.Quantity, p.IOA)
		}
	}
}

// readmeSection returns the README from heading to the next "## ".
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q", heading)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec
}

// TestReadmeMbpollDispatch runs the README's mbpoll commands (Connecting
// to dispatch) against the daemon on the demo plant, moved to free ports:
// each succeeds, the reads return the values asked for, and the writes
// switch the plant to AGC with the target given, audited as Modbus.
func TestReadmeMbpollDispatch(t *testing.T) {
	mbpoll := testutil.NeedProgram(t, "mbpoll")
	var cmds [][]string
	for _, l := range strings.Split(readmeSection(t, "## Connecting to dispatch"), "\n") {
		if strings.HasPrefix(l, "$ mbpoll ") {
			cmds = append(cmds, strings.Fields(strings.TrimPrefix(l, "$ mbpoll ")))
		}
	}
	if len(cmds) < 4 {
		t.Fatalf("found %d mbpoll commands in the README, want 4", len(cmds))
	}
	demo, ports := demoOnFreePortsMap(t)
	for _, args := range cmds {
		if err := movePort(args, ports); err != nil {
			t.Fatalf("README: mbpoll %s: %v", strings.Join(args, " "), err)
		}
	}
	cfg, err := os.ReadFile(demo)
	if err != nil {
		t.Fatal(err)
	}
	d := &mqttDaemon{out: &lines{}, http: regexpFind(string(cfg), `http:\n  addr: (127\.0\.0\.1:\d+)`),
		stateDir: regexpFind(string(cfg), `state_dir: (\S+)`)}
	cmd := exec.Command(binPath, "run", "-config", demo, "-log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go d.out.read(bufio.NewScanner(stderr))
	d.out.waitFor(t, 10*time.Second, "all devices online")
	d.out.waitFor(t, 5*time.Second, "dispatch link")

	for _, args := range cmds {
		res, err := exec.Command(mbpoll, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %s: %v\n%s", strings.Join(args, " "), err, res)
		}
		n := 0
		for _, l := range strings.Split(string(res), "\n") {
			if strings.HasPrefix(l, "[") {
				n++
			}
		}
		want := 1
		for i, a := range args {
			if a == "-c" {
				want, _ = strconv.Atoi(args[i+1])
			}
		}
		if isWrite := !strings.HasPrefix(args[len(args)-1], "127."); !isWrite && n != want {
			t.Errorf("mbpoll %s: %d values, want %d:\n%s", strings.Join(args, " "), n, want, res)
		}
	}
	d.waitDispatch(t, 5*time.Second, "AGC mode", func(s dispatchState) bool { return s.Mode == "agc" })
	var got []string
	for _, r := range d.audit(t) {
		if r["transport"] == "modbus" {
			got = append(got, r["name"].(string)+" "+r["result"].(string)+" "+r["payload"].(string))
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "mode ok") || !strings.HasPrefix(got[1], "agc_target ok") || !strings.Contains(got[1], `"p":2500`) {
		t.Errorf("audit of the Modbus writes: %q", got)
	}
}

// TestPlantValuesGradeQuality: the values served to dispatch keep the
// process image's quality, and what the control loop derives goes stale
// with its snapshot: nothing stale or lost is ever good.
func TestPlantValuesGradeQuality(t *testing.T) {
	ctl, err := dispatch.New(dispatch.DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	d := station.NewDispatcher(ctl, zap.NewNop(), nil)
	num := func(x float64) *httpapi.Num { n := httpapi.Num(x); return &n }
	now := time.Now()
	fresh, old := now.Add(-100*time.Millisecond), now.Add(-10*time.Second)
	s := httpapi.State{SnapshotAt: &fresh,
		Plant: httpapi.PlantState{Points: map[string]*httpapi.Value{plant.PointP: {Value: num(500), Quality: "good"}, plant.PointF: {Quality: "lost"}},
			SOC: &httpapi.Value{Value: num(40), Quality: "stale"}},
		Dispatch: &httpapi.DispatchState{Mode: dispatch.ModeAGC, AvailDischarge: 800, Tripped: 1},
		Units: []httpapi.UnitState{{ID: "u1", Points: map[string]*httpapi.Value{plant.PointP: {Value: num(250), Quality: "good"}}, Protection: "trip"},
			{ID: "u2", Points: map[string]*httpapi.Value{plant.PointP: {Value: num(250), Quality: "lost"}}, Protection: "normal"}}}
	auth := command.NewAuthority(false)
	v := plantValues(s, d, auth, now, time.Second)
	want := map[string]northbound.Value{
		points.QP: {V: 500}, points.QSOC: {V: 40, Q: northbound.Stale}, points.QF: {Q: northbound.Lost},
		points.QRemote: {V: 0}, points.QAGCOn: {V: 1}, points.QFault: {V: 1}, points.QAvailDischarge: {V: 800},
		points.QAGCTargetKW:                      {Q: northbound.Lost},
		points.UnitQuantity(points.QUnitP, "u1"): {V: 250}, points.UnitQuantity(points.QUnitP, "u2"): {V: 250, Q: northbound.Lost},
		points.UnitQuantity(points.QUnitTrip, "u1"): {V: 1}, points.UnitQuantity(points.QUnitTrip, "u2"): {V: 0},
	}
	for q, w := range want {
		if got := v.Get(q); got.Q != w.Q || (w.Q != northbound.Lost && got.V != w.V) {
			t.Errorf("%s = %+v, want %+v", q, got, w)
		}
	}
	// The control loop's snapshot is old: everything it derives is stale.
	s.SnapshotAt = &old
	v = plantValues(s, d, auth, now, time.Second)
	for _, q := range []string{points.QAGCOn, points.QFault, points.QAvailDischarge, points.UnitQuantity(points.QUnitTrip, "u1")} {
		if got := v.Get(q); got.Q != northbound.Stale {
			t.Errorf("%s with a 10 s old snapshot = %+v, want stale", q, got)
		}
	}
}
