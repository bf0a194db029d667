package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"
	"github.com/thinkgos/go-iecp5/cs104"

	"github.com/emsd/emsd/internal/northbound"
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

func ioaFor(q string) asdu.InfoObjAddr {
	for _, p := range northbound.DefaultPoints() {
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
	agc := ioaFor(northbound.QAGCEnable)
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

	target := ioaFor(northbound.QAGCTarget)
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
