package record

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/telemetry/influx"
)

func goType(v any) Type {
	switch v.(type) {
	case float64:
		return Float
	case int64:
		return Integer
	case string:
		return String
	case bool:
		return Boolean
	}
	return "unsupported"
}

// TestSchemaAndOutputAgree feeds a fully wired recorder and checks both
// ways: every written point has exactly its measurement's declared tags and
// only declared fields of the declared type, and every declared field is
// written.
func TestSchemaAndOutputAgree(t *testing.T) {
	sink := &memSink{}
	dev := &fakeDevice{name: "u001.pcs", h: devices.Health{State: devices.Online, Connected: true, Reads: 7, LastOK: t0}}
	r, err := New(sink, Options{Site: "s1",
		States: func() []dispatch.State { return []dispatch.State{dispatch.StateNormal, dispatch.StateTrip} },
		Setpoints: func() ([]plant.Setpoint, []time.Time) {
			return []plant.Setpoint{{P: 5}, {P: 6}}, []time.Time{t0, t0}
		},
		Devices: []HealthSource{dev},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.Observe(testView(2, 2), report())
	r.Transaction("u001.pcs", devices.Read, 3*time.Millisecond, nil)
	r.Flush(t0.Add(time.Second))
	dev.set(devices.Lost, "i/o timeout")
	r.Flush(t0.Add(2 * time.Second)) // comm event
	r.Protection([]dispatch.Event{{Unit: "u002", From: dispatch.StateNormal, To: dispatch.StateTrip, Cause: dispatch.CauseAlarm3, Time: t0}})
	_ = r.Audit(command.Record{Time: t0, Transport: "mqtt", Client: "scada", Name: "set_mode", ID: "c1", Result: command.ResultRefused, Reason: "nope"})

	seen := map[string]bool{}
	for _, p := range sink.take() {
		m := Default.Measurement(p.Measurement)
		if m == nil {
			t.Fatalf("undeclared measurement %q", p.Measurement)
		}
		var keys []string
		for k := range p.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(m.Tags))
		if !slices.Equal(keys, want) {
			t.Errorf("%s tags %v, declared %v", p.Measurement, keys, want)
		}
		for k, v := range p.Fields {
			fd := m.Field(k)
			if fd == nil {
				t.Errorf("%s.%s written but not declared", p.Measurement, k)
				continue
			}
			if got := goType(v); got != fd.Type {
				t.Errorf("%s.%s written as %s (%T), declared %s", p.Measurement, k, got, v, fd.Type)
			}
			seen[p.Measurement+"."+k] = true
		}
	}
	for _, m := range Default {
		for _, fd := range m.Fields {
			if !seen[m.Name+"."+fd.Name] {
				t.Errorf("%s.%s declared but never written", m.Name, fd.Name)
			}
		}
	}
}

func TestDecimation(t *testing.T) {
	sink := &memSink{}
	r, err := New(sink, Options{Site: "s1", Decimation: map[string]Agg{"plant.p_kw": Mean, "pcs.p_kw": Max}})
	if err != nil {
		t.Fatal(err)
	}
	v := testView(1, 1)
	for i, f := range []float64{49.9, 50.2, 50.0} {
		v.POI.F = good(f)
		v.POI.P = good(float64(100 * (i + 1))) // 100, 200, 300
		v.Units[0].P = good(float64(10 * (3 - i)))
		r.Observe(v, report())
	}
	r.Flush(t0)
	pts := sink.take()
	m := one(t, pts, MMeter, "device", "poi").Fields
	checks := map[string]float64{"f_hz": 50.0, "f_hz_min": 49.9, "f_hz_max": 50.2, "f_hz_mean": (49.9 + 50.2 + 50.0) / 3,
		"p_kw": 300, "p_kw_mean": 200, "p_kw_min": 100, "p_kw_max": 300}
	for k, want := range checks {
		if got, _ := m[k].(float64); math.Abs(got-want) > 1e-9 {
			t.Errorf("meter.%s = %v, want %v", k, m[k], want)
		}
	}
	if got := one(t, pts, MPlant).Fields["p_kw"]; got != 200.0 {
		t.Errorf("plant.p_kw with mean decimation = %v, want 200", got)
	}
	if got := one(t, pts, MPCS, "unit", "u001").Fields["p_kw"]; got != 30.0 {
		t.Errorf("pcs.p_kw with max decimation = %v, want 30", got)
	}
	if got := one(t, pts, MPlant).Fields["cycles"]; got != int64(3) {
		t.Errorf("cycles = %v, want 3", got)
	}
}

func TestNewRejectsBadDecimation(t *testing.T) {
	for key, agg := range map[string]Agg{"plant.nope": Mean, "meter.f_hz_min": Max, "pcs.state": Mean, "plant.mode": Last, "plant.p_kw": Sampled} {
		if _, err := New(&memSink{}, Options{Site: "s", Decimation: map[string]Agg{key: agg}}); err == nil {
			t.Errorf("decimation %s=%v accepted", key, agg)
		}
	}
	if _, err := New(&memSink{}, Options{}); err == nil {
		t.Error("missing site accepted")
	}
}

func TestQualityLeavesFieldsOut(t *testing.T) {
	sink := &memSink{}
	r, _ := New(sink, Options{Site: "s1"})
	v := testView(2, 1)
	v.POI.V = procimg.Value{Q: procimg.Lost, V: math.NaN()} // profile has no voltage: ignored
	v.POI.F.Q = procimg.Stale
	v.Units[0].BMS[0].SOC.Q = procimg.Lost
	v.Units[0].BMS[0].SOC.V = 99 // must not reach the plant SOC either
	v.Units[1].BMS[0].SOC = good(40)
	r.Observe(v, dispatch.Report{}) // before dispatch: no report fields
	r.Flush(t0)
	pts := sink.take()

	m := one(t, pts, MMeter).Fields
	if _, ok := m["f_hz"]; ok {
		t.Error("stale frequency written")
	}
	if _, ok := m["v_v"]; ok {
		t.Error("absent voltage written")
	}
	if m["quality"] != "stale" {
		t.Errorf("meter quality %v, want stale (an absent point is not lost)", m["quality"])
	}
	b := one(t, pts, MBMS, "unit", "u001").Fields
	if _, ok := b["soc_pct"]; ok || b["quality"] != "lost" {
		t.Errorf("lost SOC: fields %v", b)
	}
	if q := one(t, pts, MBMS, "unit", "u002").Fields["quality"]; q != "good" {
		t.Errorf("good BMS quality %v", q)
	}
	pl := one(t, pts, MPlant).Fields
	if pl["soc_pct"] != 40.0 || pl["capacity_kwh"] != 5000.0 || pl["energy_kwh"] != 2000.0 {
		t.Errorf("plant SOC over good batteries only: %v %v %v", pl["soc_pct"], pl["capacity_kwh"], pl["energy_kwh"])
	}
	if _, ok := pl["mode"]; ok {
		t.Error("zero report wrote dispatch fields")
	}
	if _, ok := pl["f_hz"]; ok {
		t.Error("stale frequency written to plant")
	}
}

func TestIntervalsAreIndependent(t *testing.T) {
	sink := &memSink{}
	r, _ := New(sink, Options{Site: "s1"})
	v := testView(1, 1)
	v.Units[0].BMS[0].AlarmLevel = good(3)
	r.Observe(v, report())
	v.Units[0].BMS[0].AlarmLevel = good(0)
	r.Observe(v, report())
	r.Flush(t0)
	if lvl := one(t, sink.take(), MBMS).Fields["alarm_level"]; lvl != int64(3) {
		t.Errorf("alarm_level %v, want the interval's max 3", lvl)
	}
	r.Observe(v, report())
	r.Flush(t0.Add(time.Second))
	if lvl := one(t, sink.take(), MBMS).Fields["alarm_level"]; lvl != int64(0) {
		t.Errorf("alarm_level %v in the next interval, want 0", lvl)
	}
	// No cycles: only the plant point, saying so.
	r.Flush(t0.Add(2 * time.Second))
	pts := sink.take()
	if len(pts) != 1 || pts[0].Fields["cycles"] != int64(0) || len(pts[0].Fields) != 1 {
		t.Errorf("flush without cycles wrote %v", pts)
	}
}

func TestEvents(t *testing.T) {
	sink := &memSink{}
	dev := &fakeDevice{name: "u001.bms0", h: devices.Health{State: devices.Lost}}
	r, _ := New(sink, Options{Site: "s1", Devices: []HealthSource{dev}})
	v := testView(1, 1)
	rep := report()
	r.Observe(v, rep)
	r.Observe(v, rep)
	rep.Mode = dispatch.ModeManual
	v.At = t0.Add(50 * time.Millisecond)
	r.Observe(v, rep)
	r.Flush(t0.Add(time.Second))
	dev.set(devices.Online, "")
	r.Flush(t0.Add(2 * time.Second))
	r.Flush(t0.Add(3 * time.Second)) // no change: no event
	// Two protection events in one cycle, same time stamp.
	r.Protection([]dispatch.Event{
		{Unit: "u001", From: dispatch.StateNormal, To: dispatch.StateDerate, Cause: dispatch.CauseAlarm1, Time: t0.Add(4 * time.Second)},
		{Unit: "u001", From: dispatch.StateDerate, To: dispatch.StateTrip, Cause: dispatch.CauseAlarm3, Time: t0.Add(4 * time.Second)},
	})
	applied := t0.Add(5 * time.Second)
	_ = r.Audit(command.Record{Time: t0, AppliedAt: &applied, Transport: "mqtt", Name: "manual_setpoint", Payload: `{"p":5}`, Result: command.ResultOK})

	evs := find(sink.take(), MEvent)
	type ev struct{ unit, kind, from, to, cause string }
	var got []ev
	for _, p := range evs {
		got = append(got, ev{p.Tags["unit"], p.Tags["kind"], p.Fields["from_state"].(string), p.Fields["to_state"].(string), str(p.Fields["cause"])})
	}
	want := []ev{
		{"plant", KindMode, "", "agc", ""},
		{"plant", KindMode, "agc", "manual", ""},
		{"u001.bms0", KindComm, "lost", "online", ""},
		{"u001", KindProtection, "normal", "derate", "bms_alarm_1"},
		{"u001", KindProtection, "derate", "trip", "bms_alarm_3"},
		{"plant", KindCommand, "", "ok", "manual_setpoint"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if !evs[4].Time.After(evs[3].Time) {
		t.Errorf("simultaneous events share a time stamp: %v %v", evs[3].Time, evs[4].Time)
	}
	if !evs[5].Time.Equal(applied) || evs[5].Fields["message"] != `{"p":5}` || evs[5].Fields["source"] != "mqtt" {
		t.Errorf("command event %v", evs[5])
	}
	if !evs[1].Time.Equal(t0.Add(50 * time.Millisecond)) {
		t.Errorf("mode event at %v, want the cycle's time", evs[1].Time)
	}
}

func str(v any) string { s, _ := v.(string); return s }

// TestConcurrentObserveFlush runs Observe and Flush at once (run with
// -race) and checks that no cycle is lost or counted twice.
func TestConcurrentObserveFlush(t *testing.T) {
	sink := &memSink{}
	r, _ := New(sink, Options{Site: "s1"})
	v := testView(4, 2)
	const cycles = 5000
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
				r.Flush(t0)
			}
		}
	}()
	for range cycles {
		r.Observe(v, report())
	}
	close(done)
	wg.Wait()
	r.Flush(t0)
	var total int64
	for _, p := range find(sink.take(), MPlant) {
		total += p.Fields["cycles"].(int64)
	}
	if total != cycles {
		t.Fatalf("flushed %d cycles, observed %d", total, cycles)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	r, _ := New(&memSink{}, Options{Site: "s1"})
	v, rep := testView(50, 2), report()
	r.Observe(v, rep)
	r.Flush(t0) // both frames get their layout
	r.Observe(v, rep)
	if n := testing.AllocsPerRun(100, func() { r.Observe(v, rep) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}

func TestDroppedPointsAreCounted(t *testing.T) {
	sink := &memSink{full: true}
	r, _ := New(sink, Options{Site: "s1"})
	r.Observe(testView(2, 1), report())
	if n := r.Flush(t0); n != 0 {
		t.Fatalf("Flush reported %d points accepted by a full sink", n)
	}
	if s := r.Stats(); s.Dropped != 1+1+1+2+2 || s.Points != 0 { // mode event, plant, meter, 2 pcs, 2 bms
		t.Fatalf("stats %+v, want 7 dropped", s)
	}
}

var _ Sink = (*influx.Writer)(nil)
var _ command.AuditSink = (*Recorder)(nil)
var _ devices.Observer = (*Recorder)(nil)
var _ HealthSource = (*devices.Device)(nil)

// TestPairTagsEveryPoint: in a hot-standby pair every point carries the
// controller's name and its role at the time it was written.
func TestPairTagsEveryPoint(t *testing.T) {
	sink := &memSink{}
	role := "standby"
	r, err := New(sink, Options{Site: "s1", Controller: "ctl-b", Role: func() string { return role }})
	if err != nil {
		t.Fatal(err)
	}
	r.Observe(testView(2, 2), report())
	r.Flush(t0.Add(time.Second))
	role = "leader"
	_ = r.Audit(command.Record{Time: t0, Transport: "ha", Name: "role_leader", Result: command.ResultOK})
	r.Observe(testView(2, 2), report())
	r.Flush(t0.Add(2 * time.Second))
	pts := sink.take()
	if len(pts) < 4 {
		t.Fatalf("%d points", len(pts))
	}
	roles := map[string]int{}
	for _, p := range pts {
		if p.Tags["controller"] != "ctl-b" {
			t.Fatalf("%s point without the controller tag: %v", p.Measurement, p.Tags)
		}
		roles[p.Tags["role"]]++
	}
	if roles["standby"] == 0 || roles["leader"] == 0 || len(roles) != 2 {
		t.Fatalf("roles tagged %v, want standby before the change and leader after", roles)
	}
}
