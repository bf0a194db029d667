package ha

import (
	"sync"
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

	mu    sync.Mutex // serialises Open (the epoch), Extend and Close
	epoch uint64     // counts Close calls
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

// Epoch identifies the fence's current term: take it before sending a
// renewal, and pass it to Extend with the answer.
func (f *Fence) Epoch() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}

// Extend moves the deadline to d if that is later and the fence has not
// been closed since epoch was taken: an old renewal's answer arriving
// late changes nothing, and one arriving after the node stepped down does
// not open the fence again. It reports whether the deadline is now d or
// later.
func (f *Fence) Extend(epoch uint64, d time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch != f.epoch {
		return false
	}
	n := max(d.Sub(f.base).Nanoseconds(), 1)
	if f.until.Load() < n {
		f.until.Store(n)
	}
	return true
}

// Close closes the fence at once and ends its epoch: the node is no
// longer the leader.
func (f *Fence) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch++
	f.until.Store(0)
}

// Remaining is the time until the deadline at now, 0 when closed.
func (f *Fence) Remaining(now time.Time) time.Duration {
	u := f.until.Load()
	if u == 0 {
		return 0
	}
	return max(time.Duration(u-now.Sub(f.base).Nanoseconds()), 0)
}
