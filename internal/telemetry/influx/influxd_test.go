package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// influxdPath finds the influxd binary: $EMSD_INFLUXD, then the cache that
// scripts/influxd.sh fills ($EMSD_CACHE or <repo>/.cache/influxd), then PATH.
// Without one the test fails under CI=true and is skipped loudly otherwise.
func influxdPath(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("EMSD_INFLUXD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("EMSD_INFLUXD=%s: %v", p, err)
		}
		return p
	}
	cache := os.Getenv("EMSD_CACHE")
	if cache == "" {
		if root, err := repoRoot(); err == nil {
			cache = filepath.Join(root, ".cache", "influxd")
		}
	}
	if cache != "" {
		p := filepath.Join(cache, "bin", "influxd")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	msg := "no influxd found (EMSD_INFLUXD, $EMSD_CACHE/bin, .cache/influxd/bin, PATH); build one with scripts/influxd.sh"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip("\n\n!!!!!!!! SKIPPING REAL-INFLUXDB TEST: " + msg + " !!!!!!!!\n")
	return ""
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found")
		}
		dir = parent
	}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// influxServer is a real InfluxDB 1.8 server on loopback with its own data
// directory. It can be stopped and restarted on the same port and data.
type influxServer struct {
	tb       testing.TB
	bin      string
	dir      string
	httpPort int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// startInfluxd starts a server and stops it when the test ends.
func startInfluxd(tb testing.TB) *influxServer {
	tb.Helper()
	s := newInfluxServer(tb, tb.TempDir())
	tb.Cleanup(s.stop)
	s.start()
	return s
}

func newInfluxServer(tb testing.TB, dir string) *influxServer {
	s := &influxServer{tb: tb, bin: influxdPath(tb), dir: dir, httpPort: freePort(tb)}
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
[continuous_queries]
  enabled = false
`, freePort(tb), filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), s.httpPort)
	if err := os.WriteFile(filepath.Join(dir, "influxd.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s *influxServer) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort) }

// start runs influxd and waits until /ping answers.
func (s *influxServer) start() {
	s.tb.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run", "-config", filepath.Join(s.dir, "influxd.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL() + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
			s.tb.Fatalf("influxd exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.tb.Fatal("influxd did not answer /ping within 30s")
}

// stop terminates influxd (SIGTERM, then SIGKILL after 15s).
func (s *influxServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// query runs an InfluxQL statement and returns the first result's series.
func (s *influxServer) query(db, q string) []influxSeries {
	s.tb.Helper()
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(s.URL()+"/query", form)
	if err != nil {
		s.tb.Fatalf("query %q: %v", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []influxSeries `json:"series"`
			Error  string         `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		s.tb.Fatalf("query %q: %v", q, err)
	}
	if out.Error != "" || len(out.Results) == 0 || out.Results[0].Error != "" {
		s.tb.Fatalf("query %q: status %d: %+v", q, resp.StatusCode, out)
	}
	return out.Results[0].Series
}

type influxSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

func (s *influxServer) createDB(name string) {
	s.query("", fmt.Sprintf("CREATE DATABASE %q", name))
}

// count runs `SELECT count(*) FROM <from>` and returns the count, requiring
// every field's count to be the same (each point carries every field).
func (s *influxServer) count(db, from string) int64 {
	s.tb.Helper()
	series := s.query(db, "SELECT count(*) FROM "+from)
	if len(series) == 0 {
		return 0
	}
	if len(series) != 1 || len(series[0].Values) != 1 {
		s.tb.Fatalf("count(*) FROM %s: unexpected result %+v", from, series)
	}
	var n int64 = -1
	for i, col := range series[0].Columns {
		if !strings.HasPrefix(col, "count_") {
			continue
		}
		v, err := series[0].Values[0][i].(json.Number).Int64()
		if err != nil {
			s.tb.Fatal(err)
		}
		if n >= 0 && v != n {
			s.tb.Fatalf("count(*) FROM %s: %s = %d but another field has %d", from, col, v, n)
		}
		n = v
	}
	return n
}

// scalars runs a one-row query and returns its values after the time column.
func (s *influxServer) scalars(db, q string) []int64 {
	s.tb.Helper()
	series := s.query(db, q)
	if len(series) != 1 || len(series[0].Values) != 1 {
		s.tb.Fatalf("%s: unexpected result %+v", q, series)
	}
	var out []int64
	for _, v := range series[0].Values[0][1:] {
		n, err := v.(json.Number).Int64()
		if err != nil {
			s.tb.Fatalf("%s: %v", q, err)
		}
		out = append(out, n)
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drained reports whether everything written so far has left the queue, the
// batcher and the backlog.
func drained(w *Writer, total uint64) func() bool {
	return func() bool {
		s := w.Stats()
		return s.Written+s.DroppedTotal() >= total && s.BacklogPoints == 0 && s.QueuedPoints == 0
	}
}

func closeWriter(tb testing.TB, w *Writer, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}
