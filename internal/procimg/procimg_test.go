package procimg

import (
	"math"
	"testing"
	"time"
)

var lim = Limits{StaleAfter: 100 * time.Millisecond, LostAfter: time.Second}

func TestQualityFollowsAge(t *testing.T) {
	im := New()
	id := im.AddDevice("m", []string{"p", "f"}, []Limits{lim, {StaleAfter: 30 * time.Millisecond, LostAfter: 60 * time.Millisecond}})
	t0 := time.Unix(1000, 0)
	if v := im.Get(id, 0, t0); v.Q != Lost || v.Good() {
		t.Fatalf("never read: want lost, got %v", v.Q)
	}
	if age := im.Get(id, 0, t0).Age(t0); age < time.Hour {
		t.Fatalf("never read: age %v, want effectively infinite", age)
	}
	im.Update(id, []int{0, 1}, []float64{5, 50}, t0)
	cases := []struct {
		at    time.Duration
		point int
		want  Quality
	}{
		{0, 0, Good}, {100 * time.Millisecond, 0, Good}, {101 * time.Millisecond, 0, Stale},
		{time.Second, 0, Stale}, {time.Second + 1, 0, Lost},
		// The fast point has its own, tighter limits.
		{30 * time.Millisecond, 1, Good}, {31 * time.Millisecond, 1, Stale}, {61 * time.Millisecond, 1, Lost},
	}
	for _, c := range cases {
		v := im.Get(id, c.point, t0.Add(c.at))
		if v.Q != c.want {
			t.Errorf("point %d at +%v: want %v, got %v", c.point, c.at, c.want, v.Q)
		}
		if v.V != []float64{5, 50}[c.point] || v.Age(t0.Add(c.at)) != c.at {
			t.Errorf("point %d at +%v: value %v age %v", c.point, c.at, v.V, v.Age(t0.Add(c.at)))
		}
	}
}

func TestLostDeviceIsLostUntilReadAgain(t *testing.T) {
	im := New()
	a := im.AddDevice("a", []string{"x"}, []Limits{lim})
	b := im.AddDevice("b", []string{"x"}, []Limits{lim})
	t0 := time.Unix(1000, 0)
	im.Update(a, []int{0}, []float64{1}, t0)
	im.Update(b, []int{0}, []float64{2}, t0)
	im.SetLost(a)
	if v := im.Get(a, 0, t0); v.Q != Lost || v.V != 1 {
		t.Fatalf("lost device: want lost with its last value kept, got %+v", v)
	}
	if v := im.Get(b, 0, t0); v.Q != Good {
		t.Fatalf("another device's loss touched b: %v", v.Q)
	}
	im.Update(a, []int{0}, []float64{3}, t0.Add(time.Millisecond))
	if v := im.Get(a, 0, t0.Add(time.Millisecond)); v.Q != Good || v.V != 3 {
		t.Fatalf("read again: want good 3, got %+v", v)
	}
}

func TestSnapshotIsConsistentAndReusesStorage(t *testing.T) {
	im := New()
	id := im.AddDevice("a", []string{"x", "y"}, []Limits{lim, lim})
	t0 := time.Unix(1000, 0)
	im.Update(id, []int{0, 1}, []float64{1, 2}, t0)
	var s Snapshot
	im.Snapshot(t0.Add(50*time.Millisecond), &s)
	if s.Value(id, 0).V != 1 || s.Value(id, 1).Q != Good || !s.At.Equal(t0.Add(50*time.Millisecond)) {
		t.Fatalf("snapshot: %+v", s)
	}
	// Later updates do not change a snapshot already taken.
	im.Update(id, []int{0}, []float64{9}, t0.Add(60*time.Millisecond))
	if s.Value(id, 0).V != 1 {
		t.Fatal("snapshot changed after an update")
	}
	im.Snapshot(t0.Add(500*time.Millisecond), &s)
	if s.Value(id, 0).V != 9 || s.Value(id, 0).Q != Stale || s.Value(id, 1).Q != Stale {
		t.Fatalf("second snapshot: %+v", s.Values)
	}
	allocs := testing.AllocsPerRun(100, func() { im.Snapshot(t0, &s) })
	if allocs != 0 {
		t.Errorf("snapshot into a reused Snapshot allocates %v times", allocs)
	}
}

