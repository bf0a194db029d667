package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	gmb "github.com/goburrow/modbus"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/testutil"
)

// reassign moves every address of cfg to a free port.
func reassign(t *testing.T, cfg *config.Config) {
	t.Helper()
	cfg.Site.POI.Meter.Address = testutil.FreeAddr(t)
	for i := range cfg.Units {
		cfg.Units[i].PCS.Address = testutil.FreeAddr(t)
		for j := range cfg.Units[i].BMS {
			cfg.Units[i].BMS[j].Address = testutil.FreeAddr(t)
		}
	}
	cfg.Simulator.ControlAddr = testutil.FreeAddr(t)
}

// demoConfig loads configs/demo.yaml and moves every address to a free port,
// so tests run next to a daemon on the real ports.
func demoConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reassign(t, cfg)
	off := time.Duration(0) // tests that want the watchdog set it
	cfg.Simulator.PCS.HeartbeatTimeout = &off
	return cfg
}

func profiles(t *testing.T) devices.Profiles {
	t.Helper()
	p, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startPlant(t *testing.T, cfg *config.Config) *Plant {
	t.Helper()
	return startWith(t, cfg, profiles(t))
}

// startWith starts a plant; when another process took one of the free
// ports meanwhile, it retries on new ones.
func startWith(t *testing.T, cfg *config.Config, prof devices.Profiles) *Plant {
	t.Helper()
	for try := 0; ; try++ {
		p, err := New(cfg, prof, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Start(context.Background())
		if err != nil && try < 3 && strings.Contains(err.Error(), "address already in use") {
			reassign(t, cfg)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		})
		return p
	}
}

// client is a Modbus TCP client of one device, decoding with its profile.
type client struct {
	t    *testing.T
	h    *gmb.TCPClientHandler
	c    gmb.Client
	prof *devices.Profile
}

func dial(t *testing.T, addr string, prof *devices.Profile, timeout time.Duration) *client {
	t.Helper()
	h := gmb.NewTCPClientHandler(addr)
	h.SlaveId = 1
	h.Timeout = timeout
	t.Cleanup(func() { h.Close() })
	return &client{t: t, h: h, c: gmb.NewClient(h), prof: prof}
}

// regs reads count registers of a table from start.
func (c *client) regs(table devices.Table, start, count uint16) ([]uint16, error) {
	var b []byte
	var err error
	if table == devices.Input {
		b, err = c.c.ReadInputRegisters(start, count)
	} else {
		b, err = c.c.ReadHoldingRegisters(start, count)
	}
	if err != nil {
		return nil, err
	}
	r := make([]uint16, len(b)/2)
	devices.BytesToRegs(b, r)
	return r, nil
}

// point reads and decodes one named point, with its scale factor.
func (c *client) point(name string) float64 {
	c.t.Helper()
	pt := &c.prof.Points[c.prof.Point(name)]
	var sf int16
	if pt.ScalePoint != "" {
		sp := &c.prof.Points[c.prof.Point(pt.ScalePoint)]
		r, err := c.regs(sp.Table, sp.Address, 1)
		if err != nil {
			c.t.Fatalf("read %s: %v", sp.Name, err)
		}
		sf = int16(r[0])
	}
	r, err := c.regs(pt.Table, pt.Address, uint16(pt.Words()))
	if err != nil {
		c.t.Fatalf("read %s: %v", name, err)
	}
	v, err := pt.Decode(r, sf)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// set encodes and writes one writable point.
func (c *client) set(name string, v float64) error {
	pt := &c.prof.Points[c.prof.Point(name)]
	r := make([]uint16, pt.Words())
	if err := pt.Encode(v, 0, r); err != nil {
		return err
	}
	_, err := c.c.WriteMultipleRegisters(pt.Address, uint16(len(r)), devices.RegsToBytes(r, nil))
	return err
}

func TestModbusReadDemo(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	prof := profiles(t)
	snap := p.Snapshot()

	m := dial(t, cfg.Site.POI.Meter.Address, prof["sim-meter"], 3*time.Second)
	near(t, "meter f", m.point(plant.PointF), 50, 1e-6)
	near(t, "meter P (load 1500 kW, PCS idle)", m.point(plant.PointP), -1500, 1e-3)
	near(t, "meter Q", m.point(plant.PointQ), 0, 1e-3)
	near(t, "meter V", m.point(plant.PointV), 10000, 1e-3)

	for i, u := range cfg.Units {
		pc := dial(t, u.PCS.Address, prof["sim-pcs"], 3*time.Second)
		near(t, u.ID+" PCS P", pc.point(plant.PointP), 0, 0)
		near(t, u.ID+" PCS state", pc.point(plant.PointState), 1, 0) // running, waiting for a setpoint
		near(t, u.ID+" PCS run", pc.point(plant.PointRun), 1, 0)
		near(t, u.ID+" PCS fault", pc.point(plant.PointFault), 0, 0)
		for j, b := range u.BMS {
			bc := dial(t, b.Address, prof["sim-bms"], 3*time.Second)
			want := snap.Units[i].BMS[j]
			near(t, fmt.Sprintf("%s.bms%d SOC", u.ID, j), bc.point(plant.PointSOC), want.SOCPct, 0.05)
			near(t, "pack V", bc.point(plant.PointV), want.VV, 0.05)
			near(t, "cell V max", bc.point(plant.PointCellVMax), want.CellVMax, 0.0005)
			near(t, "cell T max", bc.point(plant.PointCellTMax), want.CellTMax, 0.05)
			near(t, "discharge limit", bc.point(plant.PointDischargeMax), 2500, 0.05)
			near(t, "charge limit", bc.point(plant.PointChargeMax), 2500, 0.05)
			near(t, "alarm level", bc.point(plant.PointAlarmLevel), 0, 0)
			near(t, "contactor", bc.point(plant.PointContactor), 1, 0)
			// The profile's own scale-factor registers are served as fixed values.
			sf, err := bc.regs(devices.Input, 20, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got := []int16{int16(sf[0]), int16(sf[1]), int16(sf[2])}; got[0] != -1 || got[1] != 0 || got[2] != -1 {
				t.Errorf("v_sf, i_sf, w_sf = %v, want [-1 0 -1]", got)
			}
		}
	}
	// SOC spread: 45 % .. 55 % over the 8 batteries.
	near(t, "first SOC", snap.Units[0].BMS[0].SOCPct, 45, 0.01)
	near(t, "last SOC", snap.Units[3].BMS[1].SOCPct, 55, 0.01)

	// Unmapped registers read 0; a read across them works.
	r, err := dial(t, cfg.Units[0].BMS[0].Address, prof["sim-bms"], time.Second).regs(devices.Input, 13, 7)
	if err != nil || fmt.Sprint(r) != "[0 0 0 0 0 0 0]" {
		t.Errorf("unmapped registers: %v, %v", r, err)
	}
}

func TestModbusSetpointFollows(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	prof := profiles(t)
	pc := dial(t, cfg.Units[1].PCS.Address, prof["sim-pcs"], 3*time.Second)
	if err := pc.set(plant.PointPSet, 1234.5); err != nil {
		t.Fatal(err)
	}
	if err := pc.set(plant.PointQSet, -200); err != nil {
		t.Fatal(err)
	}
	near(t, "p_set read back", pc.point(plant.PointPSet), 1234.5, 1e-9)
	testutil.WaitFor(t, 5*time.Second, "PCS P follows the setpoint", func() bool { return pc.point(plant.PointP) > 1234 })
	near(t, "PCS P after the setpoint", pc.point(plant.PointP), 1234.5, 0.5)
	near(t, "PCS Q", pc.point(plant.PointQ), -200, 0.5)
	s := p.Snapshot()
	near(t, "truth P", s.Units[1].PCS.PKW, 1234.5, 0.5)
	m := dial(t, cfg.Site.POI.Meter.Address, prof["sim-meter"], 3*time.Second)
	near(t, "POI P = Σ PCS − load", m.point(plant.PointP), 1234.5-1500, 0.5)

	// Stop: run = 0 brings it to 0.
	if err := pc.set(plant.PointRun, 0); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "P goes to 0 after stop", func() bool { return pc.point(plant.PointP) < 0.05 })
	near(t, "state after stop", pc.point(plant.PointState), 0, 0)

	// Writes to read-only or unmapped registers are refused.
	_, err := pc.c.WriteSingleRegister(10, 1)
	var mbErr *gmb.ModbusError
	if !errors.As(err, &mbErr) || mbErr.ExceptionCode != gmb.ExceptionCodeIllegalDataAddress {
		t.Errorf("write to an unmapped register: %v, want illegal data address", err)
	}
	_, err = pc.c.WriteMultipleRegisters(4, 3, []byte{0, 1, 0, 2, 0, 3}) // run, heartbeat, unmapped 6
	if !errors.As(err, &mbErr) || mbErr.ExceptionCode != gmb.ExceptionCodeIllegalDataAddress {
		t.Errorf("write across a non-writable register: %v, want illegal data address", err)
	}
	near(t, "run untouched by a refused write", pc.point(plant.PointRun), 0, 0)
}

func TestModbusHeartbeatAndFault(t *testing.T) {
	cfg := demoConfig(t)
	hb := time.Second
	cfg.Simulator.PCS.HeartbeatTimeout = &hb
	p := startPlant(t, cfg)
	pc := dial(t, cfg.Units[0].PCS.Address, profiles(t)["sim-pcs"], 3*time.Second)
	if err := pc.set(plant.PointPSet, 500); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "heartbeat-lost bit", func() bool { return pc.point(plant.PointFaultWord) == FaultHeartbeatLost })
	if age := p.Snapshot().Units[0].PCS.HeartbeatAge; age < hb {
		t.Errorf("heartbeat lost at age %v, before the timeout %v", age, hb)
	}
	near(t, "P without heartbeat", pc.point(plant.PointP), 0, 0)
	near(t, "state without heartbeat", pc.point(plant.PointState), 2, 0)
	i := 0
	testutil.WaitFor(t, 5*time.Second, "P resumes with a heartbeat", func() bool {
		i++
		if err := pc.set(plant.PointHeartbeat, float64(i)); err != nil {
			t.Fatal(err)
		}
		return pc.point(plant.PointP) > 499.5
	})
	near(t, "fault word with heartbeat", pc.point(plant.PointFaultWord), 0, 0)
	if err := p.SetPCSFault("u1", true); err != nil {
		t.Fatal(err)
	}
	near(t, "faulted P", pc.point(plant.PointP), 0, 0)
	near(t, "fault bit", pc.point(plant.PointFault), 1, 0)
	near(t, "state", pc.point(plant.PointState), 2, 0)
	if err := p.SetPCSFault("u9", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown unit: %v", err)
	}
}

func TestModbusBMSAlarm(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	prof := profiles(t)
	bc := dial(t, cfg.Units[2].BMS[1].Address, prof["sim-bms"], 3*time.Second)
	pc := dial(t, cfg.Units[2].PCS.Address, prof["sim-pcs"], 3*time.Second)
	if err := pc.set(plant.PointHeartbeat, 7); err != nil {
		t.Fatal(err)
	}
	if err := pc.set(plant.PointPSet, 2000); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "PCS at 2000 kW", func() bool { return pc.point(plant.PointP) > 1999.5 })
	if err := p.SetBMSAlarm("u3", 1, 3); err != nil {
		t.Fatal(err)
	}
	near(t, "alarm level", bc.point(plant.PointAlarmLevel), 3, 0)
	near(t, "contactor", bc.point(plant.PointContactor), 0, 0)
	near(t, "discharge limit", bc.point(plant.PointDischargeMax), 0, 0)
	testutil.WaitFor(t, 5*time.Second, "PCS limited to the closed battery's share", func() bool { return pc.point(plant.PointP) < 1250.05 })
	near(t, "PCS P with one of two contactors open", pc.point(plant.PointP), 1250, 0.1)
	if err := p.SetBMSAlarm("u3", 1, -1); err != nil {
		t.Fatal(err)
	}
	near(t, "contactor after release", bc.point(plant.PointContactor), 1, 0)
	for _, bad := range []struct {
		u     string
		j, lv int
	}{{"u3", 2, 1}, {"u3", 0, 4}, {"nope", 0, 1}} {
		if err := p.SetBMSAlarm(bad.u, bad.j, bad.lv); err == nil {
			t.Errorf("SetBMSAlarm(%q, %d, %d) accepted", bad.u, bad.j, bad.lv)
		}
	}
}

