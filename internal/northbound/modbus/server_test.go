package modbus

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/testutil"
)

// The tests drive the slave with mbpoll, an independent Modbus master.

const ratedKW = 10000

// plant is a real dispatch controller behind the real command handler.
type plant struct {
	mu      sync.Mutex
	ctl     *dispatch.Controller
	applied []dispatch.Command
	audit   []command.Record
	vals    northbound.Values
}

func (p *plant) Submit(_ context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.ctl.Apply(cmd, time.Now()); err != nil {
		return time.Time{}, err
	}
	p.applied = append(p.applied, cmd)
	return time.Now(), nil
}

func (p *plant) Audit(r command.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.audit = append(p.audit, r)
	return nil
}

func (p *plant) source() northbound.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := northbound.Values{}
	for k, v := range p.vals {
		out[k] = v
	}
	return out
}

func (p *plant) appliedCmds() []dispatch.Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]dispatch.Command(nil), p.applied...)
}

func (p *plant) records() []command.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]command.Record(nil), p.audit...)
}

type rig struct {
	plant   *plant
	handler *command.Handler
	port    string
	mbpoll  string
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	bin := testutil.NeedProgram(t, "mbpoll")
	ctl, err := dispatch.New(dispatch.DefaultConfig(ratedKW))
	if err != nil {
		t.Fatal(err)
	}
	p := &plant{ctl: ctl, vals: northbound.Values{
		points.QP:      {V: 5000},
		points.QF:      {V: 50.01},
		points.QSOC:    {V: 55, Q: northbound.Stale},
		points.QRemote: {V: 1},
		points.QFault:  {V: 1, Q: northbound.Lost},
	}}
	h := command.NewHandler(p, command.HandlerOptions{Authority: command.NewAuthority(true), Audit: p})
	port := testutil.FreePort(t)
	cfg := Config{Addr: "127.0.0.1:" + strconv.Itoa(port), UnitID: 1, Allow: []string{"127.0.0.1"}, Points: points.DefaultPoints()}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg, p.source, northbound.NewDispatch(h, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &rig{plant: p, handler: h, port: strconv.Itoa(port), mbpoll: bin}
}

// poll runs mbpoll once against the slave and returns its data lines
// ("[1]: 5") and whether it succeeded.
func (r *rig) poll(t *testing.T, args ...string) ([]string, string, bool) {
	t.Helper()
	args = append([]string{"-m", "tcp", "-p", r.port, "-1", "-o", "5"}, args...)
	out, err := exec.Command(r.mbpoll, args...).CombinedOutput()
	var data []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "[") {
			data = append(data, strings.Join(strings.Fields(l), " "))
		}
	}
	return data, string(out), err == nil
}

func TestMbpollReadsTheMap(t *testing.T) {
	r := newRig(t, nil)
	// Measurands: P 5 MW, Q lost, U lost, f 50.01 Hz, SOC stale: a value
	// that is not good reads NaN, never as good.
	data, out, ok := r.poll(t, "-a", "1", "-t", "3:float", "-B", "-r", "1", "-c", "5", "127.0.0.1")
	if !ok {
		t.Fatalf("mbpoll read failed:\n%s", out)
	}
	want := []string{"[1]: 5", "[3]: nan", "[5]: nan", "[7]: 50.01", "[9]: nan"}
	if strings.Join(data, "|") != strings.Join(want, "|") {
		t.Errorf("input registers %q, want %q", data, want)
	}
	// Single points and their quality bits.
	data, out, ok = r.poll(t, "-a", "1", "-t", "1", "-r", "1", "-c", "3", "127.0.0.1")
	if !ok || strings.Join(data, "|") != "[1]: 1|[2]: 0|[3]: 1" {
		t.Errorf("discrete inputs %q:\n%s", data, out)
	}
	data, out, ok = r.poll(t, "-a", "1", "-t", "1", "-0", "-r", strconv.Itoa(ValidOffset), "-c", "3", "127.0.0.1")
	if !ok || strings.Join(data, "|") != "[1000]: 1|[1001]: 0|[1002]: 0" {
		t.Errorf("quality bits %q, want remote good, running lost, fault lost:\n%s", data, out)
	}
	// Past the end of the map: an exception.
	past := 0
	for _, e := range Map(points.DefaultPoints()) {
		if e.Table == InputRegisters {
			past = int(e.Addr) + 2
		}
	}
	if _, out, ok := r.poll(t, "-a", "1", "-t", "3:float", "-B", "-r", strconv.Itoa(past+1), "127.0.0.1"); ok {
		t.Errorf("read past the measurands succeeded:\n%s", out)
	}
}

