package mqtt

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/emsd/emsd/internal/testutil"
)

// testBroker is a real MQTT broker on a loopback TCP port that a test can
// stop and start again on the same port.
type testBroker interface {
	Kind() string
	Addr() string // host:port
	Stop(t testing.TB)
	Start(t testing.TB)
}

// newBroker starts mosquitto when it is installed, else an embedded mochi
// broker. EMSD_TEST_BROKER=mochi forces mochi.
func newBroker(t testing.TB) testBroker { return newBrokerOpt(t, brokerOpts{}) }

// brokerOpts vary the test broker.
type brokerOpts struct {
	// nodelay sets set_tcp_nodelay in mosquitto (mochi, written in Go,
	// always has TCP_NODELAY).
	nodelay bool
	// tls, when set, makes the listener TLS only, requiring a client
	// certificate signed by the same CA.
	tls *pki
	// acl, when set, is a Mosquitto ACL file's content for anonymous clients.
	acl string
}

// newBrokerOpt is newBroker with options.
func newBrokerOpt(t testing.TB, bo brokerOpts) testBroker {
	t.Helper()
	addr := freeAddr(t)
	var b testBroker
	if os.Getenv("EMSD_TEST_BROKER") == "mochi" {
		b = &mochiBroker{addr: addr, pki: bo.tls}
	} else if path := testutil.WantProgram(t, "mosquitto", "the embedded mochi-mqtt broker"); path != "" {
		b = &mosquittoBroker{path: path, addr: addr, dir: t.TempDir(), brokerOpts: bo}
	} else {
		b = &mochiBroker{addr: addr, pki: bo.tls}
	}
	b.Start(t)
	t.Cleanup(func() { b.Stop(t) })
	t.Logf("broker: %s on %s", b.Kind(), addr)
	return b
}

// eachBroker runs f as a subtest on Mosquitto (when installed; under
// CI=true it must be) and on the embedded mochi broker, for behaviour that
// must hold on both.
func eachBroker(t *testing.T, f func(t *testing.T, b testBroker)) {
	t.Run("mosquitto", func(t *testing.T) {
		path := testutil.NeedProgram(t, "mosquitto")
		b := &mosquittoBroker{path: path, addr: freeAddr(t), dir: t.TempDir()}
		b.Start(t)
		t.Cleanup(func() { b.Stop(t) })
		f(t, b)
	})
	t.Run("mochi", func(t *testing.T) {
		b := &mochiBroker{addr: freeAddr(t)}
		b.Start(t)
		t.Cleanup(func() { b.Stop(t) })
		f(t, b)
	})
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// listening waits up to 10 s for addr to accept TCP connections.
func listening(addr string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// mosquittoBroker runs /usr/sbin/mosquitto as a child process.
type mosquittoBroker struct {
	path, addr, dir string
	brokerOpts
	mu     sync.Mutex
	cmd    *exec.Cmd
	starts int
}

func (b *mosquittoBroker) Kind() string {
	if b.nodelay {
		return "mosquitto (" + b.path + ", set_tcp_nodelay true)"
	}
	return "mosquitto (" + b.path + ")"
}
func (b *mosquittoBroker) Addr() string { return b.addr }

func (b *mosquittoBroker) Start(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	_, port, _ := net.SplitHostPort(b.addr)
	conf := filepath.Join(b.dir, "mosquitto.conf")
	cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n", port)
	if u, err := user.Current(); err == nil {
		// Started as root, mosquitto would switch to user "mosquitto",
		// who cannot read the test's temporary TLS files.
		cfg += "user " + u.Username + "\n"
	}
	if b.nodelay {
		cfg += "set_tcp_nodelay true\n"
	}
	if b.acl != "" {
		f := filepath.Join(b.dir, "acl")
		if err := os.WriteFile(f, []byte(b.acl), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += "acl_file " + f + "\n"
	}
	if b.tls != nil {
		cfg += fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
			b.tls.CA, b.tls.ServerCert, b.tls.ServerKey)
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b.starts++
	logf, err := os.Create(filepath.Join(b.dir, fmt.Sprintf("mosquitto-%d.log", b.starts)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(b.path, "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	b.cmd = cmd
	if !listening(b.addr) {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("mosquitto did not start listening on %s; its log:\n%s", b.addr, log)
	}
}

func (b *mosquittoBroker) Stop(t testing.TB) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// mochiBroker is an embedded mochi-mqtt broker. It accepts on its own
// loopback listener and hands connections to mochi, because mochi's own
// listener Close can deadlock (a recursive read lock in
// Clients.GetByListener) when a client leaves during shutdown.
type mochiBroker struct {
	addr  string
	pki   *pki
	mu    sync.Mutex
	srv   *mochi.Server
	l     net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func (b *mochiBroker) Kind() string { return "embedded mochi-mqtt" }
func (b *mochiBroker) Addr() string { return b.addr }

func (b *mochiBroker) Start(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	var err error
	for range 50 { // the port may linger briefly after Stop
		if l, err = net.Listen("tcp", b.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if b.pki != nil {
		l = tls.NewListener(l, b.pki.serverConfig(t))
	}
	b.srv, b.l, b.conns = srv, l, map[net.Conn]bool{}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[c] = true
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				_ = srv.EstablishConnection("tcp", c)
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
			}()
		}
	}()
}

func (b *mochiBroker) Stop(t testing.TB) {
	b.mu.Lock()
	if b.srv == nil {
		b.mu.Unlock()
		return
	}
	srv := b.srv
	b.srv = nil
	_ = b.l.Close()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Errorf("mochi connections did not end")
	}
	_ = srv.Close() // no mochi listeners: nothing to deadlock on
}

// proxy forwards TCP connections to a broker and can sever them all
// abruptly, as a failed network would.
type proxy struct {
	l       net.Listener
	target  string
	mu      sync.Mutex
	conns   []net.Conn
	blocked bool // refuse new connections
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	go p.serve()
	t.Cleanup(func() { l.Close(); p.sever() })
	return p
}

func (p *proxy) Addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		blocked := p.blocked
		p.mu.Unlock()
		if blocked {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

// block makes the proxy refuse (or accept again) new connections.
func (p *proxy) block(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = on
}

// sever closes every proxied connection on both sides.
func (p *proxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