func TestAgeOfNeverReadValueDoesNotOverflow(t *testing.T) {
	if a := (Value{}).Age(time.Now()); a != math.MaxInt64 {
		t.Fatalf("age %v", a)
	}
}

func BenchmarkSnapshot900Devices(b *testing.B) {
	im := New()
	names := make([]string, 16)
	lims := make([]Limits, 16)
	for i := range names {
		names[i], lims[i] = "p", lim
	}
	t0 := time.Now()
	for range 1800 {
		id := im.AddDevice("d", names, lims)
		im.Update(id, []int{0, 1, 2}, []float64{1, 2, 3}, t0)
	}
	var s Snapshot
	b.ReportAllocs()
	for b.Loop() {
		im.Snapshot(t0, &s)
	}
}

// TestVerdictsHoldUntilTheNextAnswer: an invalid or refused value stays
// so while fresh (it does not turn stale or good by age), turns lost past
// LostAfter or with its device, and a good answer replaces it.
func TestVerdictsHoldUntilTheNextAnswer(t *testing.T) {
	im := New()
	id := im.AddDevice("d", []string{"a", "b", "c"}, []Limits{lim, lim, lim})
	t0 := time.Unix(1000, 0)
	im.Update(id, []int{0, 1, 2}, []float64{1, 2, 3}, t0)
	im.Mark(id, []int{0}, []float64{1e30}, Invalid, t0)
	im.Mark(id, []int{1}, nil, Refused, t0)
	for _, c := range []struct {
		at   time.Duration
		i    int
		want Quality
	}{
		{0, 0, Invalid}, {0, 1, Refused}, {0, 2, Good},
		{500 * time.Millisecond, 0, Invalid}, {500 * time.Millisecond, 1, Refused}, {500 * time.Millisecond, 2, Stale},
		{time.Second + 1, 0, Lost}, {time.Second + 1, 1, Lost},
	} {
		if v := im.Get(id, c.i, t0.Add(c.at)); v.Q != c.want || v.Good() != (c.want == Good) {
			t.Errorf("point %d at +%v: %v, want %v", c.i, c.at, v.Q, c.want)
		}
	}
	if v := im.Get(id, 0, t0); v.V != 1e30 {
		t.Errorf("an invalid value keeps what was read: %v", v.V)
	}
	if v := im.Get(id, 1, t0); !math.IsNaN(v.V) {
		t.Errorf("a refused value is NaN, got %v", v.V)
	}
	var s Snapshot
	im.Snapshot(t0, &s)
	if s.Value(id, 0).Q != Invalid || s.Value(id, 1).Q != Refused || !s.Value(id, 2).Good() {
		t.Errorf("snapshot qualities %v %v %v", s.Value(id, 0).Q, s.Value(id, 1).Q, s.Value(id, 2).Q)
	}
	im.SetLost(id)
	if v := im.Get(id, 0, t0); v.Q != Lost {
		t.Errorf("invalid on a lost device: %v, want lost", v.Q)
	}
	im.Mark(id, []int{1}, nil, Refused, t0)
	if v := im.Get(id, 0, t0); v.Q != Invalid {
		t.Errorf("an answer clears the lost mark: %v, want invalid", v.Q)
	}
	im.Update(id, []int{0}, []float64{4}, t0.Add(time.Millisecond))
	if v := im.Get(id, 0, t0.Add(time.Millisecond)); !v.Good() || v.V != 4 {
		t.Errorf("a good answer replaces the verdict: %+v", v)
	}
	for q, want := range map[Quality]string{Good: "good", Stale: "stale", Lost: "lost", Invalid: "invalid", Refused: "refused"} {
		if q.String() != want {
			t.Errorf("%d.String() = %q, want %q", q, q.String(), want)
		}
	}
}
