package devices

import (
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestNewOptionRanges: zero means the default, a negative duration is
// refused, and the documented edges (one stale period, a backoff range
// of one value) are accepted.
func TestNewOptionRanges(t *testing.T) {
	img := procimg.New()
	prof := builtinProfile(t, "sim-bms")
	ok := Options{Name: "b", Address: "127.0.0.1:502", Profile: prof}
	for _, c := range []struct {
		mod  func(*Options)
		want string // "" when New must accept the options
	}{
		{func(o *Options) {}, ""},
		{func(o *Options) { o.Timeout = -time.Millisecond }, "timeout"},
		{func(o *Options) { o.BackoffMin = -time.Millisecond }, "backoff"},
		{func(o *Options) { o.LostAfter = -time.Millisecond }, "lost-after"},
		{func(o *Options) { o.StalePeriods = 1 }, ""},
		{func(o *Options) { o.StalePeriods = 0.999 }, "stale"},
		{func(o *Options) { o.BackoffMin, o.BackoffMax = time.Second, time.Second }, ""},
		{func(o *Options) { o.BackoffMin, o.BackoffMax = time.Second, time.Second-1 }, "backoff"},
		// A minimum above the default maximum raises the default maximum.
		{func(o *Options) { o.BackoffMin = 3 * time.Second }, ""},
	} {
		o := ok
		c.mod(&o)
		_, err := New(o, img, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("New(%+v): %v", o, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("New(%+v) = %v, want an error about %q", o, err, c.want)
		}
	}
}

// TestNewValidatesProfileBuiltInCode: a profile built as a Go value (not
// parsed) is validated by New, which refuses a broken one and fills in
// the defaults of a good one.
func TestNewValidatesProfileBuiltInCode(t *testing.T) {
	img := procimg.New()
	bad := &Profile{Name: "code", Kind: plant.KindMeter, Groups: []Group{{Name: "g", Period: time.Second}},
		Points: []Point{{Name: plant.PointP, Table: Input, Type: "int8", Group: "g"}}}
	if _, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: bad}, img, nil); err == nil ||
		!strings.Contains(err.Error(), "device m") || !strings.Contains(err.Error(), "type") {
		t.Errorf("New with an invalid profile: %v, want an error naming the device and the type", err)
	}
	good := &Profile{Name: "code", Kind: plant.KindMeter, Groups: []Group{{Name: "g", Period: time.Second}},
		Points: []Point{{Name: plant.PointP, Table: Input, Type: Int32, Group: "g"}}}
	if _, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: good}, img, nil); err != nil {
		t.Fatal(err)
	}
	if good.Point(plant.PointP) != 0 || good.WordOrder != HighFirst || good.Points[0].WordOrder != HighFirst {
		t.Errorf("New did not validate the profile: index %d, word orders %q %q",
			good.Point(plant.PointP), good.WordOrder, good.Points[0].WordOrder)
	}
}

// TestOpString: the transaction kind names that logs and metrics carry.
func TestOpString(t *testing.T) {
	if Read.String() != "read" || Write.String() != "write" {
		t.Errorf("Read %q, Write %q", Read, Write)
	}
}

// TestPointLimits: each point is graded by its own group's period (stale
// after StalePeriods of them, never under MinStale; lost after LostAfter
// or the stale limit, whichever is longer), and a writable point, in no
// group, by the slowest group.
func TestPointLimits(t *testing.T) {
	prof := mustProfile(t, `
name: t-limits
kind: meter
groups:
  - {name: fast, period: 20ms}
  - {name: mid, period: 50ms}
  - {name: slow, period: 1s}
points:
  - {name: f_hz, table: input, address: 0, type: uint16, group: fast}
  - {name: p_kw, table: input, address: 1, type: uint16, group: mid}
  - {name: e_import_kwh, table: input, address: 2, type: uint16, group: slow}
  - {name: limit, table: holding, address: 0, type: uint16, writable: true}
`)
	img := procimg.New()
	d, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: prof}, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	idx := []int{0, 1, 2, 3}
	img.Update(d.ID(), idx, []float64{1, 2, 3, 4}, t0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, c := range []struct {
		point string
		at    time.Time
		want  procimg.Quality
	}{
		// 3 × 20 ms is under MinStale.
		{plant.PointF, ms(95), procimg.Good},
		{plant.PointF, ms(105), procimg.Stale},
		{plant.PointF, ms(1995), procimg.Stale},
		{plant.PointF, ms(2005), procimg.Lost},
		// 3 × 50 ms.
		{plant.PointP, ms(145), procimg.Good},
		{plant.PointP, ms(155), procimg.Stale},
		// 3 × 1 s, longer than LostAfter (2 s): never stale, lost after 3 s.
		{plant.PointEImport, ms(2995), procimg.Good},
		{plant.PointEImport, ms(3005), procimg.Lost},
		{"limit", ms(2995), procimg.Good},
		{"limit", ms(3005), procimg.Lost},
	} {
		if v := img.Get(d.ID(), prof.Point(c.point), c.at); v.Q != c.want {
			t.Errorf("%s %v after the read: quality %v, want %v", c.point, c.at.Sub(t0), v.Q, c.want)
		}
	}
}
