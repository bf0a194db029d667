package iec104

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"
	"github.com/thinkgos/go-iecp5/cs104"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/reactive"
	"github.com/emsd/emsd/internal/testutil"
)

// The tests drive the server with the thinkgos IEC 104 client, an
// implementation separate from the server's library, over loopback.

const ca = 1 // the station's common address in the tests

// ratedKW is the test plant's rated power.
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

func (p *plant) set(q string, v northbound.Value) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.vals[q] = v
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

// rig is a running server with its plant.
type rig struct {
	srv     *Server
	plant   *plant
	handler *command.Handler
	link    *northbound.Link
	addr    string
}

func newRig(t *testing.T, mod func(*Config, *northbound.LinkConfig)) *rig {
	t.Helper()
	ctl, err := dispatch.New(dispatch.DefaultConfig(ratedKW))
	if err != nil {
		t.Fatal(err)
	}
	p := &plant{ctl: ctl, vals: northbound.Values{
		points.QP:      {V: 5000},
		points.QF:      {V: 50.01},
		points.QSOC:    {V: 55, Q: northbound.Stale},
		points.QRemote: {V: 1},
		points.QFault:  {V: 0},
	}}
	h := command.NewHandler(p, command.HandlerOptions{Authority: command.NewAuthority(true), Audit: p})
	addr := testutil.FreeAddr(t)
	cfg := Config{Addr: addr, CommonAddr: ca, Allow: []string{"127.0.0.1"}, Scan: 20 * time.Millisecond,
		Points: points.DefaultPoints()}
	lc := northbound.LinkConfig{Fallback: northbound.Zero}
	if mod != nil {
		mod(&cfg, &lc)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.DebugLevel))
	link := northbound.NewLink(lc, h, log)
	disp := northbound.NewDispatch(h, link).WithPFR(func() dispatch.PFRParams {
		p.mu.Lock()
		defer p.mu.Unlock()
		params, _ := p.ctl.PFR()
		return params
	}).WithReactive(func() reactive.Params {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ctl.Reactive()
	})
	srv, err := New(cfg, p.source, disp, link, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go link.Run(ctx)
	t.Cleanup(func() { cancel(); _ = srv.Close() })
	return &rig{srv: srv, plant: p, handler: h, link: link, addr: addr}
}

// rx is one ASDU the master received, decoded.
type rx struct {
	Type  asdu.TypeID
	Cause asdu.Cause
	Neg   bool
	CA    asdu.CommonAddr
	IOA   asdu.InfoObjAddr
	Float float32
	On    bool
	QDS   asdu.QualityDescriptor
	Time  time.Time
}

func (r rx) String() string {
	return fmt.Sprintf("%s cause=%d neg=%v ca=%d ioa=%d f=%g on=%v qds=%#x", r.Type, r.Cause, r.Neg, r.CA, r.IOA, r.Float, r.On, r.QDS)
}

// master is an IEC 104 client that records every object it receives.
type master struct {
	c  *cs104.Client
	mu sync.Mutex
	rx []rx
}

func dial(t *testing.T, addr string) *master {
	t.Helper()
	m := &master{}
	opt := cs104.NewOption()
	if err := opt.AddRemoteServer(addr); err != nil {
		t.Fatal(err)
	}
	opt.SetReconnectInterval(50 * time.Millisecond) // until the server listens
	m.c = cs104.NewClient(m, opt)
	m.c.LogMode(false)
	m.c.SetOnConnectHandler(func(c *cs104.Client) { c.SendStartDt() })
	if err := m.c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.c.Close() })
	testutil.WaitFor(t, 10*time.Second, "STARTDT confirmed", func() bool {
		return m.c.TestCommand(asdu.CauseOfTransmission{Cause: asdu.Activation}, ca) == nil
	})
	return m
}

