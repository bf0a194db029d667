package devices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestWriteSplitsAtFC16Limit: contiguous points merge into one FC16
// request of at most MaxWriteRegs registers; one more register starts a
// second request, and every value lands in its register.
func TestWriteSplitsAtFC16Limit(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("name: t-wide\nkind: meter\ngroups: [{name: g, period: 1s}]\npoints:\n")
	doc.WriteString("  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n")
	const n = MaxWriteRegs + 1
	for i := range n {
		fmt.Fprintf(&doc, "  - {name: w%d, table: holding, address: %d, type: uint16, writable: true}\n", i, i)
	}
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.logging = true
	d := startDevice(t, Options{Name: "wide", Address: srv.addr, Profile: mustProfile(t, doc.String()), Timeout: 2 * time.Second}, procimg.New())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "online", func() bool { return d.Health().State == Online })

	fc16 := func() (out []string) {
		for _, r := range srv.requests() {
			if r.fc == 16 {
				out = append(out, fmt.Sprintf("%d+%d", r.addr, r.count))
			}
		}
		return out
	}
	vals := func(k, add int) []PointValue {
		var out []PointValue
		// Listed backwards: the order of the call does not matter.
		for i := k - 1; i >= 0; i-- {
			out = append(out, PointValue{fmt.Sprintf("w%d", i), float64(i + add)})
		}
		return out
	}
	if _, err := d.Write(ctx, vals(MaxWriteRegs, 1000)...); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fc16(), " "); got != "0+123" {
		t.Errorf("write of %d contiguous registers: requests %s, want one 0+123", MaxWriteRegs, got)
	}
	if _, err := d.Write(ctx, vals(n, 2000)...); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fc16(), " "); got != "0+123 0+123 123+1" {
		t.Errorf("write of %d contiguous registers: requests %s, want 0+123 then 123+1", n, got)
	}
	for i := range n {
		if got := srv.holdingAt(uint16(i)); got != uint16(2000+i) {
			t.Fatalf("holding %d = %d, want %d", i, got, 2000+i)
		}
	}
	if h := d.Health(); h.Writes != 3 || h.Errors != 0 {
		t.Errorf("writes %d errors %d, want 3 and 0", h.Writes, h.Errors)
	}
}

// TestWriteInFlightWhenRunStops: Run finishes the transaction on the
// wire before it returns, and Write reports the device's answer, not
// ErrStopped; a write after Run returned is ErrStopped.
func TestWriteInFlightWhenRunStops(t *testing.T) {
	onWire := make(chan struct{}, 1)
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc == 16 {
			onWire <- struct{}{}
			time.Sleep(50 * time.Millisecond)
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	prof := mustProfile(t, slowPCS)
	for i := range 3 {
		d, err := New(Options{Name: "stopping", Address: srv.addr, Profile: prof, Timeout: 2 * time.Second}, procimg.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { d.Run(ctx); close(ran) }()
		type result struct {
			ack time.Duration
			err error
		}
		res := make(chan result, 1)
		go func() {
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ack, err := d.Write(wctx, PointValue{plant.PointRun, float64(i + 1)})
			res <- result{ack, err}
		}()
		<-onWire
		stop()
		r := <-res
		<-ran
		if r.err != nil || r.ack <= 0 {
			t.Fatalf("round %d: write on the wire when Run stopped: %v, %v; want the device's acknowledgement", i, r.ack, r.err)
		}
		if got := srv.holdingAt(4); got != uint16(i+1) {
			t.Fatalf("round %d: run register %d, want %d", i, got, i+1)
		}
		if _, err := d.Write(context.Background(), PointValue{plant.PointRun, 0}); !errors.Is(err, ErrStopped) {
			t.Fatalf("round %d: write after Run returned: %v, want ErrStopped", i, err)
		}
	}
}
