package record

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/telemetry/influx"
)

type nopSink struct{}

func (nopSink) Write(influx.Point) bool { return true }

// BenchmarkObserve900 is one control cycle of a 900-unit string-PCS plant
// (one BMS per unit).
func BenchmarkObserve900(b *testing.B) {
	r, _ := New(nopSink{}, Options{Site: "s"})
	v, rep := testView(900, 1), report()
	r.Observe(v, rep)
	r.Flush(t0)
	b.ReportAllocs()
	for b.Loop() {
		r.Observe(v, rep)
	}
}

// BenchmarkFlush900 is one interval's flush of that plant after 50 cycles
// (20 ms cycles over 1 s): 1802 points.
func BenchmarkFlush900(b *testing.B) {
	r, _ := New(nopSink{}, Options{Site: "s"})
	v, rep := testView(900, 1), report()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range 50 {
			r.Observe(v, rep)
		}
		b.StartTimer()
		r.Flush(t0.Add(time.Second))
	}
}
