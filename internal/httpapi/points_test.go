package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestStateShowsEveryStandardPoint: every point the view carries is a
// member of its device's object in /api/state, under its key, with its
// value; none collides with another member; a point the profile lacks is
// left out; and the JSON decodes back to the same State.
func TestStateShowsEveryStandardPoint(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v := plant.View{At: now, Units: []plant.UnitView{{ID: "u1", BMS: []plant.BatteryView{{CapacityKWh: 100}}}}}
	locate := func(s *plant.Standard) *procimg.Value {
		switch s.Kind {
		case plant.KindMeter:
			return s.Meter(&v.POI)
		case plant.KindPCS:
			return s.PCS(&v.Units[0])
		}
		return s.Battery(&v.Units[0].BMS[0])
	}
	var viewed []plant.Standard
	for i, s := range plant.Standards {
		if s.Viewed() {
			*locate(&s) = procimg.Value{V: float64(i + 1), Q: procimg.Good, At: now}
			viewed = append(viewed, s)
		}
	}
	*locate(&viewed[len(viewed)-1]) = plant.Missing

	st := Snapshot(&still{v}, nil, now)
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Plant map[string]json.RawMessage
		Units []map[string]json.RawMessage
	}
	var bats []map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw.Units[0]["batteries"], &bats); err != nil {
		t.Fatal(err)
	}
	objs := map[plant.Kind]map[string]json.RawMessage{plant.KindMeter: raw.Plant, plant.KindPCS: raw.Units[0], plant.KindBMS: bats[0]}
	fixed := map[plant.Kind]reflect.Type{plant.KindMeter: reflect.TypeOf(PlantState{}), plant.KindPCS: reflect.TypeOf(UnitState{}), plant.KindBMS: reflect.TypeOf(BatteryState{})}
	for i, s := range viewed {
		key := s.StateKey()
		got, ok := objs[s.Kind][key]
		if i == len(viewed)-1 {
			if ok {
				t.Errorf("%s %s: missing from the profile, shown as %s", s.Kind, s.Name, got)
			}
			continue
		}
		var val Value
		if !ok || json.Unmarshal(got, &val) != nil || val.Value == nil || float64(*val.Value) != locate(&s).V || val.Quality != "good" {
			t.Errorf("%s %s: %q = %s, want %v good", s.Kind, s.Name, key, got, locate(&s).V)
		}
		ft := fixed[s.Kind]
		for j := 0; j < ft.NumField(); j++ {
			if name, _, _ := strings.Cut(ft.Field(j).Tag.Get("json"), ","); name == key {
				t.Errorf("%s %s: key %q is also %s.%s", s.Kind, s.Name, key, ft.Name(), ft.Field(j).Name)
			}
		}
	}
	var back State
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if string(again) != string(body) {
		t.Errorf("decoded and encoded again:\n%s\nwant\n%s", again, body)
	}
}
