//go:build linux

package devices

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// slowDialServer returns a raw server whose first dial from the device
// takes about a second: the listener's accept queue (backlog 0) is held
// full by one idle connection until the device's SYN has been dropped,
// so the kernel completes the dial only on its SYN retry (initial RTO,
// 1 s). Serving starts once the SYN is out.
func slowDialServer(t *testing.T, h rawHandler) (addr string, start func() *rawServer) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	fill, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fill.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return ln.Addr().String(), func() *rawServer {
		waitFor(t, 5*time.Second, "the device's SYN", func() bool { return synSent(t, port) })
		s := serveRaw(ln, h)
		t.Cleanup(s.Close)
		return s
	}
}

// synSent tells whether a socket is in SYN_SENT towards the loopback port.
func synSent(t *testing.T, port int) bool {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rem := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ...
		if fs := strings.Fields(sc.Text()); len(fs) > 3 && fs[2] == rem && fs[3] == "02" {
			return true
		}
	}
	return false
}

const oneGroup = `
name: t-one
kind: meter
groups: [{name: g, period: 100ms}]
points: [{name: p_kw, table: input, address: 0, type: uint16, group: g}]
`

// TestDialCountsAgainstTimeout: Timeout bounds a transaction, dial
// included. After a dial of about a second, a reply 0.9 s later is too
// late for a 1.5 s timeout; the transactions after it on the same
// connection get the whole timeout again.
func TestDialCountsAgainstTimeout(t *testing.T) {
	const (
		timeout  = 1500 * time.Millisecond
		slowDial = 900 * time.Millisecond // the dial takes at least this (1 s RTO)
	)
	run := func(t *testing.T, h rawHandler) *recorder {
		addr, start := slowDialServer(t, h)
		rec := &recorder{}
		startDevice(t, Options{Name: "slowdial", Address: addr, Profile: mustProfile(t, oneGroup),
			Timeout: timeout, BackoffMin: 10 * time.Second, BackoffMax: 10 * time.Second, Observer: rec}, procimg.New())
		start()
		waitFor(t, 10*time.Second, "two transactions", func() bool { return len(rec.list()) >= 2 })
		return rec
	}
	t.Run("budget", func(t *testing.T) {
		t.Parallel()
		rec := run(t, func(s *rawServer, req *rawReq, out []byte) []byte {
			if req.seq == 1 {
				time.Sleep(900 * time.Millisecond)
			}
			return answer(s, req, out)
		})
		tx := rec.list()[0]
		if tx.err == nil || !strings.Contains(tx.err.Error(), "timeout") {
			t.Fatalf("first read after a slow dial: %v after %v, want a timeout", tx.err, tx.took)
		}
		if tx.took < slowDial || tx.took > timeout+500*time.Millisecond {
			t.Errorf("first read took %v with its dial, want about the %v timeout (the dial alone takes over %v)", tx.took, timeout, slowDial)
		}
	})
	t.Run("restored", func(t *testing.T) {
		t.Parallel()
		rec := run(t, func(s *rawServer, req *rawReq, out []byte) []byte {
			if req.seq == 2 {
				time.Sleep(time.Second)
			}
			return answer(s, req, out)
		})
		txs := rec.list()
		if txs[0].took < slowDial {
			t.Fatalf("first read took %v with its dial; the dial was not slowed", txs[0].took)
		}
		if txs[0].err != nil || txs[1].err != nil {
			t.Errorf("reads after a slow dial: %v, %v; want the second (answered after 1 s) within the whole %v timeout", txs[0].err, txs[1].err, timeout)
		}
	})
}
