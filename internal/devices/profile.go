package devices

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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

var (
	orderList = "abcd, cdab, badc, dcba (or high_first, low_first)"
	typeList  = func() string {
		var s []string
		for _, t := range Types {
			s = append(s, string(t))
		}
		return strings.Join(s, ", ")
	}()
)

// checkEnum checks a point's enum map against its standard point's
// vocabulary and resolves it.
func (p *Profile) checkEnum(pt *Point, at string, bad func(string, ...any)) {
	pt.enum = nil
	if len(pt.Enum) == 0 {
		return
	}
	std, ok := plant.LookupStandard(p.Kind, pt.Name)
	if !ok || len(std.Enum) == 0 {
		var with []string
		for _, s := range plant.StandardsOf(p.Kind) {
			if len(s.Enum) > 0 {
				with = append(with, s.Name)
			}
		}
		bad("%s.enum: %s is not a %s point with named values (those are: %s)", at, pt.Name, p.Kind, strings.Join(with, ", "))
		return
	}
	if pt.Scale != 0 || pt.Offset != 0 || pt.ScalePoint != "" || pt.Type == Float32 || pt.Type == Float64 {
		bad("%s.enum: an enum point takes integer codes, without scale, offset or scale_point", at)
	}
	pt.enum = make(map[int64]float64, len(pt.Enum))
	names := map[string]int64{}
	for code, name := range pt.Enum {
		i := slices.Index(std.Enum, name)
		if i < 0 {
			bad("%s.enum: %#x: unknown name %q (known: %s)", at, code, name, strings.Join(std.Enum, ", "))
			continue
		}
		if prev, dup := names[name]; dup && pt.Writable {
			bad("%s.enum: %q is given two codes, %#x and %#x", at, name, min(prev, code), max(prev, code))
		}
		names[name] = code
		pt.enum[code] = float64(i)
	}
}

