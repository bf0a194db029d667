package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// Points are a device's standard points that its profile has, by their
// key (plant.Standard.StateKey). They are members of the device's JSON
// object, after its other members, in the order of plant.Standards.
type Points map[string]*Value

// The standard points the view carries, by kind.
var (
	meterPts = plant.Viewed(plant.KindMeter)
	pcsPts   = plant.Viewed(plant.KindPCS)
	bmsPts   = plant.Viewed(plant.KindBMS)
)

// points converts the points pts of one device, located by at, at now.
func points(pts []plant.Standard, at func(*plant.Standard) *procimg.Value, now time.Time) Points {
	out := make(Points, len(pts))
	for k := range pts {
		if v := value(*at(&pts[k]), now); v != nil {
			out[pts[k].StateKey()] = v
		}
	}
	return out
}

// withPoints encodes obj, a struct, with the points ps added as members.
func withPoints(obj any, pts []plant.Standard, ps Points) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1]) // without the closing brace
	for k := range pts {
		v, ok := ps[pts[k].StateKey()]
		if !ok || v == nil {
			continue
		}
		m, err := json.Marshal(map[string]*Value{pts[k].StateKey(): v})
		if err != nil {
			return nil, err
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.Write(m[1 : len(m)-1])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// readPoints picks the points pts out of the members of a JSON object.
func readPoints(obj map[string]json.RawMessage, pts []plant.Standard) (Points, error) {
	ps := make(Points, len(pts))
	for k := range pts {
		key := pts[k].StateKey()
		raw, ok := obj[key]
		if !ok {
			continue
		}
		var v *Value
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if v != nil {
			ps[key] = v
		}
	}
	return ps, nil
}

// UnmarshalJSON decodes what a State encodes to, the devices' points
// included.
func (s *State) UnmarshalJSON(b []byte) error {
	type fields State
	if err := json.Unmarshal(b, (*fields)(s)); err != nil {
		return err
	}
	var raw struct {
		Plant map[string]json.RawMessage `json:"plant"`
		Units []map[string]json.RawMessage
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var err error
	if s.Plant.Points, err = readPoints(raw.Plant, meterPts); err != nil {
		return fmt.Errorf("plant: %w", err)
	}
	for i := range s.Units {
		u := &s.Units[i]
		if u.Points, err = readPoints(raw.Units[i], pcsPts); err != nil {
			return fmt.Errorf("units[%d]: %w", i, err)
		}
		var bats []map[string]json.RawMessage
		if err := json.Unmarshal(raw.Units[i]["batteries"], &bats); err != nil {
			return fmt.Errorf("units[%d].batteries: %w", i, err)
		}
		for j := range u.Batteries {
			if u.Batteries[j].Points, err = readPoints(bats[j], bmsPts); err != nil {
				return fmt.Errorf("units[%d].batteries[%d]: %w", i, j, err)
			}
		}
	}
	return nil
}

// The fields of the meter, unit and battery states, without their points.
type (
	plantFields   PlantState
	unitFields    UnitState
	batteryFields BatteryState
)
