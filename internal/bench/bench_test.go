package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/kpi"
	"github.com/emsd/emsd/internal/testutil"
)

// TestCommittedConfigsAreGenerated checks that the reference station
// files are exactly the generator's output and describe the stations.
func TestCommittedConfigsAreGenerated(t *testing.T) {
	for file, spec := range map[string]StationSpec{
		"../../configs/station-800mwh.yaml":        Central800(),
		"../../configs/station-800mwh-string.yaml": String800(),
	} {
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, spec.YAML()) {
			t.Errorf("%s differs from `emsbench -gen-config %s`", file, spec.Name)
		}
		cfg, err := config.Parse(got, file)
		if err != nil {
			t.Fatal(err)
		}
		nBMS := 0
		for _, u := range cfg.Units {
			nBMS += len(u.BMS)
		}
		if len(cfg.Units) != spec.Units || nBMS != spec.Units*spec.BMSPerUnit {
			t.Errorf("%s: %d units, %d BMS; want %d, %d", file, len(cfg.Units), nBMS, spec.Units, spec.Units*spec.BMSPerUnit)
		}
		// Every scenario runs with the station's own auxiliary load.
		aux := cfg.Simulator.Grid.AuxLoad
		if lo, hi := (aux.KW-aux.SwingKW)/cfg.Site.RatedPKW*100, (aux.KW+aux.SwingKW)/cfg.Site.RatedPKW*100; lo < 0.5-1e-9 || hi > 1+1e-9 || aux.SwingKW <= 0 {
			t.Errorf("%s: auxiliary load %.3f..%.3f %% of rated, want a varying one within 0.5..1 %%", file, lo, hi)
		}
		if cfg.Site.RatedPKW < 199000 || cfg.Site.RatedPKW > 200000 || cfg.Site.RatedEKWh < 799000 || cfg.Site.RatedEKWh > 800000 {
			t.Errorf("%s: %.0f kW / %.0f kWh, want 200 MW / 800 MWh", file, cfg.Site.RatedPKW, cfg.Site.RatedEKWh)
		}
	}
}

// small is a 4-unit station for the end-to-end tests.
func small() []byte {
	return StationSpec{Name: "bench-test", Title: "test", Units: 4, IDPrefix: "u", IDWidth: 1, UnitKW: 2500,
		BMSPerUnit: 1, BMSKWh: 5000, POILimitKW: 10000, BasePort: 41000, ControlPort: 41999, MeterFastPoll: "10ms"}.YAML()
}

func readSeries(t *testing.T, dir string) []Sample {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "series.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := recs[0]; len(got) != 7 || got[0] != "t_s" || got[1] != "cmd_kw" || got[3] != "poi_kw" {
		t.Fatalf("series.csv header %v", got)
	}
	rows := make([]Sample, 0, len(recs)-1)
	for _, r := range recs[1:] {
		var v [7]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				t.Fatal(err)
			}
		}
		rows = append(rows, Sample{T: v[0], CmdKW: v[1], FHz: v[2], POIKW: v[3], SOCPct: v[4], LoadKW: v[5], Wall: v[6]})
	}
	return rows
}