func TestDropRestore(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	addr := cfg.Units[0].BMS[0].Address
	c := dial(t, addr, profiles(t)["sim-bms"], 3*time.Second)
	c.point(plant.PointSOC)
	if err := p.DropDevice("u1.bms0"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.regs(devices.Input, 0, 1); err == nil {
		t.Error("read on the dropped device's open connection succeeded")
	}
	if conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
		conn.Close()
		t.Fatal("dropped device still accepts connections")
	}
	// The other devices are untouched.
	dial(t, cfg.Units[0].BMS[1].Address, profiles(t)["sim-bms"], time.Second).point(plant.PointSOC)
	if err := p.RestoreDevice("u1.bms0"); err != nil {
		t.Fatal(err)
	}
	c.h.Close()
	c.point(plant.PointSOC)
	if err := p.DropDevice("u1.bms7"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "u1.bms1") {
		t.Errorf("unknown device: %v", err)
	}
}

func TestDelay(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	c := dial(t, cfg.Site.POI.Meter.Address, profiles(t)["sim-meter"], 2*time.Second)
	if err := p.DelayDevice("poi", 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.point(plant.PointF)
	if d := time.Since(start); d < 500*time.Millisecond || d > 3*time.Second {
		t.Errorf("delayed read took %v, want 500 ms", d)
	}
	if err := p.DelayDevice("poi", 0); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c.point(plant.PointF)
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("undelayed read took %v", d)
	}
}

