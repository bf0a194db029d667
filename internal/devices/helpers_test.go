package devices

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/procimg"
)

// mustProfile parses a profile document or fails the test.
func mustProfile(t testing.TB, doc string) *Profile {
	t.Helper()
	p, err := ParseProfile([]byte(doc), t.Name())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// builtinProfile returns one embedded profile.
func builtinProfile(t testing.TB, name string) *Profile {
	t.Helper()
	ps, err := LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	p := ps[name]
	if p == nil {
		t.Fatalf("no builtin profile %q", name)
	}
	return p
}

// txRecord is one transaction seen by a recorder.
type txRecord struct {
	device string
	op     Op
	took   time.Duration
	err    error
	at     time.Time
}

// recorder is an Observer that keeps every transaction.
type recorder struct {
	mu  sync.Mutex
	txs []txRecord
}

func (r *recorder) Transaction(device string, op Op, took time.Duration, err error) {
	r.mu.Lock()
	r.txs = append(r.txs, txRecord{device, op, took, err, time.Now()})
	r.mu.Unlock()
}

// list returns the transactions recorded so far.
func (r *recorder) list() []txRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]txRecord(nil), r.txs...)
}

// errs returns the errors recorded so far.
func (r *recorder) errs() []error {
	var out []error
	for _, x := range r.list() {
		if x.err != nil {
			out = append(out, x.err)
		}
	}
	return out
}

// startDevice creates a device and runs it until the test ends.
func startDevice(t testing.TB, o Options, img *procimg.Image) *Device {
	t.Helper()
	var log *zap.Logger
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		log = zaptest.NewLogger(tt)
	}
	d, err := New(o, img, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: Run did not return", o.Name)
		}
	})
	return d
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
