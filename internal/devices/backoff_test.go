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
