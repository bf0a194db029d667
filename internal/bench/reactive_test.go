package bench

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func readQ(t *testing.T, dir string) []qSample {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "q.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []qSample
	for _, r := range recs[1:] {
		var v [6]float64
		for i := range v {
			if v[i], err = strconv.ParseFloat(r[i], 64); err != nil {
				t.Fatal(err)
			}
		}
		rows = append(rows, qSample{T: v[0], PKW: v[1], QKVar: v[2], VV: v[3], CmdKVar: v[4], RefV: v[5]})
	}
	return rows
}

// TestAVCScoresMatchCSV runs a short avc scenario on the 4-unit station
// and re-scores its q.csv: the voltage follows the setpoint within the
// dead band at the end of each hold, and the printed settling is the one
// the series shows.
func TestAVCScoresMatchCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time closed loop")
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Scenario: "avc", Config: "test.yaml", ConfigYAML: small(),
		Duration: 18 * time.Second, Out: dir, FreePorts: true}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Events []avcEvent `json:"events"`
		Hold   float64    `json:"hold_s"`
	}
	got := readResult(t, dir, &d)
	rows := readQ(t, dir)
	if len(d.Events) != 6 {
		t.Fatalf("%d events, want 4 setpoint steps and 2 grid steps", len(d.Events))
	}
	var settle float64
	for _, ev := range d.Events {
		end := float64(ev.T0) + d.Hold - 0.01
		var last qSample
		for _, s := range rows {
			if s.T <= end {
				last = s
			}
		}
		if math.Abs(last.VV-float64(ev.RefV)) > 0.002*10000+1 {
			t.Errorf("%s event at %.1f s: V %.1f at the end of the hold, setpoint %.1f", ev.Kind, ev.T0, last.VV, ev.RefV)
		}
		if ev.Kind == "setpoint" && ev.StepV != 0 {
			settle = math.Max(settle, float64(ev.SettleS))
		}
	}
	if k := got["settling within ±0.5 % after a 2 % setpoint step, max"]; k != settle || !(k > 0) {
		t.Errorf("printed settling %v, the events' %v", k, settle)
	}
	t.Logf("avc on 4 units: settling %.2f s, overshoot %.1f %%", settle, got["overshoot max"])
}

// TestQStepScores runs a short q-step scenario: every step is acknowledged
// by every PCS and the POI Q ends on each command.
func TestQStepScores(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time closed loop")
	}
	dir := t.TempDir()
	if _, err := Run(context.Background(), Options{Scenario: "q-step", Config: "test.yaml", ConfigYAML: small(),
		Duration: 18 * time.Second, Out: dir, FreePorts: true}); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Steps []QStep `json:"steps"`
	}
	got := readResult(t, dir, &d)
	if len(d.Steps) != len(qSteps) {
		t.Fatalf("%d steps, want %d", len(d.Steps), len(qSteps))
	}
	rows := readQ(t, dir)
	for i, s := range d.Steps {
		if math.IsNaN(float64(s.AckMs)) {
			t.Errorf("step %d to %v kvar: not acknowledged by every PCS", i, s.ToKVar)
		}
		var last qSample
		for _, r := range rows {
			if r.T < float64(s.T0)+1.4 {
				last = r
			}
		}
		if math.Abs(last.QKVar-float64(s.ToKVar)) > 0.01*10000 {
			t.Errorf("step %d: POI Q %.0f kvar, command %v", i, last.QKVar, s.ToKVar)
		}
	}
	if se := got["steady Q error max |.|"]; !(se <= 1) {
		t.Errorf("steady Q error %v %% of rated", se)
	}
}
