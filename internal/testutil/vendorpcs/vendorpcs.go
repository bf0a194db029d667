// Package vendorpcs runs an independent Modbus TCP PCS for tests: a
// pymodbus server (Debian's python3-pymodbus) with its own register layout
// and field-equipment habits — it starts stopped, forgets its state when
// restarted, can be stopped at its local panel, can refuse to start, can
// answer one read block with exception codes and can send its 32-bit values
// in the wrong word order. pcs.py documents the register layout.
package vendorpcs

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
)

//go:embed pcs.py
var script []byte

// Python is Debian's interpreter, which sees Debian's python3-pymodbus (a
// pyenv python3 earlier on $PATH does not).
const Python = "/usr/bin/python3"

// Options shape the device.
type Options struct {
	Unit           int     // Modbus unit id; 0 means 1
	RatedKW        float64 // 0 means 250
	WordOrderABCD  bool    // send 32-bit values high word first (the wrong order for its profile)
	ExceptionBlock [2]int  // [lo, hi) holding registers whose reads answer illegal address
	StartDelay     time.Duration
	Watchdog       time.Duration
	NoiseKW        float64 // uniform noise on the measured P, as a real measurement has
}

// PCS is one running device process.
type PCS struct {
	tb     testing.TB
	path   string
	args   []string
	Port   int
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts the device on a free loopback port and stops it at the end
// of the test. Without python3-pymodbus it fails under CI and skips otherwise.
func Start(tb testing.TB, o Options) *PCS {
	tb.Helper()
	Need(tb)
	path := filepath.Join(tb.TempDir(), "pcs.py")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		tb.Fatal(err)
	}
	p := &PCS{tb: tb, path: path, Port: testutil.FreePort(tb)}
	p.args = []string{path, "--port", strconv.Itoa(p.Port)}
	if o.Unit != 0 {
		p.args = append(p.args, "--unit", strconv.Itoa(o.Unit))
	}
	if o.RatedKW != 0 {
		p.args = append(p.args, "--rated", fmt.Sprint(o.RatedKW))
	}
	if o.WordOrderABCD {
		p.args = append(p.args, "--word-order", "abcd")
	}
	if o.ExceptionBlock[1] > o.ExceptionBlock[0] {
		p.args = append(p.args, "--exception-block", fmt.Sprintf("%d:%d", o.ExceptionBlock[0], o.ExceptionBlock[1]))
	}
	if o.StartDelay > 0 {
		p.args = append(p.args, "--start-delay", fmt.Sprint(o.StartDelay.Seconds()))
	}
	if o.Watchdog > 0 {
		p.args = append(p.args, "--watchdog", fmt.Sprint(o.Watchdog.Seconds()))
	}
	if o.NoiseKW > 0 {
		p.args = append(p.args, "--noise", fmt.Sprint(o.NoiseKW))
	}
	p.start()
	tb.Cleanup(p.Kill)
	return p
}

// Need fails (under CI) or skips the test when Debian's pymodbus server
// cannot be imported.
func Need(tb testing.TB) {
	tb.Helper()
	out, err := exec.Command(Python, "-c", "import pymodbus.server").CombinedOutput()
	if err != nil {
		testutil.SkipOrFail(tb, "%s cannot import pymodbus.server (scripts/test-deps.sh installs python3-pymodbus and python3-serial-asyncio): %v: %s", Python, err, out)
	}
}

// Addr is the device's host:port.
func (p *PCS) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

func (p *PCS) start() {
	p.tb.Helper()
	cmd := exec.Command(Python, p.args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		p.tb.Fatalf("start %s: %v", Python, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	testutil.WaitFor(p.tb, 20*time.Second, "the pymodbus PCS to listen on "+p.Addr(), func() bool {
		select {
		case <-exited:
			p.tb.Fatalf("the pymodbus PCS exited at start (%s)", cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", p.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// Kill ends the process at once (SIGKILL), as a power cut or crash would.
func (p *PCS) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Restart kills the device and starts it again on the same port, with
// everything it knew forgotten: it comes back stopped, its alive counter at 0.
func (p *PCS) Restart() {
	p.tb.Helper()
	p.Kill()
	p.start()
}
