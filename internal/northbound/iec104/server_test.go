package iec104

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/reactive"
	"github.com/emsd/emsd/internal/testutil"
)

func TestInterrogationSendsEveryPointWithQuality(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	if err := m.c.InterrogationCmd(asdu.CauseOfTransmission{Cause: asdu.Activation}, ca, asdu.QOIStation); err != nil {
		t.Fatal(err)
	}
	m.waitFor(t, "GI termination", func(x rx) bool { return x.Type == asdu.C_IC_NA_1 && x.Cause == asdu.ActivationTerm })
	got := map[asdu.InfoObjAddr]rx{}
	var order []asdu.Cause
	for _, x := range m.all() {
		if x.Type == asdu.C_IC_NA_1 {
			order = append(order, x.Cause)
			if x.Neg {
				t.Errorf("GI confirmation negative: %v", x)
			}
			continue
		}
		if x.Cause == asdu.InterrogatedByStation {
			got[x.IOA] = x
		}
	}
	if len(order) != 2 || order[0] != asdu.ActivationCon || order[1] != asdu.ActivationTerm {
		t.Errorf("GI confirmations %v, want ActCon then ActTerm", order)
	}
	for _, p := range points.DefaultPoints() {
		_, ok := got[asdu.InfoObjAddr(p.IOA)]
		monitored := p.Type == points.Measurand || p.Type == points.Single
		if ok != monitored {
			t.Errorf("ioa %d (%s %s): in GI %v", p.IOA, p.Type, p.Quantity, ok)
		}
	}
	p := got[ioaOf(points.QP)]
	if p.Type != asdu.M_ME_NC_1 || math.Abs(float64(p.Float)-5.0) > 1e-6 || p.QDS != asdu.QDSGood {
		t.Errorf("P: %v, want M_ME_NC_1 5 MW good", p)
	}
	if soc := got[ioaOf(points.QSOC)]; soc.QDS&asdu.QDSNotTopical == 0 || soc.QDS&asdu.QDSInvalid != 0 {
		t.Errorf("stale SOC went up as %v, want NT", soc)
	}
	if q := got[ioaOf(points.QQ)]; q.QDS&asdu.QDSInvalid == 0 {
		t.Errorf("Q never measured went up as %v, want IV", q)
	}
	if rem := got[ioaOf(points.QRemote)]; rem.Type != asdu.M_SP_NA_1 || !rem.On || rem.QDS != asdu.QDSGood {
		t.Errorf("remote: %v, want on and good", rem)
	}
}

func TestInterrogationWrongCommonAddressRefused(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	if err := m.c.InterrogationCmd(asdu.CauseOfTransmission{Cause: asdu.Activation}, ca+1, asdu.QOIStation); err != nil {
		t.Fatal(err)
	}
	x := m.waitFor(t, "GI reply", func(x rx) bool { return x.Type == asdu.C_IC_NA_1 })
	if !x.Neg || x.Cause != asdu.UnknownCA {
		t.Errorf("GI to a wrong common address answered %v, want negative unknown CA", x)
	}
	time.Sleep(200 * time.Millisecond)
	for _, x := range m.all() {
		if x.Type == asdu.M_ME_NC_1 || x.Type == asdu.M_SP_NA_1 {
			t.Fatalf("points sent for a GI to another station: %v", x)
		}
	}
}

func TestSpontaneousRespectsDeadbandAndQuality(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QP) // deadband 0.01 MW
	time.Sleep(100 * time.Millisecond)
	r.plant.set(points.QP, northbound.Value{V: 5005}) // 5 kW: inside the deadband
	time.Sleep(300 * time.Millisecond)
	for _, x := range m.all() {
		if x.IOA == ioa && x.Cause == asdu.Spontaneous {
			t.Fatalf("a change inside the deadband was sent: %v", x)
		}
	}
	r.plant.set(points.QP, northbound.Value{V: 5020})
	x := m.waitFor(t, "spontaneous P", func(x rx) bool { return x.IOA == ioa && x.Cause == asdu.Spontaneous })
	if x.Type != asdu.M_ME_TF_1 || math.Abs(float64(x.Float)-5.02) > 1e-5 || x.QDS != asdu.QDSGood {
		t.Errorf("spontaneous P %v, want M_ME_TF_1 5.02 MW good", x)
	}
	if d := time.Since(x.Time); d < -time.Second || d > 5*time.Second {
		t.Errorf("time tag %v is not now", x.Time)
	}
	// Quality alone changes: the stale value goes out as NT at once.
	m.reset()
	r.plant.set(points.QP, northbound.Value{V: 5020, Q: northbound.Stale})
	x = m.waitFor(t, "spontaneous stale P", func(x rx) bool { return x.IOA == ioa && x.Cause == asdu.Spontaneous })
	if x.QDS&asdu.QDSNotTopical == 0 {
		t.Errorf("stale P went up as %v", x)
	}
	m.reset()
	r.plant.set(points.QP, northbound.Value{V: 5020, Q: northbound.Lost})
	x = m.waitFor(t, "spontaneous lost P", func(x rx) bool { return x.IOA == ioa && x.Cause == asdu.Spontaneous })
	if x.QDS&asdu.QDSInvalid == 0 {
		t.Errorf("lost P went up as %v", x)
	}
	// A single point change is sent with a time tag.
	r.plant.set(points.QFault, northbound.Value{V: 1})
	x = m.waitFor(t, "spontaneous fault", func(x rx) bool { return x.IOA == ioaOf(points.QFault) && x.Cause == asdu.Spontaneous })
	if x.Type != asdu.M_SP_TB_1 || !x.On {
		t.Errorf("fault change %v, want M_SP_TB_1 on", x)
	}
}

