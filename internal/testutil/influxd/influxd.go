// Package influxd runs a real InfluxDB 1.8 server for tests.
//
// The binary is found by [Binary]: $EMSD_INFLUXD, then the cache that
// scripts/influxd.sh fills ($EMSD_CACHE/bin or <repo>/.cache/influxd/bin,
// <repo> being the nearest directory above the working directory holding
// go.mod), then PATH. Without one a test fails under CI=true and is skipped
// loudly otherwise ([testutil.SkipOrFail]), so a missing server never passes
// silently in CI.
//
// A [Server] listens on free loopback ports with its own temporary data
// directory, is stopped when the test ends, and dies with the test binary on
// Linux (Pdeathsig). It can be stopped and started again on the same port
// and data for outage tests.
package influxd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
)

// Binary returns the path of the influxd binary (see the package doc). It
// fails the test under CI=true and skips it otherwise when there is none.
func Binary(tb testing.TB) string {
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
	testutil.SkipOrFail(tb, "no influxd found (EMSD_INFLUXD, $EMSD_CACHE/bin, .cache/influxd/bin, PATH); scripts/influxd.sh builds one, and make test runs it")
	return ""
}

// repoRoot returns the nearest directory above the working directory that
// holds go.mod.
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

// Server is a real InfluxDB 1.8 server on loopback with its own data
// directory.
type Server struct {
	bin      string
	dir      string
	httpPort int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Start runs a new server, waits until it answers /ping, and stops it when
// the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{bin: Binary(tb), dir: tb.TempDir(), httpPort: testutil.FreePort(tb)}
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
`, testutil.FreePort(tb), filepath.Join(s.dir, "meta"), filepath.Join(s.dir, "data"), filepath.Join(s.dir, "wal"), s.httpPort)
	if err := os.WriteFile(filepath.Join(s.dir, "influxd.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.stop)
	s.Start(tb)
	return s
}

// URL is the server's HTTP base URL, e.g. http://127.0.0.1:8086.
func (s *Server) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort) }

// Start runs influxd again after [Server.Stop], on the same port and data,
// and waits until /ping answers.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	if s.cmd != nil {
		tb.Fatal("influxd is already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(s.bin, "run", "-config", filepath.Join(s.dir, "influxd.conf"))
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatal(err)
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
			tb.Fatalf("influxd exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	tb.Fatal("influxd did not answer /ping within 30s")
}

// Stop terminates influxd (SIGTERM, then SIGKILL after 15s) and waits for
// it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.stop()
}

func (s *Server) stop() {
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

// Signal sends sig to the running influxd, e.g. SIGSTOP to make connections
// hang rather than fail, and SIGCONT to resume.
func (s *Server) Signal(tb testing.TB, sig os.Signal) {
	tb.Helper()
	if s.cmd == nil {
		tb.Fatal("influxd is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
}

// Series is one series of an InfluxQL result. Numbers are json.Number.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// QueryErr runs an InfluxQL statement against db (none if empty) and returns
// the first result's series, or the error the server reports.
func (s *Server) QueryErr(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(s.URL()+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("status %d: %w", resp.StatusCode, err)
	}
	switch {
	case out.Error != "":
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, out.Error)
	case len(out.Results) == 0:
		return nil, fmt.Errorf("status %d: no results", resp.StatusCode)
	case out.Results[0].Error != "":
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// Query is [Server.QueryErr] that fails the test on an error.
func (s *Server) Query(tb testing.TB, db, q string) []Series {
	tb.Helper()
	series, err := s.QueryErr(db, q)
	if err != nil {
		tb.Fatalf("query %q: %v", q, err)
	}
	return series
}

// CreateDB creates database name.
func (s *Server) CreateDB(tb testing.TB, name string) {
	tb.Helper()
	s.Query(tb, "", fmt.Sprintf("CREATE DATABASE %q", name))
}

// Count runs `SELECT count(*) FROM <from>` in db and returns the count (0
// for no series), failing the test unless every field's count is the same
// (each point carries every field).
func (s *Server) Count(tb testing.TB, db, from string) int64 {
	tb.Helper()
	series := s.Query(tb, db, "SELECT count(*) FROM "+from)
	if len(series) == 0 {
		return 0
	}
	if len(series) != 1 || len(series[0].Values) != 1 {
		tb.Fatalf("count(*) FROM %s: unexpected result %+v", from, series)
	}
	var n int64 = -1
	for i, col := range series[0].Columns {
		if !strings.HasPrefix(col, "count_") {
			continue
		}
		v, err := series[0].Values[0][i].(json.Number).Int64()
		if err != nil {
			tb.Fatal(err)
		}
		if n >= 0 && v != n {
			tb.Fatalf("count(*) FROM %s: %s = %d but another field has %d", from, col, v, n)
		}
		n = v
	}
	return n
}

// Scalars runs a query returning one row of integers and returns its values
// after the time column.
func (s *Server) Scalars(tb testing.TB, db, q string) []int64 {
	tb.Helper()
	series := s.Query(tb, db, q)
	if len(series) != 1 || len(series[0].Values) != 1 {
		tb.Fatalf("%s: unexpected result %+v", q, series)
	}
	var out []int64
	for _, v := range series[0].Values[0][1:] {
		n, err := v.(json.Number).Int64()
		if err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
		out = append(out, n)
	}
	return out
}
