package devices

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/emsd/emsd/internal/plant"
)

// required lists, by kind, the points without which a device of the kind
// cannot be run safely.
var required = func() map[plant.Kind][]string {
	m := map[plant.Kind][]string{plant.KindPCS: nil, plant.KindBMS: nil, plant.KindMeter: nil}
	for _, s := range plant.Standards {
		if s.Required {
			m[s.Kind] = append(m[s.Kind], s.Name)
		}
	}
	return m
}()

// MaxReadRegs is the Modbus limit on registers in one read request.
const MaxReadRegs = 125

// Group is a read group: points polled together at one rate.
type Group struct {
	Name   string        `yaml:"name"`
	Period time.Duration `yaml:"period"`
}

// Profile maps a device model's registers to standard points.
type Profile struct {
	Name        string     `yaml:"name"`
	Kind        plant.Kind `yaml:"kind"`
	Description string     `yaml:"description,omitempty"`
	WordOrder   WordOrder  `yaml:"word_order,omitempty"`
	// MaxGap is how many unused registers a read may span to merge two
	// blocks into one request. 0 merges only contiguous registers.
	MaxGap int     `yaml:"max_gap,omitempty"`
	Groups []Group `yaml:"groups"`
	Points []Point `yaml:"points"`

	// Source is the file the profile was loaded from.
	Source string `yaml:"-"`
	index  map[string]int
}

// Point returns the index of a named point, or -1.
func (p *Profile) Point(name string) int {
	if i, ok := p.index[name]; ok {
		return i
	}
	return -1
}

// Group returns the named read group.
func (p *Profile) Group(name string) (Group, bool) {
	for _, g := range p.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// Block is one read request: a register range of one table and the points it carries.
type Block struct {
	Table Table
	Start uint16
	Count uint16
	// Points are indices into Profile.Points.
	Points []int
}

// Plan merges the readable points of a group, and the scale-factor points
// they depend on, into as few read requests as fit the Modbus limit.
func (p *Profile) Plan(group string) []Block {
	want := map[int]bool{}
	for i, pt := range p.Points {
		if pt.Group != group {
			continue
		}
		want[i] = true
		if pt.ScalePoint != "" {
			want[p.index[pt.ScalePoint]] = true
		}
	}
	var idx []int
	for i := range want {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int {
		pa, pb := &p.Points[a], &p.Points[b]
		return cmp.Or(cmp.Compare(pa.Table, pb.Table), cmp.Compare(pa.Address, pb.Address), cmp.Compare(a, b))
	})
	var out []Block
	for _, i := range idx {
		pt := &p.Points[i]
		if n := len(out); n > 0 {
			b := &out[n-1]
			end := int(b.Start) + int(b.Count)
			if b.Table == pt.Table && int(pt.Address) <= end+p.MaxGap && pt.End()-int(b.Start) <= MaxReadRegs {
				b.Count = uint16(max(pt.End(), end) - int(b.Start))
				b.Points = append(b.Points, i)
				continue
			}
		}
		out = append(out, Block{Table: pt.Table, Start: pt.Address, Count: uint16(pt.Words()), Points: []int{i}})
	}
	return out
}

// Validate checks a profile for consistency and builds its index.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Name == "" {
		bad("name: missing")
	}
	if _, ok := required[p.Kind]; !ok {
		bad("kind: %q is not one of pcs, bms, meter", p.Kind)
	}
	switch p.WordOrder {
	case "":
		p.WordOrder = HighFirst
	case HighFirst, LowFirst:
	default:
		bad("word_order: %q is not high_first or low_first", p.WordOrder)
	}
	if p.MaxGap < 0 || p.MaxGap > MaxReadRegs {
		bad("max_gap: %d is outside 0..%d", p.MaxGap, MaxReadRegs)
	}
	groups := map[string]bool{}
	for i, g := range p.Groups {
		if g.Name == "" || groups[g.Name] {
			bad("groups[%d].name: missing or repeated %q", i, g.Name)
		}
		if g.Period <= 0 {
			bad("groups[%d].period: must be positive", i)
		}
		groups[g.Name] = true
	}
	p.index = make(map[string]int, len(p.Points))
	for i := range p.Points {
		pt := &p.Points[i]
		at := fmt.Sprintf("points[%d] (%s)", i, pt.Name)
		if pt.Name == "" {
			bad("points[%d].name: missing", i)
		} else if _, dup := p.index[pt.Name]; dup {
			bad("%s.name: repeated", at)
		}
		p.index[pt.Name] = i
		if pt.WordOrder == "" {
			pt.WordOrder = p.WordOrder
		}
		if pt.WordOrder != HighFirst && pt.WordOrder != LowFirst {
			bad("%s.word_order: %q is not high_first or low_first", at, pt.WordOrder)
		}
		if pt.Table != Holding && pt.Table != Input {
			bad("%s.table: %q is not holding or input", at, pt.Table)
		}
		if pt.Type.Words() == 0 {
			bad("%s.type: %q is not one of int16, uint16, int32, uint32, float32, int64, uint64", at, pt.Type)
		}
		if pt.End() > 1<<16 {
			bad("%s.address: runs past register 65535", at)
		}
		if pt.BitWidth > 0 && (pt.Type == Float32 || int(pt.BitOffset)+int(pt.BitWidth) > 16*pt.Words()) {
			bad("%s.bit_offset/bit_width: field does not fit an unsigned %s", at, pt.Type)
		}
		if pt.Writable {
			if pt.Table != Holding {
				bad("%s.writable: only holding registers can be written", at)
			}
			if pt.BitWidth > 0 {
				bad("%s.writable: bit fields cannot be written", at)
			}
		} else if pt.Group == "" {
			bad("%s.group: a readable point needs a read group", at)
		}
		if pt.Group != "" && !groups[pt.Group] {
			bad("%s.group: %q is not a declared group", at, pt.Group)
		}
	}
	for i := range p.Points {
		pt := &p.Points[i]
		if pt.ScalePoint == "" {
			continue
		}
		j, ok := p.index[pt.ScalePoint]
		if !ok {
			bad("points[%d] (%s).scale_point: no point %q", i, pt.Name, pt.ScalePoint)
		} else if p.Points[j].Type != Int16 || p.Points[j].ScalePoint != "" {
			bad("points[%d] (%s).scale_point: %q must be a plain int16 point", i, pt.Name, pt.ScalePoint)
		}
	}
	for _, name := range required[p.Kind] {
		if _, ok := p.index[name]; !ok {
			bad("points: a %s profile needs point %q", p.Kind, name)
		}
	}
	return errors.Join(errs...)
}

