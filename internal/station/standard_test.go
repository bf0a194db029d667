package station_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/telemetry/record"
)

// pointSink keeps what the recorder writes.
type pointSink struct {
	mu  sync.Mutex
	pts []influx.Point
}

func (s *pointSink) Write(p influx.Point) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pts = append(s.pts, p)
	return true
}

// at locates standard point s of the first unit and battery in v.
func at(v *plant.View, s *plant.Standard) *procimg.Value {
	switch {
	case s.Meter != nil:
		return s.Meter(&v.POI)
	case s.PCS != nil:
		return s.PCS(&v.Units[0])
	default:
		return s.Battery(&v.Units[0].BMS[0])
	}
}

// TestEveryStandardPointReachesEveryReader: plant.Standards alone decides
// which points every part of emsd carries. On a simulated plant polled
// over Modbus, every point the view carries is read good (the built-in
// profile maps it, the simulator serves it, the station fills it into the
// view), /api/state shows it good under its key, and the recorder's schema
// declares its telemetry field and a flush writes it.
func TestEveryStandardPointReachesEveryReader(t *testing.T) {
	r := startRig(t, 1, station.Options{})
	var viewed []plant.Standard
	for _, s := range plant.Standards {
		if s.Viewed() {
			viewed = append(viewed, s)
		}
	}
	var v plant.View
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v = r.st.Latest()
		var bad []string // the viewed points not read good yet
		for i := range viewed {
			if len(v.Units) != 1 || len(v.Units[0].BMS) != 1 {
				bad = append(bad, "the unit")
				break
			}
			if x := at(&v, &viewed[i]); !x.Good() || x.At.IsZero() {
				bad = append(bad, string(viewed[i].Kind)+" "+viewed[i].Name)
			}
		}
		if len(bad) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not read good into the view after 20 s: %v", bad)
		}
	}

	body, err := json.Marshal(httpapi.Snapshot(r.st, nil, v.At))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Plant map[string]any `json:"plant"`
		Units []map[string]any
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	bats, _ := st.Units[0]["batteries"].([]any)
	if len(bats) != 1 {
		t.Fatalf("/api/state batteries: %s", body)
	}
	objs := map[plant.Kind]map[string]any{plant.KindMeter: st.Plant, plant.KindPCS: st.Units[0], plant.KindBMS: bats[0].(map[string]any)}

	sink := &pointSink{}
	rec, err := record.New(sink, record.Options{Site: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Observe(&v, dispatch.Report{})
	rec.Flush(v.At)
	written := map[string]map[string]any{}
	for _, p := range sink.pts {
		written[p.Measurement] = p.Fields
	}

	for _, s := range viewed {
		id := string(s.Kind) + " " + s.Name
		if got, _ := objs[s.Kind][s.StateKey()].(map[string]any); got == nil || got["quality"] != "good" {
			t.Errorf("%s: /api/state %s %q = %v, want a good value", id, s.Kind, s.StateKey(), objs[s.Kind][s.StateKey()])
		}
		m := record.Default.Measurement(string(s.Kind))
		if m == nil || m.Field(s.FieldName()) == nil {
			t.Errorf("%s: telemetry schema has no %s.%s", id, s.Kind, s.FieldName())
		}
		if _, ok := written[string(s.Kind)][s.FieldName()]; !ok {
			t.Errorf("%s: recorder wrote %s without %s: %v", id, s.Kind, s.FieldName(), written[string(s.Kind)])
		}
	}
}
