package devices

import (
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// TestSlowReadSkipsSlots: a read that takes ten periods is counted as an
// overrun, and the slots it missed are skipped, not read in a burst; the
// schedule then goes on at its period.
func TestSlowReadSkipsSlots(t *testing.T) {
	const (
		period = 50 * time.Millisecond
		slow   = 10 * period
		slowAt = 5 // request number answered late
	)
	var mu sync.Mutex
	var arrivals []time.Time
	var replied time.Time // when the slow reply went out
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		if req.seq == slowAt {
			time.Sleep(slow)
			mu.Lock()
			replied = time.Now()
			mu.Unlock()
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	prof := mustProfile(t, `
name: t-slow
kind: meter
groups: [{name: g, period: 50ms}]
points: [{name: p_kw, table: input, address: 0, type: uint16, group: g}]
`)
	d := startDevice(t, Options{Name: "slow", Address: srv.addr, Profile: prof, Timeout: 5 * slow}, procimg.New())
	waitFor(t, 5*time.Second, "reads after the slow one", func() bool { return srv.reqs.Load() >= slowAt+6 })

	mu.Lock()
	defer mu.Unlock()
	var burst int
	for _, at := range arrivals[slowAt:] {
		if at.Sub(replied) < period/2 {
			burst++
		}
	}
	// One catch-up read of the last slot passed is due at once; the nine
	// slots before it are skipped.
	if burst < 1 || burst > 2 {
		t.Errorf("%d reads within %v of the slow reply, want the one catch-up read", burst, period/2)
	}
	if h := d.Health(); h.Overruns < 1 || h.Errors != 0 {
		t.Errorf("after a read of %v: %d overruns, %d errors; want at least 1 overrun and no error", slow, h.Overruns, h.Errors)
	}
}
