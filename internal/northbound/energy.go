package northbound

import (
	"sync"
	"time"
)

// maxGap is the longest time between two observations that Energy
// integrates over; a longer gap (a stalled loop) adds nothing.
const maxGap = 5 * time.Second

// Energy integrates the power at the POI into the energy discharged
// (exported) and charged (imported) today: since local midnight, or
// since the daemon started if that was later. Each observation's power
// holds until the next one; only good readings count. It is safe for
// concurrent use.
type Energy struct {
	mu       sync.Mutex
	loc      *time.Location
	day      string // local date of the totals
	last     time.Time
	p        float64 // power of the last observation, kW
	good     bool    // the last observation was good
	in, out  float64 // kWh
	observed bool
}

// NewEnergy returns an integrator whose day runs from midnight in loc.
func NewEnergy(loc *time.Location) *Energy { return &Energy{loc: loc} }

// Observe records the POI power pKW (> 0 export) measured at at.
func (e *Energy) Observe(at time.Time, pKW float64, good bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := at.In(e.loc).Format(time.DateOnly); d != e.day {
		e.day, e.in, e.out = d, 0, 0
	} else if dt := at.Sub(e.last); e.observed && e.good && dt > 0 && dt <= maxGap {
		kwh := e.p * dt.Hours()
		if kwh > 0 {
			e.out += kwh
		} else {
			e.in -= kwh
		}
	}
	e.last, e.p, e.good, e.observed = at, pKW, good, true
}

// Today returns the energy charged and discharged today, kWh, and
// whether the last reading was good (the totals are still being kept).
func (e *Energy) Today() (charged, discharged float64, good bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.in, e.out, e.good
}
