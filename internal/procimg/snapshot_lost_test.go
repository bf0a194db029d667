package procimg

import (
	"testing"
	"time"
)

// The control loop reads the image through Snapshot, not Get: a device
// marked lost must be lost there too, on every point and however fresh its
// values, and good again only after a new read. Other devices are untouched.
func TestSnapshotGradesLostDeviceLost(t *testing.T) {
	im := New()
	a := im.AddDevice("a", []string{"p", "soc"}, []Limits{lim, lim})
	b := im.AddDevice("b", []string{"p"}, []Limits{lim})
	t0 := time.Unix(1000, 0)
	im.Update(a, []int{0, 1}, []float64{250, 55}, t0)
	im.Update(b, []int{0}, []float64{-100}, t0)

	var s Snapshot
	im.Snapshot(t0, &s)
	for k, v := range s.Values[a] {
		if v.Q != Good {
			t.Fatalf("fresh point %d of a: %v before the loss", k, v.Q)
		}
	}

	im.SetLost(a)
	im.Snapshot(t0, &s) // same instant: age alone would grade it good
	for k, v := range s.Values[a] {
		if v.Q != Lost || v.Good() {
			t.Errorf("point %d of lost device a: %v in the snapshot, want lost", k, v.Q)
		}
	}
	if v := s.Value(a, 0); v.V != 250 {
		t.Errorf("lost device a keeps its last value for display: got %v, want 250", v.V)
	}
	if v := s.Value(b, 0); v.Q != Good {
		t.Errorf("device b graded %v by a's loss", v.Q)
	}

	im.Update(a, []int{0}, []float64{260}, t0.Add(time.Millisecond))
	im.Snapshot(t0.Add(time.Millisecond), &s)
	if v := s.Value(a, 0); v.Q != Good || v.V != 260 {
		t.Errorf("a read again: %+v, want good 260", v)
	}
	if v := s.Value(a, 1); v.Q != Good {
		t.Errorf("a read again: its other point %v, want good (the read clears the device's mark)", v.Q)
	}
}

// A zero limit disables that age check: the value is graded by the other
// limit alone, or stays good at any age.
func TestZeroLimitDisablesThatCheck(t *testing.T) {
	im := New()
	id := im.AddDevice("a", []string{"none", "stale only", "lost only"},
		[]Limits{{}, {StaleAfter: time.Second}, {LostAfter: time.Second}})
	t0 := time.Unix(1000, 0)
	im.Update(id, []int{0, 1, 2}, []float64{1, 2, 3}, t0)
	var s Snapshot
	for _, tc := range []struct {
		age  time.Duration
		want [3]Quality
	}{
		{time.Millisecond, [3]Quality{Good, Good, Good}},
		{time.Hour, [3]Quality{Good, Stale, Lost}},
	} {
		im.Snapshot(t0.Add(tc.age), &s)
		for k, want := range tc.want {
			if got := s.Value(id, k).Q; got != want {
				t.Errorf("age %v, point %q: %v, want %v", tc.age, im.Points(id)[k], got, want)
			}
			if got := im.Get(id, k, t0.Add(tc.age)).Q; got != want {
				t.Errorf("age %v, point %q: Get %v, want %v", tc.age, im.Points(id)[k], got, want)
			}
		}
	}
}
