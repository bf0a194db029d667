package record

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/telemetry/influx"
)

// influxd finds the binary the influx package's tests use: $EMSD_INFLUXD,
// $EMSD_CACHE/bin or <repo>/.cache/influxd/bin (scripts/influxd.sh), PATH.
func influxd(t *testing.T) string {
	if p := os.Getenv("EMSD_INFLUXD"); p != "" {
		return p
	}
	cache := os.Getenv("EMSD_CACHE")
	if cache == "" {
		cache = filepath.Join("..", "..", "..", ".cache", "influxd")
	}
	if p := filepath.Join(cache, "bin", "influxd"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	msg := "no influxd (EMSD_INFLUXD, $EMSD_CACHE/bin, .cache/influxd/bin, PATH); build one with scripts/influxd.sh"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("\n\n!!!!!!!! SKIPPING REAL-INFLUXDB TEST: " + msg + " !!!!!!!!\n")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startInfluxd runs a throw-away InfluxDB 1.8 on loopback and returns its URL.
func startInfluxd(t *testing.T) string {
	bin := influxd(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
`, freePort(t), filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
	cfg := filepath.Join(dir, "influxd.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "influxd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(u + "/ping"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return u
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "influxd.log"))
			t.Fatalf("influxd exited:\n%s", b)
		default:
		}
	}
	t.Fatal("influxd did not answer /ping")
	return ""
}

type series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func influxQuery(t *testing.T, base, db, q string) ([]series, error) {
	resp, err := http.PostForm(base+"/query", url.Values{"q": {q}, "db": {db}, "epoch": {"ms"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Error != "" {
		return nil, fmt.Errorf("%s", out.Error)
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	if out.Results[0].Error != "" {
		return nil, fmt.Errorf("%s", out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// hasValue reports whether any row has a non-null value besides time.
func hasValue(ss []series) bool {
	for _, s := range ss {
		for _, row := range s.Values {
			for i, v := range row {
				if i > 0 && v != nil {
					return true
				}
			}
		}
	}
	return false
}

// TestRealInfluxDB writes a few intervals through the influx.Writer into a
// real InfluxDB (so field types and line protocol are the server's to
// judge), then runs every dashboard query, with Grafana's macros expanded,
// and requires each to succeed and return data.
func TestRealInfluxDB(t *testing.T) {
	base := startInfluxd(t)
	if _, err := influxQuery(t, base, "", "CREATE DATABASE emsd"); err != nil {
		t.Fatal(err)
	}
	w, err := influx.New(influx.Config{URL: base, Bucket: "emsd", StateDir: t.TempDir(), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{name: "u001.pcs", h: devices.Health{State: devices.Online, Connected: true}}
	r, err := New(w, Options{Site: "s1", Devices: []HealthSource{dev},
		States: func() []dispatch.State { return []dispatch.State{dispatch.StateNormal, dispatch.StateLimit} },
		Setpoints: func() ([]station.Setpoint, []time.Time) {
			return []station.Setpoint{{P: 5}, {P: 6}}, []time.Time{t0, t0}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	v, rep := plant(2, 2), report()
	for s := range 5 {
		for c := range 10 {
			v.At = start.Add(time.Duration(s)*time.Second + time.Duration(c)*100*time.Millisecond)
			v.POI.F = good(50 + 0.01*float64(c-5))
			r.Observe(v, rep)
			r.Transaction("u001.pcs", devices.Read, time.Duration(c+1)*time.Millisecond, nil)
		}
		if s == 3 {
			dev.set(devices.Lost, "i/o timeout")
		}
		r.Flush(start.Add(time.Duration(s+1) * time.Second))
	}
	r.Protection([]dispatch.Event{{Unit: "u002", From: dispatch.StateNormal, To: dispatch.StateTrip, Cause: dispatch.CauseAlarm3, Time: start.Add(2 * time.Second)}})
	_ = r.Audit(command.Record{Time: start.Add(3 * time.Second), Transport: "mqtt", Name: "set_mode", Result: command.ResultRefused, Reason: "no"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.DroppedTotal() != 0 {
		t.Fatalf("writer dropped points: %+v", st)
	}

	ss, err := influxQuery(t, base, "emsd", `SELECT count("quality") FROM "bms"`)
	if err != nil || !hasValue(ss) || ss[0].Values[0][1] != float64(5*4) {
		t.Fatalf("bms points: %v %v, want 20", ss, err)
	}

	expand := strings.NewReplacer("$timeFilter", "time > now() - 1h", "$__interval", "1s", "$site", "s1", "$unit", "(u001|u002)")
	for _, q := range dashboardQueries(t) {
		sql := expand.Replace(q.query)
		ss, err := influxQuery(t, base, "emsd", sql)
		if err != nil {
			t.Errorf("%s: %q: %v\n\t%s", q.file, q.where, err, sql)
			continue
		}
		if !hasValue(ss) && !strings.HasPrefix(sql, "SHOW") {
			t.Errorf("%s: %q: no data\n\t%s", q.file, q.where, sql)
		}
		if strings.HasPrefix(sql, "SHOW") && len(ss) == 0 {
			t.Errorf("%s: %q: no tag values\n\t%s", q.file, q.where, sql)
		}
	}
}
