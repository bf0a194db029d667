// Package etcdtest runs a real etcd server (or a cluster) for tests, on free
// loopback ports with its own temporary data directory. Without an etcd
// binary the test fails under CI=true and is skipped loudly otherwise
// (scripts/test-deps.sh installs Debian's etcd-server). A Server can be
// stopped and started again on the same ports and data, for outage tests.
package etcdtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
)

// Server is one etcd member.
type Server struct {
	bin, dir, name string
	client, peer   string // host:port
	cluster        string // --initial-cluster
	cmd            *exec.Cmd
	tb             testing.TB
	log            *os.File
}

// Start runs a single-member etcd and waits until it serves; it is
// stopped when the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartCluster(tb, 1)[0]
}

// StartCluster runs an etcd cluster of n members and waits until each
// accepts connections; they are stopped when the test ends.
func StartCluster(tb testing.TB, n int) []*Server {
	tb.Helper()
	bin := testutil.NeedProgram(tb, "etcd")
	if bin == "" {
		return nil
	}
	ss := make([]*Server, n)
	var cluster []string
	for i := range ss {
		ss[i] = &Server{bin: bin, dir: tb.TempDir(), tb: tb, name: fmt.Sprintf("m%d", i),
			client: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(tb)),
			peer:   fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(tb))}
		cluster = append(cluster, ss[i].name+"=http://"+ss[i].peer)
	}
	for _, s := range ss {
		s.cluster = strings.Join(cluster, ",")
		s.launch()
		tb.Cleanup(s.Stop)
	}
	for _, s := range ss {
		s.waitListening()
	}
	return ss
}

// Endpoints are the client URLs of servers.
func Endpoints(ss []*Server) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Endpoint())
	}
	return out
}

// Endpoint is the client URL.
func (s *Server) Endpoint() string { return "http://" + s.client }

// Start restarts a stopped server on its ports and data and waits until
// it accepts connections.
func (s *Server) Start() {
	s.tb.Helper()
	s.launch()
	s.waitListening()
}

func (s *Server) launch() {
	tb := s.tb
	tb.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "etcd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	s.log = log
	s.cmd = exec.Command(s.bin,
		"--name", s.name, "--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", "http://"+s.client, "--advertise-client-urls", "http://"+s.client,
		"--listen-peer-urls", "http://"+s.peer, "--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", s.cluster)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
}

func (s *Server) waitListening() {
	tb := s.tb
	tb.Helper()
	testutil.WaitFor(tb, 20*time.Second, "etcd to listen on "+s.client, func() bool {
		c, err := net.DialTimeout("tcp", s.client, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// Stop stops the server (SIGTERM, then SIGKILL after 5 s).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
	_ = s.log.Close()
}
