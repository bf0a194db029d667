package station_test

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/station/writer"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
	"github.com/emsd/emsd/internal/testutil/vendorpcs"
)

// vendorLoop is a two-unit plant whose unit u1 has an independent
// pymodbus PCS of its own layout (profile example-pcs) and whose other
// devices are simulated, under dispatch in manual mode.
type vendorLoop struct {
	*loop
	pcs *vendorpcs.PCS

	mu     sync.Mutex
	events []writer.Event // u1's
}

// unitEvents returns u1's writer events of kind k so far.
func (l *vendorLoop) unitEvents(k writer.EventKind) []writer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []writer.Event
	for _, e := range l.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// vendorRequest is the plant's manual setpoint in the vendor tests: each
// 250 kW unit takes about half.
const vendorRequest = 200.0

func startVendorLoop(t *testing.T, vo vendorpcs.Options, o station.Options) *vendorLoop {
	t.Helper()
	pcs := vendorpcs.Start(t, vo)
	spec := plantSpec{units: 2, ratedKW: 250, capKWh: 1000, period: 50 * time.Millisecond,
		dispatch: "  ramp_kw_per_s: 100000\n", control: ", heartbeat_period: 500ms"}.spec()
	spec.Devices = "lost_after: 1s, backoff_max: 500ms"
	cfg := planttest.Config(t, spec)
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	sim := planttest.StartPlant(t, cfg, log)
	// The simulator keeps serving a PCS u1 nobody polls; the station's
	// u1 is the vendor's.
	cfg.Units[0].PCS.Address = pcs.Addr()
	cfg.Units[0].PCS.Profile = "example-pcs"
	disp := planttest.NewDispatcher(t, cfg, log)
	o.Controller = disp
	l := &vendorLoop{pcs: pcs}
	o.OnUnitEvent = func(unit string, e writer.Event) {
		if unit == "u1" {
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
		}
	}
	st := planttest.NewStation(t, cfg, log, o)
	r := &rig{Running: planttest.Run(t, st), cfg: cfg, plant: sim, st: st}
	l.loop = &loop{rig: r, disp: disp, rated: cfg.Site.RatedPKW}
	testutil.WaitFor(t, 10*time.Second, "the first full poll", st.Ready)
	l.apply(t, dispatch.ManualSetpoint{P: vendorRequest}, dispatch.SetMode{Mode: dispatch.ModeManual})
	return l
}

// vendor returns what the station sees of the vendor PCS: its run state
// (NaN when not good) and its measured power (NaN when not good).
func (l *vendorLoop) vendor() (state, p float64) {
	u := l.st.Latest().Units[0]
	state, p = math.NaN(), math.NaN()
	if u.State.Good() {
		state = u.State.V
	}
	if u.P.Good() {
		p = u.P.V
	}
	return state, p
}

// delivering reports whether the vendor PCS runs and delivers at least
// a third of the request.
func (l *vendorLoop) delivering() bool {
	s, p := l.vendor()
	return s == plant.RunRunning && p > vendorRequest/3
}

// poke writes one holding register of the vendor PCS (its test hooks).
func (l *vendorLoop) poke(t *testing.T, addr, v uint16) {
	t.Helper()
	h := modbus.NewTCPClientHandler(l.pcs.Addr())
	h.Timeout = 2 * time.Second
	h.SlaveId = 1
	if err := h.Connect(); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := modbus.NewClient(h).WriteSingleRegister(addr, v); err != nil {
		t.Fatalf("write register %d of the vendor PCS: %v", addr, err)
	}
}

// u2Ordered is the power ordered from the simulated unit u2.
func (l *vendorLoop) u2Ordered() float64 { return l.plant.Snapshot().Units[1].PCS.PSetKW }

