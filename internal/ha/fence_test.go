package ha

import (
	"testing"
	"time"
)

func TestDeadlineIsSendTimePlusTTLLessMargin(t *testing.T) {
	sent := time.Now()
	if got := Deadline(sent, 2*time.Second, 300*time.Millisecond); got.Sub(sent) != 1700*time.Millisecond {
		t.Fatalf("deadline %v after the renewal was sent, want 1.7s", got.Sub(sent))
	}
}

func TestFenceClosedUntilExtended(t *testing.T) {
	f := NewFence()
	now := time.Now()
	if f.OpenAt(now) {
		t.Fatal("a new fence is open")
	}
	f.Extend(f.Epoch(), now.Add(time.Second))
	if !f.OpenAt(now) || !f.OpenAt(now.Add(999*time.Millisecond)) {
		t.Fatal("fence closed before its deadline")
	}
	if f.OpenAt(now.Add(time.Second)) || f.OpenAt(now.Add(time.Hour)) {
		t.Fatal("fence open at or after its deadline")
	}
	if r := f.Remaining(now.Add(400 * time.Millisecond)); r != 600*time.Millisecond {
		t.Fatalf("remaining %v, want 600ms", r)
	}
}

func TestFenceLateOldRenewalDoesNotShortenOrReopen(t *testing.T) {
	f := NewFence()
	now := time.Now()
	f.Extend(f.Epoch(), now.Add(2*time.Second))
	f.Extend(f.Epoch(), now.Add(time.Second)) // an older renewal answered late
	if !f.OpenAt(now.Add(1500 * time.Millisecond)) {
		t.Fatal("an older renewal shortened the deadline")
	}
	f.Extend(f.Epoch(), now.Add(3*time.Second))
	if !f.OpenAt(now.Add(2500 * time.Millisecond)) {
		t.Fatal("a newer renewal did not extend the deadline")
	}
}

func TestFenceCloseIsImmediate(t *testing.T) {
	f := NewFence()
	now := time.Now()
	f.Extend(f.Epoch(), now.Add(time.Hour))
	f.Close()
	if f.OpenAt(now) || f.Remaining(now) != 0 {
		t.Fatal("closed fence still open")
	}
}

// TestFencePausedLeaderFindsDeadlinePassed models a leader paused past its
// lease: the last renewal was sent before the pause, and the answer to a
// renewal sent just before the pause arrives after it. Neither reopens the
// fence after resuming.
func TestFencePausedLeaderFindsDeadlinePassed(t *testing.T) {
	const ttl, margin = 2 * time.Second, 300 * time.Millisecond
	f := NewFence()
	t0 := time.Now()
	f.Extend(f.Epoch(), Deadline(t0, ttl, margin))
	sentBeforePause := t0.Add(500 * time.Millisecond)
	resumed := t0.Add(5 * time.Second) // paused for 4.5 s, past the TTL
	f.Extend(f.Epoch(), Deadline(sentBeforePause, ttl, margin))
	if f.OpenAt(resumed) {
		t.Fatal("a leader paused past its lease may write after resuming")
	}
	// The last instant the fence was open is before the lease could end
	// on the server (counted from when the renewal arrived, >= sent).
	last := Deadline(sentBeforePause, ttl, margin)
	if !last.Before(sentBeforePause.Add(ttl)) || f.OpenAt(last) {
		t.Fatal("the fence stays open up to or past the lease's earliest end")
	}
	if !f.OpenAt(last.Add(-time.Nanosecond)) {
		t.Fatal("the fence closed before its deadline")
	}
}

// TestFenceAnswerAfterStepDownDoesNotReopen: a renewal sent while leading
// whose answer arrives after the node stepped down (closed the fence)
// does not open it again.
func TestFenceAnswerAfterStepDownDoesNotReopen(t *testing.T) {
	f := NewFence()
	now := time.Now()
	f.Extend(f.Epoch(), now.Add(time.Second))
	ep := f.Epoch() // a renewal is sent
	f.Close()       // the node steps down meanwhile
	if f.Extend(ep, now.Add(2*time.Second)) || f.OpenAt(now) {
		t.Fatal("a renewal answered after the step-down reopened the fence")
	}
	if !f.Extend(f.Epoch(), now.Add(time.Second)) || !f.OpenAt(now) {
		t.Fatal("a renewal of the new term did not open the fence")
	}
}
