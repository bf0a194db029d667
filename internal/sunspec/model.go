// Package sunspec reads SunSpec devices: it finds the SunS marker, walks the
// model chain and decodes each model's points with its scale factors. The
// model definitions are the official SunSpec JSON files, embedded from
// models/ (Apache-2.0, see models/LICENSE); no register table is typed by hand.
package sunspec

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

//go:embed models/*.json models/LICENSE
var modelFS embed.FS

// ModelsFS holds the embedded model definitions (model_ID.json) and their LICENSE.
func ModelsFS() fs.FS {
	sub, _ := fs.Sub(modelFS, "models")
	return sub
}

// PointDef is one point of a model definition.
type PointDef struct {
	Name      string   `json:"name"`
	Label     string   `json:"label"`
	Type      string   `json:"type"`
	Size      int      `json:"size"`
	SF        string   `json:"sf"`
	Units     string   `json:"units"`
	Access    string   `json:"access"`
	Mandatory string   `json:"mandatory"`
	Symbols   []Symbol `json:"symbols"`
}

// Symbol names one value of an enum or one bit of a bitfield.
type Symbol struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// GroupDef is a group of points; a group inside another may repeat.
type GroupDef struct {
	Name   string     `json:"name"`
	Label  string     `json:"label"`
	Count  any        `json:"count"` // a point name, a number, or absent (1)
	Points []PointDef `json:"points"`
	Groups []GroupDef `json:"groups"`
}

// Size is the number of registers of one instance of the group's own
// points (without its child groups).
func (g *GroupDef) Size() int {
	n := 0
	for _, p := range g.Points {
		n += p.Size
	}
	return n
}

// ModelDef is one SunSpec model definition. Its top group starts with the
// ID and L points, so register offsets count from the model's ID register.
type ModelDef struct {
	ID    int      `json:"id"`
	Group GroupDef `json:"group"`
}

var (
	defsOnce sync.Once
	defs     map[int]*ModelDef
	defsErr  error
)

func loadDefs() {
	defs = map[int]*ModelDef{}
	names, err := fs.Glob(modelFS, "models/model_*.json")
	if err != nil {
		defsErr = err
		return
	}
	for _, n := range names {
		data, err := modelFS.ReadFile(n)
		if err != nil {
			defsErr = err
			return
		}
		m, err := ParseModel(data)
		if err != nil {
			defsErr = fmt.Errorf("sunspec: %s: %w", n, err)
			return
		}
		defs[m.ID] = m
	}
}

// ParseModel reads one model definition in the SunSpec JSON format.
func ParseModel(data []byte) (*ModelDef, error) {
	var m ModelDef
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.ID <= 0 || len(m.Group.Points) < 2 || m.Group.Points[0].Name != "ID" || m.Group.Points[1].Name != "L" {
		return nil, fmt.Errorf("model %d: the top group must start with the ID and L points", m.ID)
	}
	var bad []string
	var check func(g *GroupDef)
	check = func(g *GroupDef) {
		for _, p := range g.Points {
			if w := typeWords(p.Type); p.Size <= 0 || (w > 0 && w != p.Size) {
				bad = append(bad, fmt.Sprintf("%s.%s: type %s with size %d", g.Name, p.Name, p.Type, p.Size))
			}
		}
		for i := range g.Groups {
			check(&g.Groups[i])
		}
	}
	check(&m.Group)
	if len(bad) > 0 {
		return nil, fmt.Errorf("model %d: %s", m.ID, strings.Join(bad, "; "))
	}
	return &m, nil
}

// Def returns the definition of a supported model.
func Def(id int) (*ModelDef, bool) {
	defsOnce.Do(loadDefs)
	m, ok := defs[id]
	return m, ok
}

// Supported lists the supported model ids in ascending order.
func Supported() []int {
	defsOnce.Do(loadDefs)
	var ids []int
	for id := range defs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// LoadErr reports a broken embedded definition (tested; nil in a good build).
func LoadErr() error {
	defsOnce.Do(loadDefs)
	return defsErr
}
