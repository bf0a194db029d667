package plant_test

import (
	"reflect"
	"testing"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestStandardsTable checks the table the rest of emsd derives from: every
// point is declared once per kind, is of a known kind, locates a view
// field of its own kind only, and is not both written and viewed; state
// keys and telemetry fields are unique per kind; and every value field of
// the view is some point's, so that the view and the table cannot drift.
func TestStandardsTable(t *testing.T) {
	seen := map[string]bool{}
	keys, fields := map[string]bool{}, map[string]bool{}
	var v plant.View
	v.Units = []plant.UnitView{{BMS: []plant.BatteryView{{}}}}
	located := map[*procimg.Value]string{}
	for i := range plant.Standards {
		s := &plant.Standards[i]
		id := string(s.Kind) + " " + s.Name
		if s.Name == "" || seen[id] {
			t.Errorf("%d: %q: missing or repeated", i, id)
		}
		seen[id] = true
		var at *procimg.Value
		set := 0
		if s.Meter != nil {
			set++
			at = s.Meter(&v.POI)
		}
		if s.PCS != nil {
			set++
			at = s.PCS(&v.Units[0])
		}
		if s.Battery != nil {
			set++
			at = s.Battery(&v.Units[0].BMS[0])
		}
		want := map[plant.Kind]bool{plant.KindMeter: s.Meter != nil, plant.KindPCS: s.PCS != nil, plant.KindBMS: s.Battery != nil}
		if _, ok := want[s.Kind]; !ok {
			t.Errorf("%s: unknown kind", id)
		}
		if set > 1 || set == 1 && !want[s.Kind] {
			t.Errorf("%s: locates a view field of another kind", id)
		}
		if s.Viewed() != (set == 1) {
			t.Errorf("%s: Viewed() %v with %d view fields", id, s.Viewed(), set)
		}
		if s.Write && s.Viewed() {
			t.Errorf("%s: a command point in the view", id)
		}
		if s.Required && !s.Write && !s.Viewed() {
			t.Errorf("%s: required but nothing reads it", id)
		}
		if s.Worst != 0 && !s.Int {
			t.Errorf("%s: Worst without Int", id)
		}
		if at == nil {
			continue
		}
		if prev, dup := located[at]; dup {
			t.Errorf("%s: the same view field as %s", id, prev)
		}
		located[at] = id
		if k := string(s.Kind) + " " + s.StateKey(); keys[k] {
			t.Errorf("%s: state key %q repeated", id, s.StateKey())
		} else {
			keys[k] = true
		}
		if f := string(s.Kind) + " " + s.FieldName(); fields[f] {
			t.Errorf("%s: telemetry field %q repeated", id, s.FieldName())
		} else {
			fields[f] = true
		}
	}
	for _, p := range []any{&v.POI, &v.Units[0], &v.Units[0].BMS[0]} {
		rv := reflect.ValueOf(p).Elem()
		for i := 0; i < rv.NumField(); i++ {
			f := rv.Field(i)
			if f.Type() != reflect.TypeOf(procimg.Value{}) {
				continue
			}
			if _, ok := located[f.Addr().Interface().(*procimg.Value)]; !ok {
				t.Errorf("%s.%s: a view value no standard point fills", rv.Type().Name(), rv.Type().Field(i).Name)
			}
		}
	}
}

func TestStandardsOfAndViewed(t *testing.T) {
	bms, viewed := plant.StandardsOf(plant.KindBMS), plant.Viewed(plant.KindBMS)
	if len(bms) != 13 || len(viewed) != 12 {
		t.Fatalf("%d BMS points, %d viewed; want 13 and 12 (all but alarm_word)", len(bms), len(viewed))
	}
	for _, s := range viewed {
		if s.Kind != plant.KindBMS || s.Name == plant.PointAlarmWord {
			t.Errorf("viewed BMS point %s %s", s.Kind, s.Name)
		}
	}
}
