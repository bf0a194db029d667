package ha

import (
	"sync/atomic"
	"time"
)

// Deadline is the last instant a leader may write after a lease renewal
// that was sent at sent and granted ttl: the server counts the lease from
// when it received the renewal, which is no earlier than sent, so
// sent+ttl is never later than the lease's real end. margin covers the
// time between the check and the write reaching the device.
func Deadline(sent time.Time, ttl, margin time.Duration) time.Time {
	return sent.Add(ttl - margin)
}

// Fence is the leader's local write permission: open until a deadline
// derived from its lease (see [Deadline]), closed when it is not the
// leader. Open is one atomic load and a monotonic clock read, cheap
// enough for every write. The deadline lives on the monotonic clock, so
// a process that was paused (SIGSTOP, a VM stall) finds it passed when it
// resumes, and a wall-clock step changes nothing.
type Fence struct {
	base  time.Time    // origin of the monotonic offsets
	until atomic.Int64 // deadline as nanoseconds since base; 0: closed
}

// NewFence returns a closed fence.
func NewFence() *Fence { return &Fence{base: time.Now()} }

// Open reports whether a write may start now.
func (f *Fence) Open() bool { return f.OpenAt(time.Now()) }

// OpenAt reports whether a write may start at now.
func (f *Fence) OpenAt(now time.Time) bool {
	u := f.until.Load()
	return u != 0 && now.Sub(f.base).Nanoseconds() < u
}

// Extend moves the deadline to d if that is later; an earlier d is
// ignored (an old renewal's answer arriving late changes nothing).
func (f *Fence) Extend(d time.Time) {
	n := max(d.Sub(f.base).Nanoseconds(), 1)
	for {
		u := f.until.Load()
		if u >= n || f.until.CompareAndSwap(u, n) {
			return
		}
	}
}

// Close closes the fence at once: the node is no longer the leader.
func (f *Fence) Close() { f.until.Store(0) }

// Remaining is the time until the deadline at now, 0 when closed.
func (f *Fence) Remaining(now time.Time) time.Duration {
	u := f.until.Load()
	if u == 0 {
		return 0
	}
	return max(time.Duration(u-now.Sub(f.base).Nanoseconds()), 0)
}