// readResult decodes result.json, as printed with -json.
func readResult(t *testing.T, dir string, detail any) map[string]float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		KPIs   []KPI           `json:"kpis"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.Detail, detail); err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for _, k := range r.KPIs {
		m[k.Name] = float64(k.Value)
	}
	return m
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestFRStepScoresMatchCSV runs fr-step and re-scores the CSV it wrote
// with kpi.StepResponse: the printed figures must be the same.
func TestFRStepScoresMatchCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time closed loop")
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Scenario: "fr-step", Config: "test.yaml", ConfigYAML: small(),
		Duration: 18 * time.Second, Out: dir, FreePorts: true}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Steps  []FRStep `json:"steps"`
		Window float64  `json:"steady_window_s"`
	}
	got := readResult(t, dir, &d)
	rows := readSeries(t, dir)
	ts, ps := seriesTP(rows)
	if len(d.Steps) != 12 {
		t.Fatalf("%d steps in result.json, want 12", len(d.Steps))
	}
	var lagMax, riseMax float64
	for _, s := range d.Steps {
		r, err := kpi.StepResponse(ts, ps, kpi.StepParams{T0: float64(s.T0), DeltaP: float64(s.DeltaPKW), Rated: 10000,
			SteadyWindow: d.Window, End: float64(s.End)})
		if err != nil {
			t.Fatal(err)
		}
		if !near(r.Lag*1000, float64(s.LagMs)) || !near(r.RiseTime*1000, float64(s.RiseMs)) || !near(r.SteadyErrorPct, float64(s.SteadyP)) {
			t.Errorf("step at %.3f s: CSV gives lag %.3f rise %.3f steady %.4f, bench printed %.3f %.3f %.4f",
				float64(s.T0), r.Lag*1000, r.RiseTime*1000, r.SteadyErrorPct, float64(s.LagMs), float64(s.RiseMs), float64(s.SteadyP))
		}
		lagMax, riseMax = math.Max(lagMax, r.Lag*1000), math.Max(riseMax, r.RiseTime*1000)
	}
	if !near(lagMax, got["lag max"]) || !near(riseMax, got["rise max"]) {
		t.Errorf("CSV gives lag max %.3f, rise max %.3f; bench printed %.3f, %.3f", lagMax, riseMax, got["lag max"], got["rise max"])
	}
	// The plant must actually respond: a 0.5 Hz step at 2 % droop asks for
	// 46.7 % of rated power within GB/T 40595's 3 s.
	if !(riseMax < 3000) {
		t.Errorf("rise max %.0f ms, want < 3 s", riseMax)
	}
}

// TestAGCScoresMatchCSV runs a short agc scenario and re-scores its CSV
// with kpi.PJMScore and kpi.AGCScore.
func TestAGCScoresMatchCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time closed loop")
	}
	testutil.SharedData(t, "traces/pjm-regulation-2017-08-01_02-2s.csv")
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Scenario: "agc", Config: "test.yaml", ConfigYAML: small(),
		Duration: 10 * time.Second, Speed: 30, Out: dir, FreePorts: true}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Scoring AGCScoring `json:"scoring"`
	}
	got := readResult(t, dir, &d)
	rows := readSeries(t, dir)
	sc := d.Scoring
	var t1, sig, resp, wt, wc, wp []float64
	for _, r := range rows {
		if r.T >= float64(sc.StepsFromS) {
			wt, wc, wp = append(wt, r.Wall), append(wc, r.CmdKW/1000), append(wp, r.POIKW/1000)
			continue
		}
		t1 = append(t1, r.T)
		sig = append(sig, (r.CmdKW-float64(sc.BaseKW))/float64(sc.CapacityKW))
		resp = append(resp, (r.POIKW-float64(sc.BaseKW))/float64(sc.CapacityKW))
	}
	pjm, err := kpi.PJMScore(t1, sig, resp)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kpi.AGCScore(wt, wc, wt, wp, kpi.NorthChinaAGC(float64(sc.PeMW)))
	if err != nil {
		t.Fatal(err)
	}
	if !near(pjm.Score, got["PJM score"]) || !near(k.MeanKp, got["Kp"]) || !near(k.MeanK2, got["K2"]) {
		t.Errorf("CSV gives PJM %.6f Kp %.6f K2 %.6f; bench printed %.6f %.6f %.6f",
			pjm.Score, k.MeanKp, k.MeanK2, got["PJM score"], got["Kp"], got["K2"])
	}
	if len(k.Commands) < 5 {
		t.Errorf("%d step commands scored, want at least 5", len(k.Commands))
	}
	if pjm.Score < 0.75 {
		t.Errorf("PJM score %.3f below PJM's qualification threshold 0.75", pjm.Score)
	}
}

func TestMedian(t *testing.T) {
	mk := func(v float64) *Result {
		r := &Result{}
		r.AddTarget("x", v, "ms", "≤ 2", v <= 2)
		return r
	}
	m := Median([]*Result{mk(3), mk(1), mk(2)})
	if v, _ := m.Get("x"); v != 2 || m.KPIs[0].Pass == nil || !*m.KPIs[0].Pass {
		t.Errorf("median %v pass %v, want 2 true", v, m.KPIs[0].Pass)
	}
	if v := median([]float64{4, 1, 3, 2}); v != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", v)
	}
}
