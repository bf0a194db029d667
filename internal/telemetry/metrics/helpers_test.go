package metrics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
)

// scraper serves a registry over loopback HTTP and parses what it serves.
type scraper struct {
	t   *testing.T
	url string
}

func serve(t *testing.T, m *Metrics) *scraper {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	t.Cleanup(srv.Close)
	return &scraper{t: t, url: srv.URL}
}

// families scrapes once and parses the text exposition.
type families map[string]*dto.MetricFamily

func (s *scraper) scrape() families {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("scrape: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		s.t.Fatalf("scrape content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// labels is name=value pairs, e.g. labels("device", "u1.pcs").
func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// find returns the metric of family name whose labels include want.
func (f families) find(name string, want map[string]string) (*dto.Metric, bool) {
	fam, ok := f[name]
	if !ok {
		return nil, false
	}
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, lp := range m.Label {
			have[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is a gauge's or counter's value, or a histogram's sample count.
func (f families) value(name string, want map[string]string) (float64, bool) {
	m, ok := f.find(name, want)
	if !ok {
		return 0, false
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

func (f families) must(t *testing.T, name string, kv ...string) float64 {
	t.Helper()
	v, ok := f.value(name, labels(kv...))
	if !ok {
		t.Fatalf("no %s%v in the scrape", name, kv)
	}
	return v
}

func (f families) typ(name string) dto.MetricType {
	if fam, ok := f[name]; ok {
		return fam.GetType()
	}
	return -1
}

// freePort returns a loopback address below the ephemeral range that
// nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// rig is a simulated plant run by a station with a dispatcher and the
// metrics hooks.
type rig struct {
	plant *sim.Plant
	st    *station.Station
	disp  *station.Dispatcher
	m     *Metrics
}

func startRig(t *testing.T, units int, dispatchYAML string) *rig {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "site:\n  name: metrics\n  rated_p_kw: %d\n  rated_e_kwh: %d\n", 1000*units, 2000*units)
	fmt.Fprintf(&b, "  poi:\n    meter: {address: %s}\n", freePort(t))
	b.WriteString("units:\n")
	for i := range units {
		fmt.Fprintf(&b, "  - id: u%d\n    rated_p_kw: 1000\n    pcs: {address: %s}\n", i+1, freePort(t))
		fmt.Fprintf(&b, "    bms:\n      - {address: %s, capacity_kwh: 2000}\n", freePort(t))
	}
	b.WriteString("devices: {lost_after: 500ms, backoff_max: 200ms}\n")
	b.WriteString("control: {period: 100ms, heartbeat_period: 200ms, shutdown_timeout: 3s, summary_period: 0s}\n")
	if dispatchYAML != "" {
		b.WriteString("dispatch:\n" + dispatchYAML)
	}
	b.WriteString("simulator:\n  enabled: true\n  battery: {soc_pct: 50, soc_spread_pct: 0}\n")
	cfg, err := config.Parse([]byte(b.String()), "metrics-test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant, err := sim.New(cfg, profiles, log.Named("sim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := plant.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plant.Close() })
	ctl, err := dispatch.New(cfg.DispatchConfig())
	if err != nil {
		t.Fatal(err)
	}
	disp := station.NewDispatcher(ctl, log.Named("dispatch"), nil)
	m := New(Options{})
	st, err := station.New(cfg, profiles, log, station.Options{
		Controller:  m.Controller(disp),
		Observer:    m,
		FastLatency: m.FastLatency,
		OnCycle:     m.OnCycle,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Attach(st, disp); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("station did not stop")
		}
	})
	return &rig{plant: plant, st: st, disp: disp, m: m}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
