package record

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

// hasValue reports whether any row has a non-null value besides time.
func hasValue(ss []influxd.Series) bool {
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
	srv := influxd.Start(t)
	srv.CreateDB(t, "emsd")
	w, err := influx.New(influx.Config{URL: srv.URL(), Bucket: "emsd", StateDir: t.TempDir(), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dev := &fakeDevice{name: "u001.pcs", h: devices.Health{State: devices.Online, Connected: true}}
	r, err := New(w, Options{Site: "s1", Devices: []HealthSource{dev},
		States: func() []dispatch.State { return []dispatch.State{dispatch.StateNormal, dispatch.StateLimit} },
		Setpoints: func() ([]plant.Setpoint, []time.Time) {
			return []plant.Setpoint{{P: 5}, {P: 6}}, []time.Time{t0, t0}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-10 * time.Second).Truncate(time.Second)
	v, rep := testView(2, 2), report()
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

	ss, err := srv.QueryErr("emsd", `SELECT count("quality") FROM "bms"`)
	if err != nil || !hasValue(ss) || ss[0].Values[0][1] != json.Number(strconv.Itoa(5*4)) {
		t.Fatalf("bms points: %v %v, want 20", ss, err)
	}

	expand := strings.NewReplacer("$timeFilter", "time > now() - 1h", "$__interval", "1s", "$site", "s1", "$unit", "(u001|u002)")
	for _, q := range dashboardQueries(t) {
		sql := expand.Replace(q.query)
		ss, err := srv.QueryErr("emsd", sql)
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