func TestBlackhole(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	prof := profiles(t)["sim-pcs"]
	addr := cfg.Units[3].PCS.Address
	if err := p.Blackhole("u4.pcs", true); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr, prof, 300*time.Millisecond)
	start := time.Now()
	_, err := c.regs(devices.Input, 0, 6)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("blackholed read: %v after %v, want a timeout", err, time.Since(start))
	}
	// A write is swallowed too.
	c2 := dial(t, addr, prof, 300*time.Millisecond)
	if err := c2.set(plant.PointPSet, 100); err == nil {
		t.Fatal("blackholed write answered")
	}
	if err := p.Blackhole("u4.pcs", false); err != nil {
		t.Fatal(err)
	}
	c3 := dial(t, addr, prof, 3*time.Second)
	near(t, "P after the blackhole", c3.point(plant.PointP), 0, 0)
	near(t, "swallowed write had no effect", c3.point(plant.PointPSet), 0, 0)
	// The connection that had a request swallowed is closed.
	time.Sleep(50 * time.Millisecond)
	if _, err := c.regs(devices.Input, 0, 1); err == nil {
		t.Error("the blackholed connection answered after the blackhole ended")
	}
}

func TestAddressInUse(t *testing.T) {
	cfg := demoConfig(t)
	ln, err := net.Listen("tcp", cfg.Units[1].BMS[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p, err := New(cfg, profiles(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start(context.Background())
	if err == nil {
		p.Close()
		t.Fatal("Start succeeded with an address in use")
	}
	if !strings.Contains(err.Error(), "u2.bms0") || !strings.Contains(err.Error(), cfg.Units[1].BMS[0].Address) {
		t.Errorf("error %q does not name the device and address", err)
	}
	// Everything it had bound is released: a second try after freeing works.
	ln.Close()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestStepFrequency(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	m := dial(t, cfg.Site.POI.Meter.Address, profiles(t)["sim-meter"], 3*time.Second)
	near(t, "f before", m.point(plant.PointF), 50, 1e-6)
	at := p.StepFrequency(49.8)
	v := m.point(plant.PointF)
	if time.Now().Before(at) {
		t.Fatal("StepFrequency returned an instant in the future")
	}
	near(t, "f after", v, 49.8, 1e-5)
	p.SetLoad(0)
	near(t, "POI P with no load", m.point(plant.PointP), 0, 1e-6)
}

func TestFrequencyStepsScript(t *testing.T) {
	cfg := demoConfig(t)
	cfg.Simulator.Grid.Steps = []config.FreqStep{{At: time.Second, Hz: 49.9}}
	start := time.Now()
	p := startPlant(t, cfg)
	m := dial(t, cfg.Site.POI.Meter.Address, profiles(t)["sim-meter"], 3*time.Second)
	if f := m.point(plant.PointF); time.Since(start) < time.Second {
		near(t, "f before the scripted step", f, 50, 1e-6)
	}
	testutil.WaitFor(t, 5*time.Second, "scripted step", func() bool { return m.point(plant.PointF) < 49.95 })
	if d := time.Since(start); d < time.Second {
		t.Errorf("scripted step at 1 s seen after %v", d)
	}
	near(t, "f after the scripted step", m.point(plant.PointF), 49.9, 1e-5)
	near(t, "truth", p.Snapshot().POI.FHz, 49.9, 1e-9)
}

// post sends a control API request and decodes the JSON reply.
func post(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func TestHTTPAPI(t *testing.T) {
	cfg := demoConfig(t)
	p := startPlant(t, cfg)
	base := "http://" + cfg.Simulator.ControlAddr
	ok := func(method, path string) map[string]any {
		t.Helper()
		code, body := post(t, method, base+path)
		if code != http.StatusOK {
			t.Fatalf("%s %s: %d %v", method, path, code, body)
		}
		return body
	}
	st := ok("GET", "/state")
	if units := st["units"].([]any); len(units) != 4 {
		t.Fatalf("/state has %d units", len(units))
	}
	ok("POST", "/devices/u2.pcs/drop")
	if conn, err := net.Dial("tcp", cfg.Units[1].PCS.Address); err == nil {
		conn.Close()
		t.Error("drop over HTTP did not drop")
	}
	ok("POST", "/devices/u2.pcs/restore")
	ok("POST", "/devices/poi/delay?ms=20")
	ok("POST", "/devices/poi/delay?ms=0")
	ok("POST", "/devices/u1.bms1/blackhole?on=true")
	ok("POST", "/devices/u1.bms1/blackhole?on=false")
	ok("POST", "/pcs/u3/fault?on=true")
	if !p.Snapshot().Units[2].PCS.Fault {
		t.Error("fault over HTTP not set")
	}
	ok("POST", "/pcs/u3/fault?on=false")
	ok("POST", "/bms/u4/1/alarm?level=2")
	if s := p.Snapshot().Units[3].BMS[1]; s.AlarmLevel != 2 || s.ForcedAlarm != 2 {
		t.Errorf("alarm over HTTP: %+v", s)
	}
	if b := ok("POST", "/grid/frequency?hz=50.2"); b["f_hz"] != 50.2 || b["at"] == nil {
		t.Errorf("frequency reply %v", b)
	}
	ok("POST", "/grid/load?kw=-300")
	if s := p.Snapshot().POI; s.FHz != 50.2 || s.LoadKW != -300 {
		t.Errorf("grid over HTTP: %+v", s)
	}

	bad := []struct {
		method, path string
		code         int
		reason       string
	}{
		{"POST", "/devices/nope/drop", 404, `device "nope"`},
		{"POST", "/devices/poi/delay", 400, "ms is missing"},
		{"POST", "/devices/poi/delay?ms=-5", 400, "outside"},
		{"POST", "/devices/poi/delay?ms=abc", 400, "not a number"},
		{"POST", "/devices/poi/blackhole?on=maybe", 400, "not true or false"},
		{"POST", "/pcs/u1/fault", 400, "on is missing"},
		{"POST", "/pcs/u9/fault?on=true", 404, `unit "u9"`},
		{"POST", "/bms/u1/x/alarm?level=1", 400, "not an integer"},
		{"POST", "/bms/u1/5/alarm?level=1", 404, "no bms 5"},
		{"POST", "/bms/u1/0/alarm?level=4", 400, "outside -1..3"},
		{"POST", "/bms/u1/0/alarm?level=1.5", 400, "not an integer"},
		{"POST", "/grid/frequency?hz=NaN", 400, "not a number"},
		{"POST", "/grid/frequency?hz=99", 400, "outside 40..70"},
		{"POST", "/grid/load?kw=", 400, "kw is missing"},
		{"GET", "/nothing", 404, "no endpoint"},
	}
	for _, c := range bad {
		code, body := post(t, c.method, base+c.path)
		msg, _ := body["error"].(string)
		if code != c.code || !strings.Contains(msg, c.reason) {
			t.Errorf("%s %s: %d %q, want %d with %q", c.method, c.path, code, msg, c.code, c.reason)
		}
	}
	if code, _ := post(t, "GET", base+"/pcs/u1/fault?on=true"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET on a POST endpoint: %d, want 405", code)
	}
}

func TestTraceReplay(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cfg := demoConfig(t)
	cfg.Simulator.Grid.FrequencyTrace = write("f.csv", "t_s,f_hz\n100,50.0\n101,49.0\n")
	cfg.Simulator.Grid.LoadTrace = write("load.csv", "t_s,load_kw\n0,1000\n3600,4600\n")
	cfg.Simulator.Grid.TraceSpeed = 10
	p := startPlant(t, cfg)
	m := dial(t, cfg.Site.POI.Meter.Address, profiles(t)["sim-meter"], 3*time.Second)
	testutil.WaitFor(t, 5*time.Second, "frequency trace replayed at 10x", func() bool { return m.point(plant.PointF) < 49.99 })
	testutil.WaitFor(t, 5*time.Second, "end of the frequency trace held", func() bool { return m.point(plant.PointF) == 49 })
	s := p.Snapshot()
	if s.POI.LoadKW < 1000 || s.POI.LoadKW > 1100 {
		t.Errorf("load from the trace after ~0.1-5 s at 10x: %v kW", s.POI.LoadKW)
	}
	near(t, "POI P = -load", s.POI.PKW, -s.POI.LoadKW, 1e-9)

	cfg.Simulator.Grid.FrequencyTrace = cfg.Simulator.Grid.LoadTrace
	if _, err := New(cfg, profiles(t), nil); err == nil || !strings.Contains(err.Error(), "LoadKW trace") {
		t.Errorf("a load trace as frequency trace: %v", err)
	}
	cfg.Simulator.Grid.FrequencyTrace = dir + "/missing.csv"
	if _, err := New(cfg, profiles(t), nil); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("a missing trace: %v", err)
	}
}

// A user-written profile for a simulated device: other addresses, a scale
// factor on the setpoint, a fault bit field without a fault word, CDAB floats.
const userPCS = `
name: my-pcs
kind: pcs
word_order: low_first
groups: [{name: fast, period: 100ms}]
points:
  - {name: p_kw, table: input, address: 10, type: int16, scale_point: w_sf, group: fast}
  - {name: q_kvar, table: input, address: 11, type: float32, group: fast}
  - {name: w_sf, table: input, address: 20, type: int16, group: fast}
  - {name: fault, table: input, address: 30, type: uint16, bit_offset: 3, bit_width: 1, group: fast}
  - {name: state, table: input, address: 30, type: uint16, bit_offset: 0, bit_width: 2, group: fast}
  - {name: vendor_thing, table: input, address: 31, type: uint16, group: fast}
  - {name: p_set_kw, table: holding, address: 100, type: int16, scale_point: w_sf, writable: true}
  - {name: run, table: holding, address: 102, type: uint16, writable: true}
`

func TestUserProfile(t *testing.T) {
	cfg := demoConfig(t)
	prof, err := devices.ParseProfile([]byte(userPCS), "test:my-pcs")
	if err != nil {
		t.Fatal(err)
	}
	all := profiles(t)
	all[prof.Name] = prof
	cfg.Units[0].PCS.Profile = prof.Name
	uid := 3
	cfg.Units[0].PCS.UnitID = &uid
	hb := 100 * time.Millisecond // the profile has no heartbeat: the watchdog stays off
	cfg.Simulator.PCS.HeartbeatTimeout = &hb
	p := startWith(t, cfg, all)

	c := dial(t, cfg.Units[0].PCS.Address, prof, 3*time.Second)
	c.h.SlaveId = 3
	sf, err := c.regs(devices.Input, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if int16(sf[0]) != 0 { // 1.2 × 2750 kVA fits int16 at 10^0
		t.Errorf("w_sf = %d, want 0", int16(sf[0]))
	}
	pt := &prof.Points[prof.Point(plant.PointPSet)]
	r := make([]uint16, 1)
	if err := pt.Encode(-800, int16(sf[0]), r); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.WriteSingleRegister(100, r[0]); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "P follows", func() bool { return c.point(plant.PointP) == -800 })
	time.Sleep(2 * hb)
	if s := p.Snapshot().Units[0].PCS; s.HeartbeatLost || math.Abs(s.PKW+800) > 0.5 {
		t.Errorf("PCS without a heartbeat point: lost %v, P %v", s.HeartbeatLost, s.PKW)
	}
	near(t, "state bits", c.point(plant.PointState), 1, 0)
	near(t, "fault bit", c.point(plant.PointFault), 0, 0)
	if err := p.SetPCSFault("u1", true); err != nil {
		t.Fatal(err)
	}
	w, err := c.regs(devices.Input, 30, 2)
	if err != nil {
		t.Fatal(err)
	}
	if w[0] != 1<<3|2 || w[1] != 0 {
		t.Errorf("status word %#x and unknown point %d, want 0xa (fault bit 3, state 2) and 0", w[0], w[1])
	}
	near(t, "Q as float", c.point(plant.PointQ), 0, 0)
	// The register between p_set_kw and run is not writable.
	if _, err := c.c.WriteMultipleRegisters(100, 3, []byte{0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("a write across an unmapped holding register was accepted")
	}
	// Another unit id is not this device.
	c.h.SlaveId = 1
	if _, err := c.regs(devices.Input, 10, 1); err == nil {
		t.Error("unit id 1 answered by a device configured as unit 3")
	}
}
