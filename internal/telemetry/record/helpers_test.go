package record

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/telemetry/influx"
)

// memSink keeps the points written to it; full makes it refuse them.
type memSink struct {
	mu   sync.Mutex
	pts  []influx.Point
	full bool
}

func (s *memSink) Write(p influx.Point) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return false
	}
	s.pts = append(s.pts, p)
	return true
}

func (s *memSink) take() []influx.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pts
	s.pts = nil
	return p
}

// find returns the points of the measurement whose tags include kv.
func find(pts []influx.Point, measurement string, kv ...string) []influx.Point {
	var out []influx.Point
next:
	for _, p := range pts {
		if p.Measurement != measurement {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if p.Tags[kv[i]] != kv[i+1] {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

func one(t *testing.T, pts []influx.Point, measurement string, kv ...string) influx.Point {
	t.Helper()
	got := find(pts, measurement, kv...)
	if len(got) != 1 {
		t.Fatalf("%d %s points with tags %v, want 1 (all: %v)", len(got), measurement, kv, pts)
	}
	return got[0]
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func good(v float64) procimg.Value { return procimg.Value{V: v, At: t0, Q: procimg.Good} }

// testView builds a view of units with bms batteries each, all readings good.
func testView(units, bms int) *plant.View {
	v := &plant.View{At: t0, POI: plant.MeterView{P: good(1000), Q: good(50), F: good(50), V: good(20000)}}
	for i := range units {
		u := plant.UnitView{ID: fmt.Sprintf("u%03d", i+1), RatedP: 2500, RatedS: 2750,
			P: good(10), Q: good(1), State: good(3), Fault: good(0)}
		for range bms {
			u.BMS = append(u.BMS, plant.BatteryView{CapacityKWh: 5000,
				SOC: good(50), SOH: good(98), V: good(1200), I: good(4),
				CellVMax: good(3.35), CellVMin: good(3.30), CellTMax: good(31), CellTMin: good(24),
				ChargeMax: good(2500), DischargeMax: good(2500), AlarmLevel: good(0), Contactor: good(1)})
		}
		v.Units = append(v.Units, u)
	}
	return v
}

func report() dispatch.Report {
	return dispatch.Report{Mode: dispatch.ModeAGC, Requested: 1200, Base: 1100, PFR: 100, FFR: 0,
		Target: 1150, P: 1150, Q: 0, AvailDischarge: 5000, AvailCharge: 5000,
		Binding: dispatch.ConstraintRamp, Cut: 50, Available: 2, Tripped: 0}
}

// fakeDevice is a HealthSource with settable health.
type fakeDevice struct {
	name string
	mu   sync.Mutex
	h    devices.Health
}

func (d *fakeDevice) Name() string { return d.name }

func (d *fakeDevice) Health() devices.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.h
}

func (d *fakeDevice) set(s devices.State, lastErr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.h.State, d.h.LastErr = s, lastErr
}
