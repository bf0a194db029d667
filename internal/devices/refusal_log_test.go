package devices

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/emsd/emsd/internal/procimg"
)

// TestRefusalLoggedOncePerEpisode: a block the device keeps refusing is
// warned about once, not on every poll; when it answers again that is
// logged once, and a new refusal is warned about again.
func TestRefusalLoggedOncePerEpisode(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if refuse.Load() && req.fc == 4 && req.addr <= 5 && 5 < req.addr+req.count {
			return adu(out, req, req.fc|0x80, 2)
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	core, logs := observer.New(zap.InfoLevel)
	d, err := New(Options{Name: "b", Address: srv.addr, Profile: mustProfile(t, plausDoc)}, procimg.New(), zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func(msg string) int { return logs.FilterMessage(msg).Len() }
	const refused, again = "device refuses a read block; its points are marked refused", "device answers a read block again"

	waitFor(t, 5*time.Second, "ten refusals", func() bool { return d.Health().Exceptions >= 10 })
	if n := count(refused); n != 1 {
		t.Errorf("%d warnings in %d refusals, want 1", n, d.Health().Exceptions)
	}
	refuse.Store(false)
	waitFor(t, 5*time.Second, "the block answered", func() bool { return count(again) >= 1 })
	e := d.Health().Exceptions
	refuse.Store(true)
	waitFor(t, 5*time.Second, "ten more refusals", func() bool { return d.Health().Exceptions >= e+10 })
	if n, m := count(refused), count(again); n != 2 || m != 1 {
		t.Errorf("after refused, answered, refused: %d warnings and %d recoveries logged, want 2 and 1", n, m)
	}
}
