package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/telemetry/metrics"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	code, b := get(t, url)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v in %s", url, err, b)
	}
	return code
}

// plantRig is a simulated plant with a station, a dispatcher and metrics,
// not yet running.
type plantRig struct {
	plant *sim.Plant
	st    *planttest.Station
	disp  *planttest.Dispatcher
	m     *metrics.Metrics
	cfg   *config.Config
}

func newPlantRig(t *testing.T, units int) *plantRig {
	t.Helper()
	cfg := planttest.Config(t, planttest.Spec{
		Name: "httpapi", Units: units, RatedKW: 1000, CapKWh: 2000,
		Devices: "lost_after: 500ms, backoff_max: 200ms",
		Control: "period: 50ms, heartbeat_period: 200ms, shutdown_timeout: 3s, summary_period: 0s",
		Battery: "soc_pct: 60, soc_spread_pct: 0",
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant := planttest.StartPlant(t, cfg, log)
	disp := planttest.NewDispatcher(t, cfg, log)
	m := metrics.New(metrics.Options{})
	st := planttest.NewStation(t, cfg, log, planttest.StationOptions{
		Controller: disp, Observer: m, FastLatency: m.FastLatency, OnCycle: m.OnCycle,
	})
	if err := m.Attach(st, disp); err != nil {
		t.Fatal(err)
	}
	return &plantRig{plant: plant, st: st, disp: disp, m: m, cfg: cfg}
}

// run starts the station and returns its stop function, which waits for
// the station to stop; the end of the test stops it too.
func (r *plantRig) run(t *testing.T) (stop func()) {
	running := planttest.Run(t, r.st)
	return func() { running.Stop(t) }
}

func TestServerAgainstASimulatedPlant(t *testing.T) {
	r := newPlantRig(t, 2)
	srv, err := New("127.0.0.1:0", Options{Plant: r.st, Dispatch: r.disp, Gatherer: r.m.Registry(),
		Period: r.cfg.Control.Period, LastCycle: r.m.LastCycle})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	base := "http://" + srv.Addr()

	// Before the station runs: alive within the start-up grace, not ready,
	// and the reason names the devices not yet read.
	var h Health
	if code := getJSON(t, base+"/readyz", &h); code != http.StatusServiceUnavailable || h.Status != "not_ready" {
		t.Fatalf("readyz before the station runs: %d %+v", code, h)
	}
	if len(h.NotOnline) != 5 || !strings.Contains(h.Reason, "first full poll") {
		t.Errorf("readyz reason %q, devices not online %v: want the 5 devices", h.Reason, h.NotOnline)
	}

	stop := r.run(t)
	testutil.WaitFor(t, 5*time.Second, "/readyz 200", func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	})
	h = Health{}
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusOK || h.Status != "ok" || h.LastCycleAgeS == nil || *h.LastCycleAgeS > 1 {
		t.Fatalf("healthz: %d %+v", code, h)
	}

	// Ask for 300 kW: it shows in the report and in the setpoints the PCS
	// acknowledged (split by SOC balance, not necessarily evenly).
	for _, c := range []dispatch.Command{dispatch.ManualSetpoint{P: 300, Q: 40}, dispatch.SetMode{Mode: dispatch.ModeManual}} {
		if _, err := r.disp.Submit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	var st State
	testutil.WaitFor(t, 5*time.Second, "the units to acknowledge 300 kW in all", func() bool {
		st = State{}
		getJSON(t, base+"/api/state", &st)
		if len(st.Units) != 2 {
			return false
		}
		sum := 0.0
		for _, u := range st.Units {
			if u.Acked == nil {
				return false
			}
			sum += float64(u.Acked.P)
		}
		return math.Abs(sum-300) < 1
	})
	if !st.Ready || st.SnapshotAt == nil || time.Since(*st.SnapshotAt) > time.Second {
		t.Errorf("ready %v, snapshot at %v", st.Ready, st.SnapshotAt)
	}
	if st.Dispatch == nil || st.Dispatch.Mode != dispatch.ModeManual || st.Dispatch.Binding == "" || math.Abs(float64(st.Dispatch.P)-300) > 1 || st.Dispatch.Available != 2 {
		t.Errorf("dispatch %+v", st.Dispatch)
	}
	if d := st.Dispatch; d == nil || d.QTarget != 40 || d.QBinding != "none" || math.Abs(float64(d.Q)-40) > 1e-6 {
		t.Errorf("dispatch reactive: %+v, want Q target 40, binding none, Q 40", d)
	}
	if f := st.Plant.Points["f_hz"]; f == nil || f.Quality != "good" || f.Value == nil || math.Abs(float64(*f.Value)-50) > 0.5 || f.AgeS == nil || *f.AgeS > 1 {
		t.Errorf("plant frequency %+v", f)
	}
	if s := st.Plant.SOC; s == nil || s.Value == nil || math.Abs(float64(*s.Value)-60) > 5 || st.Plant.BatteriesGood != 2 || st.Plant.Batteries != 2 {
		t.Errorf("plant SOC %+v, %d of %d batteries good", s, st.Plant.BatteriesGood, st.Plant.Batteries)
	}
	if st.Plant.Meter == nil || st.Plant.Meter.Device != "poi" || st.Plant.Meter.State != "online" {
		t.Errorf("meter health %+v", st.Plant.Meter)
	}
	for _, u := range st.Units {
		if u.Protection != "normal" || u.PCS == nil || u.PCS.State != "online" || u.PCS.Writes == 0 {
			t.Errorf("%s: protection %q, pcs health %+v", u.ID, u.Protection, u.PCS)
		}
		if u.ChargeMax == nil || u.DischargeMax == nil || *u.DischargeMax <= 0 {
			t.Errorf("%s: limits %v %v", u.ID, u.ChargeMax, u.DischargeMax)
		}
		if len(u.Batteries) != 1 || u.Batteries[0].Health == nil || u.Batteries[0].Health.State != "online" || u.Batteries[0].Points["soc_pct"] == nil {
			t.Errorf("%s: batteries %+v", u.ID, u.Batteries)
		}
	}

	// /metrics is the registry's exposition.
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["emsd_station_ready"]; f == nil || f.Metric[0].Gauge.GetValue() != 1 {
		t.Errorf("emsd_station_ready: %v", f)
	}
	if f := fams["emsd_mode"]; f == nil || len(f.Metric) != len(metrics.Modes) {
		t.Errorf("emsd_mode: %v", f)
	}

	// A battery drops: its health and its unit's limits say so.
	if err := r.plant.DropDevice("u1.bms0"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "u1.bms0 lost in /api/state", func() bool {
		st = State{}
		getJSON(t, base+"/api/state", &st)
		b := st.Units[0].Batteries[0]
		return b.Health.State == "lost" && b.Points["soc_pct"].Quality != "good" && st.Units[0].ChargeMax == nil
	})
	if st.Units[1].Batteries[0].Health.State != "online" {
		t.Errorf("u2's battery %+v after u1's dropped", st.Units[1].Batteries[0].Health)
	}
	if e := st.Units[0].Batteries[0].Health; e.Errors == 0 || e.LastError == "" {
		t.Errorf("lost battery health without errors: %+v", e)
	}

	// The control loop stops: liveness fails within the limit (1 s).
	stop()
	testutil.WaitFor(t, 3*time.Second, "/healthz 503", func() bool {
		code, _ := get(t, base+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	h = Health{}
	getJSON(t, base+"/healthz", &h)
	if h.Status != "unhealthy" || !strings.Contains(h.Reason, "last cycled") {
		t.Errorf("healthz after the loop stopped: %+v", h)
	}
	h = Health{}
	if code := getJSON(t, base+"/readyz", &h); code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, "control loop") {
		t.Errorf("readyz after the loop stopped: %d %+v", code, h)
	}
}
