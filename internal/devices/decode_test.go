package devices

import (
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestDecodeErrorsCounted: a NaN float is counted as a decode error and
// stored invalid (never good), while the other points of the same read
// are stored good.
func TestDecodeErrorsCounted(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc != 4 || req.addr != 0 || req.count != 3 {
			return answer(s, req, out)
		}
		// f_hz = NaN (0x7fc00000), p_kw = 42.
		return adu(out, req, 4, 6, 0x7f, 0xc0, 0, 0, 0, 42)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	prof := mustProfile(t, `
name: t-nan
kind: meter
groups: [{name: g, period: 20ms}]
points:
  - {name: f_hz, table: input, address: 0, type: float32, group: g}
  - {name: p_kw, table: input, address: 2, type: uint16, group: g}
`)
	img := procimg.New()
	d := startDevice(t, Options{Name: "nan", Address: srv.addr, Profile: prof, Timeout: 2 * time.Second}, img)
	waitFor(t, 5*time.Second, "three reads", func() bool { return d.Health().Reads >= 3 })
	h := d.Health()
	if h.DecodeErrors < 2 || h.DecodeErrors > h.Reads+1 || h.Errors != 0 {
		t.Errorf("%d decode errors in %d reads (%d errors), want one per read", h.DecodeErrors, h.Reads, h.Errors)
	}
	if v := img.Get(d.ID(), prof.Point(plant.PointP), time.Now()); !v.Good() || v.V != 42 {
		t.Errorf("p_kw = %+v, want 42, good", v)
	}
	// A value that does not decode is stored invalid, without a number.
	if v := img.Get(d.ID(), prof.Point(plant.PointF), time.Now()); v.Q != procimg.Invalid || !math.IsNaN(v.V) {
		t.Errorf("f_hz = %+v, want invalid, NaN", v)
	}
}