// checkWrite checks a writable point's table and function code.
func (p *Profile) checkWrite(pt *Point, at string, bad func(string, ...any)) {
	if pt.BitWidth > 0 {
		bad("%s.writable: bit fields cannot be written", at)
	}
	switch pt.Table {
	case Holding:
		if pt.WriteFC == 0 {
			pt.WriteFC = FC16
		}
		if pt.WriteFC == FC06 && pt.Words() != 1 {
			bad("%s.write_fc: 6 writes a single register; a %s takes %d", at, pt.Type, pt.Words())
		} else if pt.WriteFC != FC06 && pt.WriteFC != FC16 {
			bad("%s.write_fc: %d is not 6 or 16 (a holding register)", at, pt.WriteFC)
		}
	case Coil:
		if pt.WriteFC == 0 {
			pt.WriteFC = FC05
		}
		if pt.WriteFC != FC05 {
			bad("%s.write_fc: %d is not 5 (a coil)", at, pt.WriteFC)
		}
	default:
		bad("%s.writable: only holding registers and coils can be written", at)
	}
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
	if p.WordOrder == "" {
		p.WordOrder = ABCD
	} else if o, ok := ParseWordOrder(string(p.WordOrder)); ok {
		p.WordOrder = o
	} else {
		bad("word_order: %q is not one of %s", p.WordOrder, orderList)
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
		} else if o, ok := ParseWordOrder(string(pt.WordOrder)); ok {
			pt.WordOrder = o
		} else {
			bad("%s.word_order: %q is not one of %s", at, pt.WordOrder, orderList)
		}
		switch pt.Table {
		case Holding, Input:
			if pt.Type == Bool {
				bad("%s.type: bool is for coil and discrete points", at)
			}
		case Coil, Discrete:
			if pt.Type == "" {
				pt.Type = Bool
			}
			if pt.Type != Bool {
				bad("%s.type: a %s point is a bool", at, pt.Table)
			}
		default:
			bad("%s.table: %q is not holding, input, coil or discrete", at, pt.Table)
		}
		if pt.Type.Words() == 0 {
			bad("%s.type: %q is not one of %s", at, pt.Type, typeList)
		}
		if pt.End() > 1<<16 {
			bad("%s.address: runs past register 65535", at)
		}
		if pt.BitWidth > 0 && (pt.Type == Float32 || pt.Type == Float64 || pt.Type == Bool || int(pt.BitOffset)+int(pt.BitWidth) > 16*pt.Words()) {
			bad("%s.bit_offset/bit_width: field does not fit an unsigned %s", at, pt.Type)
		}
		p.checkEnum(pt, at, bad)
		if pt.Min != nil && pt.Max != nil && !(*pt.Min < *pt.Max) {
			bad("%s.min/max: min %g is not below max %g", at, *pt.Min, *pt.Max)
		}
		for _, x := range []*float64{pt.Min, pt.Max} {
			if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
				bad("%s.min/max: must be finite numbers", at)
			}
		}
		if pt.Writable {
			p.checkWrite(pt, at, bad)
		} else if pt.WriteFC != 0 {
			bad("%s.write_fc: only a writable point has one", at)
		}
		if !pt.Writable && pt.Group == "" {
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
// (when dir is not empty; a missing dir is an error). A user profile
// replaces a built-in one of the same name. Errors name the file and the
// problem.
func LoadProfiles(dir string) (Profiles, error) {
	out := Profiles{}
	if err := loadFS(out, builtin, "profiles", "builtin:"); err != nil {
		return nil, err
	}
	if dir == "" {
		return out, nil
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
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

// ParseProfile parses and validates one profile document. Errors read
// SOURCE:LINE: key: problem; an unknown key names the known ones.
func ParseProfile(data []byte, source string) (*Profile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	k := keyCheck{src: source, lines: map[string]int{}}
	k.walk(&doc, reflect.TypeOf(Profile{}), "")
	if len(k.errs) > 0 {
		return nil, errors.Join(k.errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	p.Source = source
	if err := p.Validate(); err != nil {
		var out []error
		for _, e := range unjoin(err) {
			out = append(out, fmt.Errorf("%s:%d: %w", source, k.line(e.Error()), e))
		}
		return nil, fmt.Errorf("profile %q: %w", p.Name, errors.Join(out...))
	}
	return &p, nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// keyCheck checks a profile document's keys against the Go types it
// decodes into and records the line of every key path.
type keyCheck struct {
	src   string
	lines map[string]int
	errs  []error
}

// errPath matches the key path a Validate error starts with, e.g.
// "points[3] (p_kw).table" → points[3], table.
var errPath = regexp.MustCompile(`^(\w+(?:\[\d+\])?)(?: \([^)]*\))?(?:\.(\w+))?`)

// line is the line of the key an error message starts with (1 if unknown).
func (k *keyCheck) line(msg string) int {
	m := errPath.FindStringSubmatch(msg)
	if m == nil {
		return 1
	}
	if n, ok := k.lines[m[1]+"."+m[2]]; ok { // no key path ends in "."
		return n
	}
	if n, ok := k.lines[m[1]]; ok {
		return n
	}
	return 1
}

func (k *keyCheck) walk(n *yaml.Node, t reflect.Type, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			k.walk(c, t, path)
		}
		return
	case yaml.AliasNode:
		k.walk(n.Alias, t, path)
		return
	}
	switch {
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			k.lines[p] = c.Line
			k.walk(c, t.Elem(), p)
		}
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var names []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			fields[name] = f.Type
			names = append(names, name)
		}
		for i := 0; i < len(n.Content); i += 2 { // key, value pairs
			key, val := n.Content[i], n.Content[i+1]
			p := key.Value
			if path != "" {
				p = path + "." + key.Value
			}
			ft, ok := fields[key.Value]
			if !ok {
				k.errs = append(k.errs, fmt.Errorf("%s:%d: %s: unknown key (known: %s)", k.src, key.Line, p, strings.Join(names, ", ")))
				continue
			}
			k.lines[p] = key.Line
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			k.walk(val, ft, p)
		}
	}
}
