package influx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

const testDB = "emsd"

func testConfig(tb testing.TB, srv *influxd.Server, stateDir string) Config {
	tb.Helper()
	return Config{
		URL:              srv.URL(),
		Bucket:           testDB + "/autogen",
		StateDir:         stateDir,
		BatchSize:        1000,
		FlushInterval:    100 * time.Millisecond,
		WriteTimeout:     5 * time.Second,
		RetryInterval:    100 * time.Millisecond,
		MaxRetryInterval: 500 * time.Millisecond,
		Logger:           zap.NewNop(),
	}
}

func seqPoint(measurement string, seq int64, t time.Time) Point {
	return Point{
		Measurement: measurement,
		Tags:        map[string]string{"site": "test"},
		Fields:      map[string]any{"seq": seq, "p_kw": float64(seq) * 0.5},
		Time:        t,
	}
}

func TestWriteQueryBack(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	w, err := New(testConfig(t, srv, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := w.Register(reg); err != nil {
		t.Fatal(err)
	}

	base := time.Unix(1_700_000_000, 0)
	const perDevice = 2500
	devices := []string{"pcs-01", "pcs 02", "bms,03", "bms=04", `bms"05`}
	for i := range perDevice {
		for _, d := range devices {
			ok := w.Write(Point{
				Measurement: "unit state",
				Tags:        map[string]string{"device": d, "empty": ""},
				Fields: map[string]any{
					"p_kw": float64(i) * 1.5, "q_kvar": float32(-2), "soc": int16(50),
					"alarm": i%7 == 0, "mode": "run \"auto\"\nline2", "energy_wh": uint64(i),
					"nan": math.NaN(), // omitted: InfluxDB cannot store NaN
				},
				Time: base.Add(time.Duration(i) * time.Second),
			})
			if !ok {
				t.Fatalf("Write dropped point %d", i)
			}
		}
	}
	// Invalid points are dropped and counted, never sent.
	w.Write(Point{Fields: map[string]any{"x": 1.0}})
	w.Write(Point{Measurement: "m", Fields: map[string]any{"x": math.Inf(1)}})
	w.Write(Point{Measurement: "m", Fields: map[string]any{"x": struct{}{}}})

	const total = perDevice * 5
	testutil.WaitFor(t, 30*time.Second, "all points written", drained(w, total+3))
	closeWriter(t, w, 10*time.Second)

	if got := srv.Count(t, testDB, `"unit state"`); got != total {
		t.Fatalf("count(*) = %d, want %d", got, total)
	}
	for _, d := range devices {
		q := fmt.Sprintf(`SELECT count(p_kw) FROM "unit state" WHERE device = '%s'`, strings.ReplaceAll(d, `'`, `\'`))
		if got := srv.Scalars(t, testDB, q)[0]; got != perDevice {
			t.Errorf("device %q: %d points, want %d", d, got, perDevice)
		}
	}
	// One point read back field by field: escaping and types survive.
	series := srv.Query(t, testDB, fmt.Sprintf(`SELECT alarm, energy_wh, mode, p_kw, q_kvar, soc FROM "unit state" WHERE device = 'pcs 02' AND time = %d`,
		base.Add(7*time.Second).UnixNano()))
	if len(series) != 1 || len(series[0].Values) != 1 {
		t.Fatalf("point 7: %+v", series)
	}
	got := fmt.Sprint(series[0].Values[0][1:])
	if want := `[true 7 run "auto" line2 10.5 -2 50]`; got != want {
		t.Errorf("point 7 = %s, want %s", got, want)
	}

	s := w.Stats()
	if s.Written != total || s.Dropped[DropInvalid] != 3 || s.DroppedTotal() != 3 || s.WriteErrors != 0 {
		t.Errorf("stats = %+v", s)
	}
	if s.LastWriteLatency <= 0 || !s.Connected {
		t.Errorf("latency %v connected %v", s.LastWriteLatency, s.Connected)
	}
	if v := gathered(t, reg, "emsd_influx_points_written_total", ""); v != total {
		t.Errorf("emsd_influx_points_written_total = %v", v)
	}
	if v := gathered(t, reg, "emsd_influx_points_dropped_total", "invalid"); v != 3 {
		t.Errorf(`emsd_influx_points_dropped_total{reason="invalid"} = %v`, v)
	}
	if v := gathered(t, reg, "emsd_influx_connected", ""); v != 1 {
		t.Errorf("emsd_influx_connected = %v", v)
	}
	// After Close, Write drops and counts.
	if w.Write(seqPoint("m", 1, time.Now())) || w.Stats().Dropped[DropClosed] != 1 {
		t.Error("Write after Close was not dropped as closed")
	}
}

// gathered returns the value of a metric (with the given reason label, if any).
func gathered(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}

// TestOutage writes 200 points/s while influxd is down for 30 s, then checks
// that every point, in particular every point written during the outage, is in
// the database.
func TestOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test takes about a minute")
	}
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	w, err := New(testConfig(t, srv, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}

	var seq atomic.Int64 // next sequence number
	stopWriting := make(chan struct{})
	writerDone := make(chan error)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond) // 200 points/s
		defer tick.Stop()
		last := time.Time{}
		for {
			select {
			case <-stopWriting:
				writerDone <- nil
				return
			case now := <-tick.C:
				if !now.After(last) {
					now = last.Add(time.Microsecond)
				}
				last = now
				n := seq.Load()
				if !w.Write(seqPoint("outage", n, now)) {
					writerDone <- fmt.Errorf("Write dropped point %d", n)
					return
				}
				seq.Add(1)
			}
		}
	}()

	time.Sleep(5 * time.Second)
	srv.Stop(t)
	outageFirst := seq.Load()
	t.Logf("influxd stopped at seq %d", outageFirst)
	time.Sleep(30 * time.Second)
	outageLast := seq.Load() - 1
	during := w.Stats()
	if during.BacklogPoints == 0 || during.Connected {
		t.Errorf("during outage: backlog %d points, connected %v", during.BacklogPoints, during.Connected)
	}
	srv.Start(t)
	t.Logf("influxd restarted at seq %d with %d points in the backlog", outageLast+1, during.BacklogPoints)
	time.Sleep(5 * time.Second)
	close(stopWriting)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	total := seq.Load()
	testutil.WaitFor(t, 60*time.Second, "backlog replayed", drained(w, uint64(total)))
	closeWriter(t, w, 10*time.Second)

	s := w.Stats()
	if s.Written != uint64(total) || s.DroppedTotal() != 0 || s.BacklogPoints != 0 || s.WriteErrors == 0 {
		t.Errorf("stats = %+v, want %d written, nothing dropped, some write errors", s, total)
	}
	if got := srv.Count(t, testDB, "outage"); got != total {
		t.Errorf("count(*) = %d, want %d", got, total)
	}
	r := srv.Scalars(t, testDB, fmt.Sprintf("SELECT count(seq), min(seq), max(seq) FROM outage WHERE seq >= %d AND seq <= %d", outageFirst, outageLast))
	want := outageLast - outageFirst + 1
	if r[0] != want || r[1] != outageFirst || r[2] != outageLast {
		t.Errorf("outage window: count/min/max = %v, want %d/%d/%d", r, want, outageFirst, outageLast)
	}
	// Every single sequence number is there once.
	seen := make([]bool, total)
	for _, sr := range srv.Query(t, testDB, "SELECT seq FROM outage") {
		for _, v := range sr.Values {
			n, _ := v[1].(interface{ Int64() (int64, error) }).Int64()
			if n < 0 || n >= total || seen[n] {
				t.Fatalf("unexpected or duplicate seq %d", n)
			}
			seen[n] = true
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("seq %d missing", i)
		}
	}
	t.Logf("outage of 30s: %d points written during the outage, %d recovered from the backlog; %d/%d points in total, %d write errors",
		want, r[0], total, total, s.WriteErrors)
}

