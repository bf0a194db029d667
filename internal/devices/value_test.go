package devices

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// TestValueByIndex: Value grades the image's value of a profile point by
// index (the first and the last included); an index outside the profile
// (-1 for a point the profile lacks, or one past the end) is lost.
func TestValueByIndex(t *testing.T) {
	prof := builtinProfile(t, "sim-meter")
	img := procimg.New()
	d, err := New(Options{Name: "m", Address: "127.0.0.1:502", Profile: prof}, img, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(prof.Points)
	now := time.Now()
	img.Update(d.ID(), []int{0, n - 1}, []float64{7, 9}, now)
	if v := d.Value(0, now); !v.Good() || v.V != 7 {
		t.Errorf("Value(0) = %+v, want 7, good", v)
	}
	if v := d.Value(n-1, now); !v.Good() || v.V != 9 {
		t.Errorf("Value(last) = %+v, want 9, good", v)
	}
	for _, i := range []int{-1, n} {
		if v := d.Value(i, now); v.Q != procimg.Lost {
			t.Errorf("Value(%d) of %d points = %+v, want lost", i, n, v)
		}
	}
}
