// Package testutil holds small helpers shared by the tests of several
// packages: free loopback ports, polling for a condition, and finding the
// programs and shared data a test needs (failing under CI=true when they
// are missing, skipping otherwise). It imports nothing of emsd, so any
// package's internal tests can use it; the rigs built on it are in the
// sub-packages influxd and planttest.
package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that nobody listens on right now and
// that no earlier call in this process returned, so that one test's
// addresses never collide (a config with two devices on one port is
// refused). It is drawn from 20000–31999, below the usual ephemeral range,
// so that client sockets do not take it before the server under test binds
// it.
func FreePort(tb testing.TB) int {
	tb.Helper()
	given.Lock()
	defer given.Unlock()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if given.ports[port] {
			continue
		}
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			ln.Close()
			given.ports[port] = true
			return port
		}
	}
	tb.Fatal("no free port")
	return 0
}

// given holds the ports FreePort has returned.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreeAddr is [FreePort] as an address, e.g. "127.0.0.1:23456".
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(tb))
}

// WaitFor polls cond every 10 ms until it holds, and fails the test when it
// still does not after timeout; what names the condition in the failure.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