func TestCyclicScanSendsMeasurands(t *testing.T) {
	r := newRig(t, func(c *Config, _ *northbound.LinkConfig) { c.Cycle = 100 * time.Millisecond })
	m := dial(t, r.addr)
	x := m.waitFor(t, "periodic P", func(x rx) bool { return x.IOA == ioaOf(points.QP) && x.Cause == asdu.Periodic })
	if x.Type != asdu.M_ME_NC_1 || math.Abs(float64(x.Float)-5) > 1e-6 {
		t.Errorf("periodic P %v", x)
	}
}

func TestSetpointAcceptedIsAppliedAuditedAndConfirmed(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCTarget)
	m.setpoint(t, ca, ioa, 4.5) // MW
	x := m.confirmation(t, asdu.C_SE_NC_1, ioa)
	if x.Neg || x.Float != 4.5 {
		t.Fatalf("setpoint confirmation %v, want positive mirror of 4.5", x)
	}
	cmds := r.plant.appliedCmds()
	if len(cmds) != 1 || cmds[0] != (dispatch.AGCTarget{P: 4500}) {
		t.Fatalf("control loop got %v, want one AGC target of 4500 kW", cmds)
	}
	recs := r.plant.records()
	if len(recs) != 1 || recs[0].Transport != "iec104" || recs[0].Result != command.ResultOK || recs[0].Name != command.NameAGCTarget {
		t.Errorf("audit %+v, want one ok agc_target over iec104", recs)
	}
	if n := r.handler.Counts()[command.ResultOK]; n != 1 {
		t.Errorf("handler counted %d ok, want 1", n)
	}
}

func TestSetpointRefusedGetsNegativeConfirmation(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCTarget)

	// Above the plant's rating: refused by the same validation as MQTT.
	m.setpoint(t, ca, ioa, 10.5) // MW, rated 10 MW
	if x := m.confirmation(t, asdu.C_SE_NC_1, ioa); !x.Neg {
		t.Errorf("setpoint above rating confirmed %v", x)
	}
	// Charging beyond the rating is refused alike.
	m.reset()
	m.setpoint(t, ca, ioa, -10.5)
	if x := m.confirmation(t, asdu.C_SE_NC_1, ioa); !x.Neg {
		t.Errorf("setpoint below -rating confirmed %v", x)
	}
	// Not a number.
	m.reset()
	m.setpoint(t, ca, ioa, float32(math.NaN()))
	if x := m.confirmation(t, asdu.C_SE_NC_1, ioa); !x.Neg {
		t.Errorf("NaN setpoint confirmed %v", x)
	}
	// Local mode: the one remote/local switch refuses dispatch too.
	r.handler.Authority().SetRemoteEnabled(false)
	m.reset()
	m.setpoint(t, ca, ioa, 1)
	if x := m.confirmation(t, asdu.C_SE_NC_1, ioa); !x.Neg {
		t.Errorf("setpoint in local mode confirmed %v", x)
	}
	// Wrong common address and a point that is not a setpoint.
	r.handler.Authority().SetRemoteEnabled(true)
	m.reset()
	m.setpoint(t, ca+1, ioa, 1)
	if x := m.waitFor(t, "reply to wrong CA", func(x rx) bool { return x.Type == asdu.C_SE_NC_1 }); !x.Neg || x.Cause != asdu.UnknownCA {
		t.Errorf("setpoint to another station answered %v", x)
	}
	m.reset()
	m.setpoint(t, ca, ioaOf(points.QP), 1)
	if x := m.waitFor(t, "reply to a measurand IOA", func(x rx) bool { return x.Type == asdu.C_SE_NC_1 }); !x.Neg || x.Cause != asdu.UnknownIOA {
		t.Errorf("setpoint to a measurand answered %v", x)
	}

	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("refused setpoints reached the control loop: %v", cmds)
	}
	var reasons []string
	for _, rec := range r.plant.records() {
		reasons = append(reasons, string(rec.Result)+": "+rec.Reason)
	}
	want := []string{"refused: ", "refused: ", "malformed: ", "remote_disabled: "}
	if len(reasons) != len(want) {
		t.Fatalf("audit %q, want %d records", reasons, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(reasons[i], w) || len(reasons[i]) <= len(w) {
			t.Errorf("audit[%d] = %q, want %q with a reason", i, reasons[i], w)
		}
	}
}

