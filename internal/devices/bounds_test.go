package devices

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// TestPlausibleBoundsInclusive: a value exactly at its min or max is
// good; one past either is invalid. The raw server's input register a
// reads a.
func TestPlausibleBoundsInclusive(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	prof := mustProfile(t, `
name: t-bounds
kind: meter
groups: [{name: g, period: 20ms}]
points:
  - {name: p_kw, table: input, address: 0, type: uint16, group: g}
  - {name: at_min, table: input, address: 5, type: uint16, group: g, min: 5, max: 9}
  - {name: at_max, table: input, address: 9, type: uint16, group: g, min: 0, max: 9}
  - {name: below, table: input, address: 4, type: uint16, group: g, min: 5, max: 9}
  - {name: above, table: input, address: 10, type: uint16, group: g, min: 0, max: 9}
`)
	img := procimg.New()
	d := startDevice(t, Options{Name: "bounds", Address: srv.addr, Profile: prof, Timeout: 2 * time.Second}, img)
	waitFor(t, 5*time.Second, "a read", func() bool { return d.Health().Reads > 0 })
	waitFor(t, 5*time.Second, "values", func() bool { return img.Get(d.ID(), prof.Point("at_min"), time.Now()).Q != procimg.Lost })
	for name, want := range map[string]procimg.Quality{"at_min": procimg.Good, "at_max": procimg.Good, "below": procimg.Invalid, "above": procimg.Invalid} {
		if v := img.Get(d.ID(), prof.Point(name), time.Now()); v.Q != want {
			t.Errorf("%s = %+v, want %v", name, v, want)
		}
	}
}
