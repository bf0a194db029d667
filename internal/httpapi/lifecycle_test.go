package httpapi

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/testutil"
)

// still is a plant whose control loop never cycles.
type still struct{ view plant.View }

func (s *still) Latest() plant.View                     { return s.view }
func (s *still) Ready() bool                            { return false }
func (s *still) Devices() []*devices.Device             { return nil }
func (s *still) Acked() ([]plant.Setpoint, []time.Time) { return nil, nil }

func TestListenErrorNamesTheAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	srv, err := New(addr, Options{Plant: &still{}})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Start(context.Background())
	if err == nil {
		srv.Close()
		t.Fatal("Start on a taken address succeeded")
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q: want the address and 'address already in use'", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close of a server that never started: %v", err)
	}

	if _, err := New("", Options{}); err == nil {
		t.Error("New without a plant succeeded")
	}
	s, _ := New("", Options{Plant: &still{}})
	if s.Addr() != DefaultAddr {
		t.Errorf("default address %q, want %q", s.Addr(), DefaultAddr)
	}
}

func TestContextEndStopsTheServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New("127.0.0.1:0", Options{Plant: &still{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	base := "http://" + srv.Addr()
	resp, err := http.Post(base+"/api/state", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/state: %d, want 405", resp.StatusCode)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics without a gatherer: %d, want 404", code)
	}
	cancel()
	testutil.WaitFor(t, 3*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", srv.Addr(), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if err := srv.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}

func TestHealthzWithoutCycles(t *testing.T) {
	var last atomic.Int64
	srv, err := New("127.0.0.1:0", Options{Plant: &still{}, LiveWithin: 200 * time.Millisecond,
		LastCycle: func() time.Time {
			if ns := last.Load(); ns != 0 {
				return time.Unix(0, ns)
			}
			return time.Time{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz within the start-up grace: %d %s", code, body)
	}
	time.Sleep(300 * time.Millisecond)
	var h Health
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, "not cycled") {
		t.Errorf("healthz with no cycle after the grace: %d %+v", code, h)
	}
	last.Store(time.Now().UnixNano())
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after a cycle: %d %s", code, body)
	}
	last.Store(time.Now().Add(-time.Second).UnixNano())
	h = Health{}
	if code := getJSON(t, base+"/healthz", &h); code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, "last cycled") {
		t.Errorf("healthz with an old cycle: %d %+v", code, h)
	}
}

func TestStateEncodesMissingValuesAsNull(t *testing.T) {
	now := time.Now()
	p := &still{view: plant.View{At: now,
		POI: plant.MeterView{
			P: procimg.Value{V: 120, Q: procimg.Good, At: now.Add(-100 * time.Millisecond)},
			F: procimg.Value{Q: procimg.Lost},                // never read
			Q: procimg.Value{Q: procimg.Lost, V: math.NaN()}, // the profile lacks it
		},
		Units: []plant.UnitView{{ID: "u1", RatedP: 1000, RatedS: math.NaN(),
			P: procimg.Value{V: 5, Q: procimg.Stale, At: now.Add(-2 * time.Second)},
			BMS: []plant.BatteryView{{CapacityKWh: 100, SOC: procimg.Value{V: 40, Q: procimg.Good, At: now},
				ChargeMax: procimg.Value{Q: procimg.Lost}, DischargeMax: procimg.Value{Q: procimg.Lost}}}}},
	}}
	b, err := json.Marshal(Snapshot(p, nil, now))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	plant := m["plant"].(map[string]any)
	if _, ok := plant["q_kvar"]; ok {
		t.Errorf("a point the profile lacks is present: %v", plant["q_kvar"])
	}
	f := plant["f_hz"].(map[string]any)
	if f["value"] != nil || f["age_s"] != nil || f["quality"] != "lost" {
		t.Errorf("never-read frequency %v, want null value and age, quality lost", f)
	}
	if p := plant["p_kw"].(map[string]any); p["value"] != 120.0 || p["quality"] != "good" || math.Abs(p["age_s"].(float64)-0.1) > 1e-6 {
		t.Errorf("POI P %v", p)
	}
	u := m["units"].([]any)[0].(map[string]any)
	if u["rated_s_kva"] != nil || u["p_kw"].(map[string]any)["quality"] != "stale" || u["charge_max_kw"] != nil {
		t.Errorf("unit %v", u)
	}
	if _, ok := m["dispatch"]; ok {
		t.Error("dispatch present without a dispatcher")
	}
	if strings.Contains(string(b), "NaN") {
		t.Errorf("NaN in %s", b)
	}
}