func TestMbpollWritesTheAGCTarget(t *testing.T) {
	r := newRig(t, nil)
	if _, out, ok := r.poll(t, "-a", "1", "-t", "4:float", "-B", "-r", "1", "127.0.0.1", "2.5"); !ok {
		t.Fatalf("write of 2.5 MW refused:\n%s", out)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 1 || cmds[0] != (dispatch.AGCTarget{P: 2500}) {
		t.Fatalf("control loop got %v, want an AGC target of 2500 kW", cmds)
	}
	data, out, ok := r.poll(t, "-a", "1", "-t", "4:float", "-B", "-r", "1", "127.0.0.1")
	if !ok || strings.Join(data, "|") != "[1]: 2.5" {
		t.Errorf("setpoint read back %q:\n%s", data, out)
	}
	if recs := r.plant.records(); len(recs) != 1 || recs[0].Transport != "modbus" || recs[0].Result != command.ResultOK {
		t.Errorf("audit %+v", recs)
	}
}

func TestMbpollRefusedWritesGetExceptions(t *testing.T) {
	r := newRig(t, nil)
	pastHR := 0
	for _, e := range Map(points.DefaultPoints()) {
		if e.Table == HoldingRegisters {
			pastHR = int(e.Addr) + 2
		}
	}
	cases := []struct {
		what string
		args []string
		want string // in mbpoll's output
	}{
		{"above rating", []string{"-a", "1", "-t", "4:float", "-B", "-r", "1", "127.0.0.1", "12"}, "Illegal data value"},
		{"half a float", []string{"-a", "1", "-t", "4", "-r", "2", "127.0.0.1", "7"}, "Illegal data address"},
		{"past the map", []string{"-a", "1", "-t", "4:float", "-B", "-r", strconv.Itoa(pastHR + 1), "127.0.0.1", "1"}, "Illegal data address"},
		{"another unit id", []string{"-a", "2", "-t", "4:float", "-B", "-r", "1", "127.0.0.1", "1"}, "Target device failed to respond"},
	}
	for _, c := range cases {
		if _, out, ok := r.poll(t, c.args...); ok || !strings.Contains(out, c.want) {
			t.Errorf("%s: mbpoll ok=%v, want an exception %q:\n%s", c.what, ok, c.want, out)
		}
	}
	r.handler.Authority().SetRemoteEnabled(false)
	if _, out, ok := r.poll(t, "-a", "1", "-t", "4:float", "-B", "-r", "1", "127.0.0.1", "1"); ok || !strings.Contains(out, "Illegal data value") {
		t.Errorf("write in local mode: ok=%v:\n%s", ok, out)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("refused writes reached the control loop: %v", cmds)
	}
	var res []command.Result
	for _, rec := range r.plant.records() {
		res = append(res, rec.Result)
	}
	if len(res) != 2 || res[0] != command.ResultRefused || res[1] != command.ResultDenied {
		t.Errorf("audit results %v, want refused (rating) then remote_disabled", res)
	}
}

func TestMbpollCoilsExecuteCommands(t *testing.T) {
	r := newRig(t, nil)
	if _, out, ok := r.poll(t, "-a", "1", "-t", "0", "-r", "1", "127.0.0.1", "1"); !ok {
		t.Fatalf("AGC on refused:\n%s", out)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 1 || cmds[0] != (dispatch.SetMode{Mode: dispatch.ModeAGC}) {
		t.Fatalf("control loop got %v, want AGC mode", cmds)
	}
	data, _, ok := r.poll(t, "-a", "1", "-t", "0", "-r", "1", "-c", "2", "127.0.0.1")
	if !ok || strings.Join(data, "|") != "[1]: 1|[2]: 0" {
		t.Errorf("coils read back %q", data)
	}
}

func TestAllowListRefusesOtherClients(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Allow = []string{"127.0.0.2"} })
	if _, out, ok := r.poll(t, "-a", "1", "-t", "3:float", "-B", "-r", "1", "127.0.0.1"); ok || !strings.Contains(out, "Illegal function") {
		t.Errorf("read from outside the allow-list: ok=%v:\n%s", ok, out)
	}
	if _, _, ok := r.poll(t, "-a", "1", "-t", "4:float", "-B", "-r", "1", "127.0.0.1", "1"); ok {
		t.Error("write from outside the allow-list succeeded")
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("a refused client reached the control loop: %v", cmds)
	}
}