func TestAllowListRefusesOtherClients(t *testing.T) {
	r := newRig(t, func(c *Config, _ *northbound.LinkConfig) { c.Allow = []string{"127.0.0.2"} })
	c := rawConn(t, r.addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte{0x68, 0x04, 0x07, 0x00, 0x00, 0x00}) // STARTDT act
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if err == nil {
		t.Fatalf("a client outside the allow-list got % x", buf[:n])
	}
	if r.srv.Connections() != 0 || r.link.Connections() != 0 {
		t.Errorf("refused client counted as a connection")
	}
}

func TestFallbackOnDisconnectGoesToZero(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCTarget)
	m.setpoint(t, ca, ioa, 3)
	if x := m.confirmation(t, asdu.C_SE_NC_1, ioa); x.Neg {
		t.Fatalf("setpoint refused: %v", x)
	}
	_ = m.c.Close()
	testutil.WaitFor(t, 10*time.Second, "fallback applied", func() bool { return r.link.Fallbacks() == 1 })
	cmds := r.plant.appliedCmds()
	if len(cmds) != 2 || cmds[1] != (dispatch.AGCTarget{P: 0}) {
		t.Fatalf("control loop got %v, want the target then 0 kW", cmds)
	}
	recs := r.plant.records()
	if last := recs[len(recs)-1]; last.Transport != "northbound" || last.Result != command.ResultOK {
		t.Errorf("fallback audited as %+v", last)
	}
}

func TestFallbackOnSetpointTimeout(t *testing.T) {
	r := newRig(t, func(_ *Config, l *northbound.LinkConfig) { l.SetpointTimeout = 300 * time.Millisecond })
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCTarget)
	m.setpoint(t, ca, ioa, 2)
	m.confirmation(t, asdu.C_SE_NC_1, ioa)
	testutil.WaitFor(t, 10*time.Second, "fallback applied", func() bool { return r.link.Fallbacks() == 1 })
	if cmds := r.plant.appliedCmds(); len(cmds) != 2 || cmds[1] != (dispatch.AGCTarget{P: 0}) {
		t.Fatalf("control loop got %v, want the target then 0 kW", cmds)
	}
	time.Sleep(700 * time.Millisecond)
	if n := r.link.Fallbacks(); n != 1 {
		t.Errorf("fallback applied %d times without a new setpoint, want once", n)
	}
}

func TestClosingTheServerIsNoLossOfDispatch(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCTarget)
	m.setpoint(t, ca, ioa, 3)
	m.confirmation(t, asdu.C_SE_NC_1, ioa)
	_ = r.srv.Close()
	testutil.WaitFor(t, 10*time.Second, "masters disconnected", func() bool { return r.srv.Connections() == 0 })
	if n := r.link.Fallbacks(); n != 0 {
		t.Errorf("the server's own shutdown applied the fallback %d times", n)
	}
}

func TestAVCSetpointsKeepTheLimitsInForce(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	q, v := ioaOf(points.QAVCQTarget), ioaOf(points.QAVCVTarget)
	// No reactive limits yet (q_max = q_min = 0): a Q target is refused.
	m.setpoint(t, ca, q, 1.5)
	if x := m.confirmation(t, asdu.C_SE_NC_1, q); !x.Neg {
		t.Fatalf("Q target without reactive limits confirmed: %v", x)
	}
	limits := reactive.Params{Mode: reactive.ModeOff, QMax: 3000, QMin: -3000, Ki: 0.5, DeadBand: 50}
	if _, err := r.plant.Submit(context.Background(), dispatch.SetReactive{Params: limits}, command.Source{}); err != nil {
		t.Fatal(err)
	}
	m.reset()
	m.setpoint(t, ca, q, 1.5) // Mvar
	if x := m.confirmation(t, asdu.C_SE_NC_1, q); x.Neg {
		t.Fatalf("Q target within limits refused: %v", x)
	}
	m.reset()
	m.setpoint(t, ca, q, 4) // beyond q_max
	if x := m.confirmation(t, asdu.C_SE_NC_1, q); !x.Neg {
		t.Fatalf("Q target beyond q_max confirmed: %v", x)
	}
	m.reset()
	m.setpoint(t, ca, v, 10.25) // kV, exact in float32
	if x := m.confirmation(t, asdu.C_SE_NC_1, v); x.Neg {
		t.Fatalf("voltage target refused: %v", x)
	}
	wantQ, wantV := limits, limits
	wantQ.Mode, wantQ.Q = reactive.ModeFixedQ, 1500
	wantV.Mode, wantV.VRef = reactive.ModeVoltage, 10250
	cmds := r.plant.appliedCmds()
	if len(cmds) != 3 || cmds[1] != (dispatch.SetReactive{Params: wantQ}) || cmds[2] != (dispatch.SetReactive{Params: wantV}) {
		t.Fatalf("control loop got %+v, want the limits, then %+v, then %+v", cmds, wantQ, wantV)
	}
}