//go:embed profiles/*.yaml
var builtin embed.FS

// Profiles is a set of profiles by name.
type Profiles map[string]*Profile

// LoadProfiles loads the built-in profiles, then every *.yaml file in dir
// (when dir is not empty). A user profile replaces a built-in one of the
// same name. Errors name the file and the problem.
func LoadProfiles(dir string) (Profiles, error) {
	out := Profiles{}
	if err := loadFS(out, builtin, "profiles", "builtin:"); err != nil {
		return nil, err
	}
	if dir == "" {
		return out, nil
	}
	user := Profiles{}
	if err := loadFS(user, os.DirFS(dir), ".", dir+string(filepath.Separator)); err != nil {
		return nil, err
	}
	for k, v := range user {
		out[k] = v
	}
	return out, nil
}

func loadFS(out Profiles, fsys fs.FS, dir, label string) error {
	names, err := fs.Glob(fsys, dir+"/*.yaml")
	if err != nil {
		return err
	}
	if dir == "." {
		names, _ = fs.Glob(fsys, "*.yaml")
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		src := label + strings.TrimPrefix(name, dir+"/")
		p, err := ParseProfile(data, src)
		if err != nil {
			return err
		}
		if prev, dup := out[p.Name]; dup {
			return fmt.Errorf("%s: profile %q is also defined in %s", src, p.Name, prev.Source)
		}
		out[p.Name] = p
	}
	return nil
}

// ParseProfile parses and validates one profile document. Unknown keys are errors.
func ParseProfile(data []byte, source string) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	p.Source = source
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: profile %q: %w", source, p.Name, err)
	}
	return &p, nil
}
