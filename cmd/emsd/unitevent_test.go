package main

import (
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/station/writer"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/telemetry/record"
)

// pointSink keeps the points a Recorder writes.
type pointSink struct {
	mu  sync.Mutex
	pts []influx.Point
}

func (s *pointSink) Write(p influx.Point) bool {
	s.mu.Lock()
	s.pts = append(s.pts, p)
	s.mu.Unlock()
	return true
}

// TestUnitEventIsRecorded: a writer's PCS event (restart, not running)
// becomes a point of the event measurement, kind pcs, naming the unit,
// the event and its message.
func TestUnitEventIsRecorded(t *testing.T) {
	sink := &pointSink{}
	rec, err := record.New(sink, record.Options{Site: "s"})
	if err != nil {
		t.Fatal(err)
	}
	s := &services{rec: rec}
	at := time.Unix(1000, 0)
	s.onUnitEvent("u3", writer.Event{At: at, Kind: writer.EventNotRunning, Message: "PCS does not run: state fault, fault code 7"})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.pts) != 1 {
		t.Fatalf("%d points, want 1", len(sink.pts))
	}
	p := sink.pts[0]
	if p.Measurement != record.MEvent || p.Tags["unit"] != "u3" || p.Tags["kind"] != record.KindPCS ||
		p.Fields["cause"] != string(writer.EventNotRunning) || p.Fields["message"] != "PCS does not run: state fault, fault code 7" || !p.Time.Equal(at) {
		t.Errorf("event point %+v", p)
	}
}
