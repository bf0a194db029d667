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
