package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/testutil/planttest"
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

// rig is a simulated plant run by a station with a dispatcher and the
// metrics hooks.
type rig struct {
	plant *sim.Plant
	st    *planttest.Station
	disp  *planttest.Dispatcher
	m     *Metrics
}

func startRig(t *testing.T, units int, dispatchYAML string) *rig {
	t.Helper()
	cfg := planttest.Config(t, planttest.Spec{
		Name: "metrics", Units: units, RatedKW: 1000, CapKWh: 2000,
		Devices:  "lost_after: 500ms, backoff_max: 200ms",
		Control:  "period: 100ms, heartbeat_period: 200ms, shutdown_timeout: 3s, summary_period: 0s",
		Dispatch: dispatchYAML,
		Battery:  "soc_pct: 50, soc_spread_pct: 0",
	})
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant := planttest.StartPlant(t, cfg, log)
	disp := planttest.NewDispatcher(t, cfg, log)
	m := New(Options{})
	st := planttest.NewStation(t, cfg, log, planttest.StationOptions{
		Controller:  disp,
		Observer:    m,
		FastLatency: m.FastLatency,
		OnCycle:     m.OnCycle,
	})
	if err := m.Attach(st, disp); err != nil {
		t.Fatal(err)
	}
	planttest.Run(t, st)
	return &rig{plant: plant, st: st, disp: disp, m: m}
}