func (m *master) record(a *asdu.ASDU) error {
	base := rx{Type: a.Type, Cause: a.Coa.Cause, Neg: a.Coa.IsNegative, CA: a.CommonAddr}
	var got []rx
	switch a.Type {
	case asdu.M_SP_NA_1, asdu.M_SP_TB_1:
		for _, s := range a.GetSinglePoint() {
			r := base
			r.IOA, r.On, r.QDS, r.Time = s.Ioa, s.Value, s.Qds, s.Time
			got = append(got, r)
		}
	case asdu.M_ME_NC_1, asdu.M_ME_TF_1:
		for _, s := range a.GetMeasuredValueFloat() {
			r := base
			r.IOA, r.Float, r.QDS, r.Time = s.Ioa, s.Value, s.Qds, s.Time
			got = append(got, r)
		}
	case asdu.C_SE_NC_1:
		s := a.GetSetpointFloatCmd()
		base.IOA, base.Float = s.Ioa, s.Value
		got = append(got, base)
	case asdu.C_SC_NA_1:
		s := a.GetSingleCmd()
		base.IOA, base.On = s.Ioa, s.Value
		got = append(got, base)
	case asdu.C_CS_NA_1:
		ioa, tm := a.GetClockSynchronizationCmd()
		base.IOA, base.Time = ioa, tm
		got = append(got, base)
	default:
		got = append(got, base)
	}
	m.mu.Lock()
	m.rx = append(m.rx, got...)
	m.mu.Unlock()
	return nil
}

func (m *master) InterrogationHandler(_ asdu.Connect, a *asdu.ASDU) error        { return m.record(a) }
func (m *master) CounterInterrogationHandler(_ asdu.Connect, a *asdu.ASDU) error { return m.record(a) }
func (m *master) ReadHandler(_ asdu.Connect, a *asdu.ASDU) error                 { return m.record(a) }
func (m *master) TestCommandHandler(_ asdu.Connect, a *asdu.ASDU) error          { return m.record(a) }
func (m *master) ClockSyncHandler(_ asdu.Connect, a *asdu.ASDU) error            { return m.record(a) }
func (m *master) ResetProcessHandler(_ asdu.Connect, a *asdu.ASDU) error         { return m.record(a) }
func (m *master) DelayAcquisitionHandler(_ asdu.Connect, a *asdu.ASDU) error     { return m.record(a) }
func (m *master) ASDUHandler(_ asdu.Connect, a *asdu.ASDU) error                 { return m.record(a) }

// all returns what was received so far.
func (m *master) all() []rx {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]rx(nil), m.rx...)
}

// reset forgets what was received so far.
func (m *master) reset() {
	m.mu.Lock()
	m.rx = nil
	m.mu.Unlock()
}

// waitFor waits for an object matching f and returns it.
func (m *master) waitFor(t *testing.T, what string, f func(rx) bool) rx {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, r := range m.all() {
			if f(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s; received %v", what, m.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setpoint sends a float setpoint (execute) to ioa.
func (m *master) setpoint(t *testing.T, commonAddr asdu.CommonAddr, ioa asdu.InfoObjAddr, v float32) {
	t.Helper()
	err := asdu.SetpointCmdFloat(m.c, asdu.C_SE_NC_1, asdu.CauseOfTransmission{Cause: asdu.Activation}, commonAddr,
		asdu.SetpointCommandFloatInfo{Ioa: ioa, Value: v})
	if err != nil {
		t.Fatal(err)
	}
}

// confirmation waits for the confirmation of type typ at ioa.
func (m *master) confirmation(t *testing.T, typ asdu.TypeID, ioa asdu.InfoObjAddr) rx {
	t.Helper()
	return m.waitFor(t, fmt.Sprintf("%s confirmation at ioa %d", typ, ioa), func(r rx) bool {
		return r.Type == typ && r.IOA == ioa && r.Cause == asdu.ActivationCon
	})
}

// rawConn is a bare TCP connection for malformed input.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	testutil.WaitFor(t, 10*time.Second, "server listening", func() bool {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err == nil
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ioaOf(q string) asdu.InfoObjAddr {
	for _, p := range points.DefaultPoints() {
		if p.Quantity == q {
			return asdu.InfoObjAddr(p.IOA)
		}
	}
	panic("no point for " + q)
}

var _ = strconv.Itoa
