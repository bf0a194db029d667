package devices

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// sfFirst lists its SunSpec scale factor as the profile's first point
// (index 0), used by a read point and a writable one.
const sfFirst = `
name: t-sf-first
kind: meter
groups: [{name: g, period: 20ms}]
points:
  - {name: w_sf, table: input, address: 0, type: int16, group: g}
  - {name: p_kw, table: input, address: 1, type: int16, scale_point: w_sf, group: g}
  - {name: p_lim, table: holding, address: 10, type: uint16, scale_point: w_sf, writable: true}
`

// TestScaleFactorFirstPoint: a scale factor at point index 0 scales reads
// and writes like any other (SunSpec maps often list it first).
func TestScaleFactorFirstPoint(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc != 4 || req.addr != 0 || req.count != 2 {
			return answer(s, req, out)
		}
		// w_sf = -2 (0xfffe), p_kw = -12345 raw (0xcfc7).
		return adu(out, req, 4, 4, 0xff, 0xfe, 0xcf, 0xc7)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	prof := mustProfile(t, sfFirst)
	d := startDevice(t, Options{Name: "sf", Address: srv.addr, Profile: prof, Timeout: 2 * time.Second}, img)
	waitFor(t, 5*time.Second, "a read", func() bool { return img.Get(d.ID(), prof.Point(plant.PointP), time.Now()).Good() })
	if v := img.Get(d.ID(), prof.Point(plant.PointP), time.Now()); math.Abs(v.V-(-123.45)) > 1e-9 {
		t.Errorf("p_kw = %v, want -123.45 (raw -12345 at sf -2)", v.V)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.Write(ctx, PointValue{"p_lim", 5.5}); err != nil {
		t.Fatal(err)
	}
	if got := srv.holdingAt(10); got != 550 {
		t.Errorf("p_lim 5.5 at sf -2 wrote %d, want 550", got)
	}
}
