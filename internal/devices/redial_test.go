package devices

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"github.com/emsd/emsd/internal/procimg"
)

// twoGroups has two groups whose blocks have the same size, so a reply
// given to the wrong request would decode without a length error; the
// server answers input register a with value a, so a wrong reply shows.
const twoGroups = `
name: t-two
kind: meter
groups:
  - {name: a, period: 20ms}
  - {name: b, period: 30ms}
points:
  - {name: p_kw, table: input, address: 0, type: uint16, group: a}
  - {name: a1, table: input, address: 1, type: uint16, group: a}
  - {name: f_hz, table: input, address: 100, type: uint16, group: b}
  - {name: b1, table: input, address: 101, type: uint16, group: b}
`

// lateOnce answers request number late after delay, and every other
// request at once.
func lateOnce(late int64, delay time.Duration) rawHandler {
	return func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.seq == late {
			time.Sleep(delay)
		}
		return answer(s, req, out)
	}
}

// checkValues watches both groups and counts reads whose values are not
// the registers the request asked for.
type checkValues struct {
	checks, wrong atomic.Int64
}

// watchUntil checks every read of d until srv has served n requests, then
// settle longer, and returns the counts.
func watchUntil(t *testing.T, d *Device, img *procimg.Image, srv *rawServer, n int64, settle time.Duration) *checkValues {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	chk := &checkValues{}
	watched := make(chan struct{})
	go func() { chk.watch(ctx, d, img); close(watched) }()
	waitFor(t, 5*time.Second, fmt.Sprintf("%d requests", n), func() bool { return srv.reqs.Load() >= n })
	time.Sleep(settle)
	cancel()
	<-watched
	return chk
}

