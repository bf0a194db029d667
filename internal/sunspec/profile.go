package sunspec

import (
	"fmt"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// profileTypes maps SunSpec numeric types to profile types; the others
// (strings, addresses) are never mapped.
var profileTypes = map[string]devices.Type{
	"int16": devices.Int16, "uint16": devices.Uint16, "enum16": devices.Uint16, "acc16": devices.Uint16,
	"int32": devices.Int32, "uint32": devices.Uint32, "acc32": devices.Uint32, "enum32": devices.Uint32,
	"int64": devices.Int64, "uint64": devices.Uint64, "acc64": devices.Uint64,
	"float32": devices.Float32, "float64": devices.Float64, "sunssf": devices.Int16,
}

// MeterProfile writes the chain's meter points (Mappings) as a device
// profile over the device's own registers, so that a SunSpec meter runs in
// the station like any profiled meter. Every point reads SunSpec "not
// implemented" values as no value (sentinel). Only a meter: a SunSpec PCS
// or battery needs a setpoint path and an alarm level that Mappings do not
// give.
func (c *Chain) MeterProfile(name string, period time.Duration) (*devices.Profile, error) {
	p := &devices.Profile{
		Name: name, Kind: plant.KindMeter, WordOrder: devices.ABCD,
		Description: fmt.Sprintf("SunSpec meter, generated from the chain at %d", c.Base),
		Groups:      []devices.Group{{Name: "fast", Period: period}},
	}
	seen := map[string]bool{}
	for _, mp := range Mappings {
		m := c.Model(mp.Model)
		if mp.Kind != plant.KindMeter || seen[mp.Std] || m == nil {
			continue
		}
		f, ok := m.field(mp.Point)
		if !ok {
			continue
		}
		seen[mp.Std] = true
		pt, err := profilePoint(mp.Std, m, f)
		if err != nil {
			return nil, err
		}
		pt.Scale = mp.Scale
		pt.Unit = stdUnit(plant.KindMeter, mp.Std)
		if f.SF >= 0 {
			sf := m.Fields[f.SF]
			pt.ScalePoint = "sf_" + sf.Name
			if !slices.ContainsFunc(p.Points, func(q devices.Point) bool { return q.Name == pt.ScalePoint }) {
				sp, err := profilePoint(pt.ScalePoint, m, sf)
				if err != nil {
					return nil, err
				}
				p.Points = append(p.Points, sp)
			}
		}
		p.Points = append(p.Points, pt)
	}
	data, err := ProfileYAML(p)
	if err != nil {
		return nil, err
	}
	// Parse what would be written: the profile loader's checks apply.
	return devices.ParseProfile(data, name+".yaml")
}

func profilePoint(name string, m *Model, f Field) (devices.Point, error) {
	t, ok := profileTypes[f.Def.Type]
	if !ok {
		return devices.Point{}, fmt.Errorf("sunspec: model %d point %s: type %s has no profile type", m.ID, f.Name, f.Def.Type)
	}
	return devices.Point{
		Name: name, Table: devices.Holding, Address: m.Addr + uint16(f.Offset), Type: t,
		Group: "fast", Sentinel: true,
		Doc: fmt.Sprintf("SunSpec model %d %s", m.ID, f.Name),
	}, nil
}

func (m *Model) field(name string) (Field, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

func stdUnit(kind plant.Kind, name string) string {
	for _, s := range plant.Standards {
		if s.Kind == kind && s.Name == name {
			return s.Unit
		}
	}
	return ""
}

// ProfileYAML is a profile as a profile file.
func ProfileYAML(p *devices.Profile) ([]byte, error) {
	return yaml.Marshal(p)
}