// TestRestartSurvival fills the backlog with the server down, closes the
// Writer, and checks that a new Writer on the same state dir replays it all.
func TestRestartSurvival(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	srv.Stop(t)
	state := t.TempDir()
	cfg := testConfig(t, srv, state)

	w1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("a second Writer opened the same backlog")
	}
	base := time.Unix(1_700_000_000, 0)
	const total = 7777
	for i := range total {
		if !w1.Write(seqPoint("restart", int64(i), base.Add(time.Duration(i)*time.Millisecond))) {
			t.Fatalf("Write dropped %d", i)
		}
	}
	closeWriter(t, w1, 5*time.Second)
	s1 := w1.Stats()
	if s1.Written != 0 || s1.BacklogPoints != total || s1.DroppedTotal() != 0 {
		t.Fatalf("after Close with server down: %+v", s1)
	}
	segs, _ := filepath.Glob(filepath.Join(state, BacklogDirName, "*"+segSuffix))
	if len(segs) < 2 {
		t.Fatalf("backlog segments on disk: %v", segs)
	}

	srv.Start(t)
	w2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.Stats().BacklogPoints; got != total {
		t.Fatalf("new Writer found %d backlog points, want %d", got, total)
	}
	testutil.WaitFor(t, 30*time.Second, "backlog replayed", drained(w2, total))
	closeWriter(t, w2, 5*time.Second)
	if s := w2.Stats(); s.Written != total || s.DroppedTotal() != 0 {
		t.Errorf("second Writer stats = %+v", s)
	}
	if got := srv.Count(t, testDB, "restart"); got != total {
		t.Errorf("count(*) = %d, want %d", got, total)
	}
	if segs, _ := filepath.Glob(filepath.Join(state, BacklogDirName, "*"+segSuffix)); len(segs) != 0 {
		t.Errorf("segments left after replay: %v", segs)
	}
}

