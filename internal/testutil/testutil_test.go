package testutil_test

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
)

func TestFreeAddrIsListenable(t *testing.T) {
	addr := testutil.FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	testutil.WaitFor(t, time.Second, "three polls", func() bool { return n.Add(1) >= 3 })
	if n.Load() != 3 {
		t.Errorf("cond called %d times, want 3", n.Load())
	}
}

// FreePort never hands out a port twice: planttest builds a config from many
// calls, and two devices on one port make the config invalid. 2000 draws
// from 12000 ports would repeat one almost surely without the record.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p := testutil.FreePort(t)
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}
