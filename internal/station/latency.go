package station

import (
	"sync"
	"time"
)

// latency measures the fast path: from the arrival of the reading that
// triggered a cycle to the last acknowledgement of the orders it changed.
// It follows the newest fast cycle only; a cycle overtaken by the next one
// before all its acknowledgements came is not reported.
type latency struct {
	report func(time.Duration)

	mu      sync.Mutex
	next    uint64
	id      uint64 // the cycle being followed, 0 if none
	origin  time.Time
	pending int
	closed  bool
	last    time.Time
}

// begin starts a cycle and returns its id; 0 when there is nothing to follow.
func (l *latency) begin(origin time.Time) uint64 {
	if origin.IsZero() || l.report == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	l.id, l.origin, l.pending, l.closed, l.last = l.next, origin, 0, false, time.Time{}
	return l.id
}

// expect counts one more order the cycle must see acknowledged.
func (l *latency) expect(id uint64) {
	if id == 0 {
		return
	}
	l.mu.Lock()
	if id == l.id {
		l.pending++
	}
	l.mu.Unlock()
}

// sealed says the cycle has handed out all its orders.
func (l *latency) sealed(id uint64) {
	if id == 0 {
		return
	}
	l.mu.Lock()
	if id == l.id {
		l.closed = true
		l.finishLocked()
	}
	l.mu.Unlock()
}

// acked records one acknowledgement of an order of cycle id at time at.
func (l *latency) acked(id uint64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id != l.id || l.id == 0 {
		return
	}
	l.pending--
	if at.After(l.last) {
		l.last = at
	}
	l.finishLocked()
}

func (l *latency) finishLocked() {
	if !l.closed || l.pending > 0 {
		return
	}
	if !l.last.IsZero() {
		l.report(l.last.Sub(l.origin))
	}
	l.id = 0
}
