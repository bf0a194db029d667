package devices

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestLostDeviceMarksValuesLost: when the device goes Lost, every value
// is graded lost at once, even one whose own age limit (three periods of
// a 1 s group) is far off; once reads resume the values are good again.
func TestLostDeviceMarksValuesLost(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.addr
	prof := mustProfile(t, `
name: t-lost
kind: meter
groups: [{name: fast, period: 50ms}, {name: slow, period: 1s}]
points:
  - {name: p_kw, table: input, address: 0, type: uint16, group: fast}
  - {name: e_import_kwh, table: input, address: 100, type: uint16, group: slow}
`)
	img := procimg.New()
	d := startDevice(t, Options{Name: "lost", Address: addr, Profile: prof, Timeout: time.Second,
		LostAfter: 300 * time.Millisecond, BackoffMin: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, img)
	slow := prof.Point(plant.PointEImport)
	waitFor(t, 5*time.Second, "online", func() bool { return d.Health().State == Online })
	if v := img.Get(d.ID(), slow, time.Now()); !v.Good() || v.V != 100 {
		t.Fatalf("slow point %+v, want 100, good", v)
	}
	srv.Close()
	waitFor(t, 5*time.Second, "lost", func() bool { return d.Health().State == Lost })
	now := time.Now()
	v := img.Get(d.ID(), slow, now)
	if age := now.Sub(v.At); age >= 3*time.Second {
		t.Fatalf("slow point is %v old: the test needs it younger than its own 3 s limit", age)
	}
	if v.Q != procimg.Lost {
		t.Errorf("slow point of a lost device: %v, want lost", v.Q)
	}

	// Back: the device and its values recover.
	srv2, err := newRawServer(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	waitFor(t, 5*time.Second, "online again", func() bool { return d.Health().State == Online })
	waitFor(t, 5*time.Second, "values good again", func() bool {
		return img.Get(d.ID(), slow, time.Now()).Good() && img.Get(d.ID(), prof.Point(plant.PointP), time.Now()).Good()
	})
}