// TestVendorPCSStartedAndRestarted: the vendor PCS starts stopped and
// needs a start command; killed and restarted at power it forgets
// everything, and emsd starts it again and has it delivering within 5 s.
func TestVendorPCSStartedAndRestarted(t *testing.T) {
	l := startVendorLoop(t, vendorpcs.Options{}, station.Options{})
	testutil.WaitFor(t, 10*time.Second, "the vendor PCS running and delivering", l.delivering)

	l.pcs.Restart()
	back := time.Now()
	testutil.WaitFor(t, 5*time.Second, "the station to see the restarted PCS not running", func() bool {
		s, _ := l.vendor()
		return s != plant.RunRunning
	})
	testutil.WaitFor(t, 15*time.Second, "the restarted vendor PCS running and delivering", l.delivering)
	took := time.Since(back)
	t.Logf("restarted PCS delivering again %v after it listened again", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the restarted PCS delivered again only after %v, want ≤ 5 s", took)
	}
	time.Sleep(time.Second)
	ev := l.unitEvents(writer.EventRestart)
	if len(ev) != 1 || !strings.Contains(ev[0].Message, "restarted") {
		t.Errorf("restart events %+v, want one naming the restart", ev)
	}
	if n := len(l.unitEvents(writer.EventNotRunning)); n != 0 {
		t.Errorf("%d not-running alarms for a PCS that restarted and runs", n)
	}
}

// TestVendorPCSLocalStopIsStartedAgain: a PCS stopped at its panel is
// started again.
func TestVendorPCSLocalStopIsStartedAgain(t *testing.T) {
	l := startVendorLoop(t, vendorpcs.Options{}, station.Options{})
	testutil.WaitFor(t, 10*time.Second, "the vendor PCS running and delivering", l.delivering)
	l.poke(t, 900, 1)
	testutil.WaitFor(t, 5*time.Second, "the vendor PCS to report its local stop", func() bool {
		s, _ := l.vendor()
		return s == plant.RunLocal || s == plant.RunStarting
	})
	testutil.WaitFor(t, 10*time.Second, "the locally stopped PCS running and delivering again", l.delivering)
}

// TestVendorPCSRefusingStartIsAlarmedAndItsShareMoves: with its interlock
// set, the PCS refuses to start (state fault, fault code 7): its share
// moves to u2.
func TestVendorPCSRefusingStartIsAlarmedAndItsShareMoves(t *testing.T) {
	l := startVendorLoop(t, vendorpcs.Options{}, station.Options{})
	testutil.WaitFor(t, 10*time.Second, "the vendor PCS running and delivering", l.delivering)
	l.poke(t, 901, 1)
	l.poke(t, 900, 1)
	testutil.WaitFor(t, 10*time.Second, "u2 ordered the whole request", func() bool {
		return math.Abs(l.u2Ordered()-vendorRequest) < 1
	})
	// Three starts, 1 s and 2 s apart after the first, then the alarm.
	testutil.WaitFor(t, 15*time.Second, "the not-running alarm", func() bool { return len(l.unitEvents(writer.EventNotRunning)) > 0 })
	s, p := l.vendor()
	if s != plant.RunFault || math.Abs(p) > 5 {
		t.Errorf("the interlocked PCS reads state %v, %v kW; want fault (2), 0", s, p)
	}
	ev := l.unitEvents(writer.EventNotRunning)[0]
	for _, want := range []string{"state fault", "fault code 7"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("alarm %q does not name %q", ev.Message, want)
		}
	}
	if got := l.u2Ordered(); math.Abs(got-vendorRequest) > 1 {
		t.Errorf("u2 ordered %.1f kW with u1 refusing to start, want %.0f", got, vendorRequest)
	}
	// Interlock released: the next retry starts it, and the alarm clears.
	// Its fault code latched a trip, which the operator resets.
	l.poke(t, 901, 0)
	testutil.WaitFor(t, 2*writer.StartRetryMax, "the released PCS running", func() bool {
		s, _ := l.vendor()
		return s == plant.RunRunning
	})
	l.apply(t, dispatch.Reset{Unit: "u1"})
	testutil.WaitFor(t, 5*time.Second, "the released PCS delivering after the reset", l.delivering)
	if n := len(l.unitEvents(writer.EventNotRunning)); n != 1 {
		t.Errorf("%d not-running alarms in one episode, want 1", n)
	}
	testutil.WaitFor(t, 2*time.Second, "the running-again event", func() bool { return len(l.unitEvents(writer.EventRunning)) == 1 })
}

// device returns the station's device of the name.
func (l *vendorLoop) device(t *testing.T, name string) *devices.Device {
	t.Helper()
	for _, d := range l.st.Devices() {
		if d.Name() == name {
			return d
		}
	}
	t.Fatalf("no device %s", name)
	return nil
}

