package iec104

import (
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
)

// single sends a single command to ioa: select or execute.
func (m *master) single(t *testing.T, cause asdu.Cause, ioa asdu.InfoObjAddr, on, sel bool) {
	t.Helper()
	err := asdu.SingleCmd(m.c, asdu.C_SC_NA_1, asdu.CauseOfTransmission{Cause: cause}, ca,
		asdu.SingleCommandInfo{Ioa: ioa, Value: on, Qoc: asdu.QualifierOfCommand{InSelect: sel}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSelectBeforeExecute(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCEnable)

	// Execute without a select: refused, nothing applied.
	m.single(t, asdu.Activation, ioa, true, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); !x.Neg {
		t.Fatalf("execute without select confirmed: %v", x)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("execute without select applied %v", cmds)
	}

	// Select, then execute: applied, ActCon then ActTerm.
	m.reset()
	m.single(t, asdu.Activation, ioa, true, true)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); x.Neg {
		t.Fatalf("select refused: %v", x)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("a select alone applied %v", cmds)
	}
	m.reset()
	m.single(t, asdu.Activation, ioa, true, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); x.Neg {
		t.Fatalf("execute after select refused: %v", x)
	}
	m.waitFor(t, "ActTerm", func(x rx) bool { return x.Type == asdu.C_SC_NA_1 && x.Cause == asdu.ActivationTerm })
	if cmds := r.plant.appliedCmds(); len(cmds) != 1 || cmds[0] != (dispatch.SetMode{Mode: dispatch.ModeAGC}) {
		t.Fatalf("control loop got %v, want AGC mode", cmds)
	}
	// The select was used up: a second execute is refused.
	m.reset()
	m.single(t, asdu.Activation, ioa, true, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); !x.Neg {
		t.Errorf("a second execute on one select confirmed: %v", x)
	}
	// An execute that differs from its select is refused.
	m.reset()
	m.single(t, asdu.Activation, ioa, true, true)
	m.confirmation(t, asdu.C_SC_NA_1, ioa)
	m.reset()
	m.single(t, asdu.Activation, ioa, false, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); !x.Neg {
		t.Errorf("execute off after select on confirmed: %v", x)
	}
	recs := r.plant.records()
	if len(recs) != 1 || recs[0].Transport != "iec104" || recs[0].Name != command.NameMode {
		t.Errorf("audit %+v, want the one executed mode command", recs)
	}
}

func TestSelectTimesOut(t *testing.T) {
	r := newRig(t, func(c *Config, _ *northbound.LinkConfig) { c.SelectTimeout = 200 * time.Millisecond })
	m := dial(t, r.addr)
	ioa := ioaOf(points.QPlantRun)
	m.single(t, asdu.Activation, ioa, false, true)
	m.confirmation(t, asdu.C_SC_NA_1, ioa)
	time.Sleep(400 * time.Millisecond)
	m.reset()
	m.single(t, asdu.Activation, ioa, false, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); !x.Neg {
		t.Fatalf("execute after the select timed out confirmed: %v", x)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("timed-out select applied %v", cmds)
	}
}

func TestCommandInLocalModeRefused(t *testing.T) {
	r := newRig(t, nil)
	r.handler.Authority().SetRemoteEnabled(false)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QAGCEnable)
	m.single(t, asdu.Activation, ioa, true, true)
	m.confirmation(t, asdu.C_SC_NA_1, ioa)
	m.reset()
	m.single(t, asdu.Activation, ioa, true, false)
	if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); !x.Neg {
		t.Fatalf("command in local mode confirmed: %v", x)
	}
	if recs := r.plant.records(); len(recs) != 1 || recs[0].Result != command.ResultDenied {
		t.Errorf("audit %+v, want one remote_disabled", recs)
	}
}

func TestClockSyncTagsEvents(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	master := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := m.c.ClockSynchronizationCmd(asdu.CauseOfTransmission{Cause: asdu.Activation}, ca, master); err != nil {
		t.Fatal(err)
	}
	x := m.waitFor(t, "clock sync confirmation", func(x rx) bool { return x.Type == asdu.C_CS_NA_1 })
	if x.Neg || x.Cause != asdu.ActivationCon || !x.Time.Equal(master) {
		t.Fatalf("clock sync answered %v at %v, want positive ActCon of %v", x, x.Time, master)
	}
	r.plant.set(points.QP, northbound.Value{V: 7000})
	ev := m.waitFor(t, "spontaneous P", func(x rx) bool { return x.IOA == ioaOf(points.QP) && x.Cause == asdu.Spontaneous })
	if d := ev.Time.Sub(time.Now().Add(time.Hour)); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("event tagged %v, want the master's time (about %v)", ev.Time, time.Now().Add(time.Hour))
	}
}

func TestTwoMasters(t *testing.T) {
	r := newRig(t, nil)
	main, backup := dial(t, r.addr), dial(t, r.addr)
	r.plant.set(points.QP, northbound.Value{V: 6000})
	for _, m := range []*master{main, backup} {
		m.waitFor(t, "spontaneous P on both channels", func(x rx) bool { return x.IOA == ioaOf(points.QP) && x.Cause == asdu.Spontaneous })
	}
	ioa := ioaOf(points.QAGCTarget)
	backup.setpoint(t, ca, ioa, 1.5)
	if x := backup.confirmation(t, asdu.C_SE_NC_1, ioa); x.Neg {
		t.Fatalf("setpoint on the backup channel refused: %v", x)
	}
	// Losing one channel is not losing dispatch: no fallback.
	_ = main.c.Close()
	time.Sleep(500 * time.Millisecond)
	if n := r.link.Fallbacks(); n != 0 {
		t.Fatalf("fallback with the backup channel still up")
	}
	_ = backup.c.Close()
	waitFallbacks(t, r, 1)
}

func waitFallbacks(t *testing.T, r *rig, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.link.Fallbacks() != n {
		if time.Now().After(deadline) {
			t.Fatalf("fallbacks = %d, want %d", r.link.Fallbacks(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPFRCommandSwitchesWithTheParametersInForce(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	ioa := ioaOf(points.QPFREnable)
	for _, on := range []bool{true, false} {
		m.reset()
		m.single(t, asdu.Activation, ioa, on, true)
		m.confirmation(t, asdu.C_SC_NA_1, ioa)
		m.reset()
		m.single(t, asdu.Activation, ioa, on, false)
		if x := m.confirmation(t, asdu.C_SC_NA_1, ioa); x.Neg {
			t.Fatalf("pfr_enable %v refused", on)
		}
	}
	want := dispatch.DefaultConfig(ratedKW).PFR
	cmds := r.plant.appliedCmds()
	if len(cmds) != 2 || cmds[0] != (dispatch.SetPFR{Enable: true, PFRParams: want}) || cmds[1] != (dispatch.SetPFR{Enable: false}) {
		t.Fatalf("control loop got %+v, want PFR on with %+v, then off", cmds, want)
	}
}