func (c *checkValues) watch(ctx context.Context, d *Device, img *procimg.Image) {
	p := d.Profile()
	want := map[string][]int{"a": {p.Point("p_kw"), p.Point("a1")}, "b": {p.Point("f_hz"), p.Point("b1")}}
	addr := func(i int) float64 { return float64(p.Points[i].Address) }
	var wg sync.WaitGroup
	for g, pts := range want {
		ch := d.Subscribe(g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-ch:
				}
				for _, i := range pts {
					c.checks.Add(1)
					// A refused read (an exception answer) has no value.
					if v := img.Get(d.ID(), i, time.Now()); v.V != addr(i) && v.Q != procimg.Refused {
						c.wrong.Add(1)
					}
				}
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
}

// TestLateReplyRedials is the regression test for goburrow issue #64:
// after a read timeout the late reply must never be taken as the answer
// to a later request. The server answers the 5th request after twice the
// client timeout, then normally.
func TestLateReplyRedials(t *testing.T) {
	const timeout = 150 * time.Millisecond
	srv, err := newRawServer("127.0.0.1:0", lateOnce(5, 2*timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	rec := &recorder{}
	d := startDevice(t, Options{
		Name: "late", Address: srv.addr, UnitID: 7, Profile: mustProfile(t, twoGroups),
		Timeout: timeout, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		LostAfter: 2 * time.Second, Observer: rec,
	}, img)
	// Run well past the late reply (at ~2*timeout after request 5).
	chk := watchUntil(t, d, img, srv, 40, 100*time.Millisecond)

	h := d.Health()
	errs := rec.errs()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "timeout") {
		t.Fatalf("want exactly one timeout error, got %v", errs)
	}
	if h.Errors != 1 {
		t.Errorf("Health.Errors = %d, want 1", h.Errors)
	}
	if h.Reconnects != 1 || srv.conns.Load() != 2 {
		t.Errorf("want one redial: Reconnects = %d, server connections = %d", h.Reconnects, srv.conns.Load())
	}
	if chk.wrong.Load() != 0 || chk.checks.Load() < 20 {
		t.Errorf("%d of %d checked values were not the registers requested", chk.wrong.Load(), chk.checks.Load())
	}
	// Every successful read after the timeout came after it, and there were many.
	var after int
	for _, x := range rec.list() {
		if x.err == nil && x.at.After(h.LastErrAt) {
			after++
		}
	}
	if after < 20 {
		t.Errorf("only %d good reads after the timeout", after)
	}
	if h.State != Online {
		t.Errorf("state %v, want online", h.State)
	}
}

// TestBareGoburrowStaysOutOfStep shows that the server above reproduces
// issue #64 with goburrow used naively (no close after an error): every
// read after the timeout receives the previous request's reply. This is
// the behaviour the device layer must never show.
func TestBareGoburrowStaysOutOfStep(t *testing.T) {
	const timeout = 100 * time.Millisecond
	srv, err := newRawServer("127.0.0.1:0", lateOnce(1, 2*timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := modbus.NewTCPClientHandler(srv.addr)
	h.Timeout = timeout
	h.IdleTimeout = 0
	c := modbus.NewClient(h)
	defer h.Close()
	if _, err := c.ReadInputRegisters(0, 2); err == nil {
		t.Fatal("first read should time out")
	}
	time.Sleep(2 * timeout) // the late reply is now waiting in the socket
	for i := range 3 {
		_, err := c.ReadInputRegisters(uint16(100*(i+1)), 2)
		if err == nil || !strings.Contains(err.Error(), "transaction id") {
			t.Fatalf("read %d: want a transaction id mismatch, got %v", i, err)
		}
	}
}

// garbage answers chosen requests with broken frames.
func garbage(s *rawServer, req *rawReq, out []byte) []byte {
	switch req.seq {
	case 3: // zero length in the header
		return append(out, byte(req.tid>>8), byte(req.tid), 0, 0, 0, 0, req.unit)
	case 6: // a function code that is neither the request's nor its exception
		return adu(out, req, 5, 0, 1, 0xff, 0)
	case 9: // exception: illegal data address
		return adu(out, req, req.fc|0x80, 2)
	case 12: // a well-formed reply with fewer registers than asked for
		return adu(out, req, req.fc, 2, 0, 0)
	case 15: // someone else's transaction id
		req.tid += 1000
		return answer(s, req, out)
	case 18: // length beyond the Modbus maximum
		return append(out, byte(req.tid>>8), byte(req.tid), 0, 0, 0x01, 0x00, req.unit, req.fc)
	case 21: // a frame cut short by the connection closing
		req.c.Write(adu(out, req, req.fc, 4, 0, 0, 0, 0)[:10]) // 3 of 6 PDU bytes
		req.c.Close()
		return nil
	}
	return answer(s, req, out)
}

// TestGarbageFrames checks that every kind of broken reply is a clear,
// counted error followed by a redial (an exception answer is counted but
// keeps the connection), and that the device keeps reading correct values.
func TestGarbageFrames(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", garbage)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	rec := &recorder{}
	d := startDevice(t, Options{
		Name: "junk", Address: srv.addr, Profile: mustProfile(t, twoGroups),
		Timeout: 300 * time.Millisecond, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Observer: rec,
	}, img)
	chk := watchUntil(t, d, img, srv, 40, 50*time.Millisecond)

	want := []string{
		"must not be zero",
		"function code 5",
		"illegal data address",
		"carries 2 bytes",
		"transaction id",
		"must not greater than",
		"EOF",
	}
	errs := rec.errs()
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(errs), len(want), errs)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want it to mention %q", i, errs[i], w)
		}
	}
	// The exception is the device's answer, not a link fault: counted
	// apart, and the connection stays.
	h := d.Health()
	links := len(want) - 1
	if h.Errors != uint64(links) || h.Reconnects != uint64(links) || srv.conns.Load() != int64(links+1) || h.Exceptions != 1 {
		t.Errorf("errors %d, reconnects %d, server connections %d, exceptions %d; want %d, %d, %d, 1",
			h.Errors, h.Reconnects, srv.conns.Load(), h.Exceptions, links, links, links+1)
	}
	if !strings.Contains(h.LastException, "illegal data address") {
		t.Errorf("last exception %q", h.LastException)
	}
	if chk.wrong.Load() != 0 || chk.checks.Load() < 20 {
		t.Errorf("%d of %d checked values wrong", chk.wrong.Load(), chk.checks.Load())
	}
	if h.State != Online {
		t.Errorf("state %v, want online", h.State)
	}
}