// TestOverflow bounds the backlog tightly: the oldest points are dropped, the
// newest survive, and the drop counter equals the shortfall exactly.
func TestOverflow(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	srv.Stop(t)
	core, logs := observer.New(zapcore.WarnLevel)
	cfg := testConfig(t, srv, t.TempDir())
	cfg.BatchSize = 100
	cfg.BacklogMaxBytes = 64 << 10
	cfg.Logger = zap.New(core)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0)
	const total = 5000
	for i := range total {
		if !w.Write(seqPoint("overflow", int64(i), base.Add(time.Duration(i)*time.Millisecond))) {
			t.Fatalf("Write dropped %d", i)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "all points in the backlog", func() bool {
		s := w.Stats()
		return uint64(s.BacklogPoints)+s.Dropped[DropBacklogOverflow] == total
	})
	s := w.Stats()
	if s.BacklogBytes > cfg.BacklogMaxBytes || s.Dropped[DropBacklogOverflow] == 0 {
		t.Fatalf("backlog %d bytes (bound %d), overflow drops %d", s.BacklogBytes, cfg.BacklogMaxBytes, s.Dropped[DropBacklogOverflow])
	}

	srv.Start(t)
	testutil.WaitFor(t, 30*time.Second, "backlog replayed", drained(w, total))
	closeWriter(t, w, 5*time.Second)
	s = w.Stats()
	dropped := int64(s.Dropped[DropBacklogOverflow])
	r := srv.Scalars(t, testDB, "SELECT count(seq), min(seq), max(seq) FROM overflow")
	if r[0] != total-dropped || r[1] != dropped || r[2] != total-1 {
		t.Errorf("in database count/min/max = %v, want %d/%d/%d (oldest %d dropped)", r, total-dropped, dropped, total-1, dropped)
	}
	if s.Written != uint64(total-dropped) || s.DroppedTotal() != uint64(dropped) {
		t.Errorf("stats = %+v", s)
	}
	var logged bool
	for _, e := range logs.FilterMessage("InfluxDB writer dropped points").All() {
		if e.ContextMap()["reason"] == string(DropBacklogOverflow) {
			logged = true
		}
	}
	if !logged {
		t.Error("overflow drop was not logged")
	}
	t.Logf("bound %d bytes: %d of %d points dropped (oldest), %d written", cfg.BacklogMaxBytes, dropped, total, r[0])
}

// TestRejectedBatchDoesNotWedge checks that batches the server rejects (4xx)
// are dropped and counted, directly and from the backlog, and that the data
// behind them is still written.
func TestRejectedBatchDoesNotWedge(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	state := t.TempDir()
	// A backlog from an "earlier run" holding a malformed segment between two
	// good ones.
	dir := filepath.Join(state, BacklogDirName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	segs := []string{"wedge seq=1i 1000\nwedge seq=2i 2000\n", "wedge bad bad\n", "wedge seq=3i 3000\n"}
	for i, s := range segs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d%s", i+1, segSuffix)), []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	w, err := New(testConfig(t, srv, state))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "backlog replayed", drained(w, 4))
	// A field type conflict: seq is an integer, this batch sends a string.
	w.Write(Point{Measurement: "wedge", Fields: map[string]any{"seq": "x"}, Time: time.Unix(0, 4000)})
	testutil.WaitFor(t, 10*time.Second, "conflict rejected", drained(w, 5))
	w.Write(Point{Measurement: "wedge", Fields: map[string]any{"seq": 5}, Time: time.Unix(0, 5000)})
	testutil.WaitFor(t, 10*time.Second, "good point after the conflict", drained(w, 6))
	closeWriter(t, w, 5*time.Second)

	s := w.Stats()
	if s.Written != 4 || s.Dropped[DropRejected] != 2 || s.WriteErrors != 2 {
		t.Errorf("stats = %+v, want 4 written, 2 rejected, 2 write errors", s)
	}
	if got := srv.Count(t, testDB, "wedge"); got != 4 {
		t.Errorf("count(*) = %d, want 4", got)
	}
}
