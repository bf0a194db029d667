package devices

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// TestBackoffSchedule: the wait before redial attempt n is BackoffMin
// doubled n-1 times, capped at BackoffMax, drawn from [b/2, b]; with
// nanosecond bounds every value of the jitter range must turn up.
func TestBackoffSchedule(t *testing.T) {
	prof := builtinProfile(t, "sim-meter")
	for _, c := range []struct {
		min, max time.Duration
		b        []time.Duration // b for n = 1, 2, ...
	}{
		{100 * time.Millisecond, time.Second, []time.Duration{
			100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
			800 * time.Millisecond, time.Second, time.Second, time.Second}},
		{300 * time.Millisecond, time.Second, []time.Duration{
			300 * time.Millisecond, 600 * time.Millisecond, time.Second, time.Second}},
		{time.Second, time.Second, []time.Duration{time.Second, time.Second, time.Second}},
		{2, 2, []time.Duration{2, 2}},
		{2, 8, []time.Duration{2, 4, 8, 8}},
		{1, 3, []time.Duration{1, 2, 3, 3}},
	} {
		d, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: prof, BackoffMin: c.min, BackoffMax: c.max}, procimg.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range c.b {
			n := i + 1
			lo := b / 2
			seen := map[time.Duration]bool{}
			for range 200 {
				w := d.backoff(n)
				if w < lo || w > b {
					t.Fatalf("backoff %v..%v, attempt %d: %v, want within [%v, %v]", c.min, c.max, n, w, lo, b)
				}
				seen[w] = true
			}
			if b <= 8 && len(seen) != int(b-lo+1) {
				t.Errorf("backoff %v..%v, attempt %d: drew %v, want every value in [%v, %v]", c.min, c.max, n, seen, lo, b)
			}
		}
	}
	// A long outage (fails counting up for hours) neither overflows nor
	// waits beyond the cap.
	d, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: prof}, procimg.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := d.backoff(1 << 20); w < DefaultBackoffMax/2 || w > DefaultBackoffMax {
		t.Errorf("backoff after a long outage: %v", w)
	}
}

// TestRedialBacksOff: against a refused port, the first failure redials
// at once and the next ones wait out BackoffMin, then twice it.
func TestRedialBacksOff(t *testing.T) {
	const bmin = time.Second
	rec := &recorder{}
	d := startDevice(t, Options{Name: "refused", Address: freeAddr(t), Profile: builtinProfile(t, "sim-meter"),
		BackoffMin: bmin, BackoffMax: 10 * bmin, Observer: rec}, procimg.New())
	waitFor(t, 10*time.Second, "three failed dials", func() bool { return len(rec.errs()) >= 3 })
	txs := rec.list()
	if h := d.Health(); h.Connected || h.Errors < 3 {
		t.Errorf("health %+v, want disconnected with failed dials", h)
	}
	// Timers never fire early, so the lower bounds are exact; the upper
	// bounds leave room for a loaded machine but not for the next step.
	if gap := txs[1].at.Sub(txs[0].at); gap > bmin/2-100*time.Millisecond {
		t.Errorf("second dial %v after the first, want at once", gap)
	}
	if gap := txs[2].at.Sub(txs[1].at); gap < bmin/2 || gap > 2*bmin-100*time.Millisecond {
		t.Errorf("third dial %v after the second, want within [%v, %v]", gap, bmin/2, bmin)
	}
}