// TestVendorPCSExceptionBlockKeepsControl: the PCS answers the read of
// its extras (registers 300–305) with an exception. That is its answer,
// not a broken link: the connection stays, the extras are marked refused
// and named, and control goes on.
func TestVendorPCSExceptionBlockKeepsControl(t *testing.T) {
	l := startVendorLoop(t, vendorpcs.Options{ExceptionBlock: [2]int{300, 306}}, station.Options{})
	testutil.WaitFor(t, 10*time.Second, "the vendor PCS running and delivering", l.delivering)
	h := l.device(t, "u1.pcs").Health()
	want := []string{"dc_bus_v", "igbt_t", "cabinet_t", "fan_rpm", "insulation_kohm", "vendor_status"}
	if !slices.Equal(h.Refused, want) {
		t.Errorf("refused points %v, want %v", h.Refused, want)
	}
	if h.Exceptions == 0 || !strings.Contains(h.LastException, "illegal data address") || !strings.Contains(h.LastException, "300+6") {
		t.Errorf("exceptions %d, last %q; want the illegal-address answer to the read of 300+6", h.Exceptions, h.LastException)
	}
	if h.Errors != 0 || h.Reconnects != 0 || !h.Connected || h.State != devices.Online {
		t.Errorf("link errors %d, reconnects %d, connected %v, state %v: an exception answer is not a link fault", h.Errors, h.Reconnects, h.Connected, h.State)
	}
	u := l.st.Latest().Units[0]
	if !u.P.Good() || !u.State.Good() {
		t.Errorf("u1 P %v, state %v: the fast block must stay good", u.P.Q, u.State.Q)
	}
	// /api/state names them too, with the extras' quality.
	api := httpapi.Snapshot(l.st, l.disp, time.Now()).Units[0].PCS
	if api == nil || !slices.Equal(api.Refused, want) || api.Exceptions == 0 || len(api.Extras) != len(want) {
		t.Fatalf("/api/state PCS health %+v", api)
	}
	for _, name := range want {
		if x := api.Extras[name]; x == nil || x.Quality != "refused" || x.Value != nil {
			t.Errorf("/api/state extra %s = %+v, want refused without a value", name, x)
		}
	}
}

// TestVendorPCSWrongWordOrderIsInvalid: the PCS sends its floats high word
// first while its profile says low word first, and its measured P carries
// noise, so the misread P is mostly absurd. Absurd readings are graded
// invalid, counted, and never reach control as good values; the plant's
// power is not cut because of them.
func TestVendorPCSWrongWordOrderIsInvalid(t *testing.T) {
	l := startVendorLoop(t, vendorpcs.Options{WordOrderABCD: true, NoiseKW: 0.5}, station.Options{})
	pcs := l.device(t, "u1.pcs")
	testutil.WaitFor(t, 10*time.Second, "invalid P readings", func() bool { return pcs.Health().Invalid > 0 })
	testutil.WaitFor(t, 5*time.Second, "u2 ordered its share", func() bool { return l.u2Ordered() >= vendorRequest/2-1 })
	limit := 1.5 * 250.0
	var invalid, good, absurd, cut int
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		v := l.st.Latest()
		switch p := v.Units[0].P; {
		case p.Q == procimg.Invalid:
			invalid++
		case p.Good() && math.Abs(p.V) > limit:
			absurd++
		case p.Good():
			good++
		}
		if o := l.u2Ordered(); o < vendorRequest/2-1 {
			cut++
			t.Logf("u2 ordered %.1f kW; u1 P %v %v, state %v %v", o, v.Units[0].P.Q, v.Units[0].P.V, v.Units[0].State.Q, v.Units[0].State.V)
		}
	}
	t.Logf("u1 P over 3 s: %d invalid, %d good, %d absurd graded good; u2 cut below its share %d times", invalid, good, absurd, cut)
	if invalid == 0 || absurd != 0 {
		t.Errorf("%d invalid and %d absurd good readings of u1 P, want some invalid and no absurd one", invalid, absurd)
	}
	if cut != 0 {
		t.Errorf("u2's order was cut below its share %d times", cut)
	}
}
