package sunspec

import (
	"fmt"
	"strconv"
)

// Field is one point of a model instance, placed in its registers.
type Field struct {
	// Name is the point's path: "W", or "Ctl[2].DbOf" in a repeating group
	// (instances count from 1).
	Name string
	Def  *PointDef
	// Offset counts registers from the model's ID register.
	Offset int
	// SF is the index (into the same field list) of the scale-factor
	// point, or -1.
	SF int
}

// scope resolves point names: a group instance's own points first, then
// its parents'.
type scope struct {
	parent *scope
	names  map[string]int
}

func (s *scope) lookup(name string) (int, bool) {
	for ; s != nil; s = s.parent {
		if i, ok := s.names[name]; ok {
			return i, true
		}
	}
	return 0, false
}

// Layout places a model's points in its registers regs (from the ID
// register, L+2 long). The repeat count of a group is the value of its
// count point. The layout must fill regs exactly.
func Layout(m *ModelDef, regs []uint16) ([]Field, error) {
	var out []Field
	off := 0
	var place func(g *GroupDef, prefix string, parent *scope) error
	place = func(g *GroupDef, prefix string, parent *scope) error {
		sc := &scope{parent: parent, names: map[string]int{}}
		start := len(out)
		for i := range g.Points {
			p := &g.Points[i]
			sc.names[p.Name] = len(out)
			out = append(out, Field{Name: prefix + p.Name, Def: p, Offset: off, SF: -1})
			off += p.Size
		}
		for i := start; i < len(out); i++ {
			if f := &out[i]; f.Def.SF != "" {
				if j, ok := sc.lookup(f.Def.SF); ok {
					f.SF = j
				}
			}
		}
		for i := range g.Groups {
			c := &g.Groups[i]
			n, err := count(c, sc, out, regs)
			if err != nil {
				return err
			}
			for k := 1; k <= n; k++ {
				if off+c.Size() > len(regs) {
					return fmt.Errorf("group %s[%d] at offset %d needs %d registers, the model has %d (count from %s)", c.Name, k, off, c.Size(), len(regs), countName(c))
				}
				if err := place(c, fmt.Sprintf("%s%s[%d].", prefix, c.Name, k), sc); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := place(&m.Group, "", nil); err != nil {
		return nil, err
	}
	if off != len(regs) {
		return nil, fmt.Errorf("its points take %d registers (L=%d), the length says %d (L=%d)", off, off-2, len(regs), len(regs)-2)
	}
	for _, f := range out {
		if f.Def.SF != "" && f.SF < 0 {
			return nil, fmt.Errorf("point %s: scale factor %s not found", f.Name, f.Def.SF)
		}
	}
	return out, nil
}

func countName(g *GroupDef) string {
	switch c := g.Count.(type) {
	case string:
		return c
	case float64:
		return strconv.Itoa(int(c))
	}
	return "1"
}

// maxRepeat bounds a repeat count (a model holds at most 65535 registers).
const maxRepeat = 65535

// count is the number of instances of group g.
func count(g *GroupDef, sc *scope, fields []Field, regs []uint16) (int, error) {
	switch c := g.Count.(type) {
	case nil:
		return 1, nil
	case float64:
		return int(c), nil
	case string:
		i, ok := sc.lookup(c)
		if !ok {
			return 0, fmt.Errorf("group %s: count point %s not found", g.Name, c)
		}
		f := fields[i]
		if f.Offset+f.Def.Size > len(regs) {
			return 0, fmt.Errorf("group %s: count point %s lies past the model's end", g.Name, c)
		}
		r, err := DecodeRaw(f.Def.Type, regs[f.Offset:f.Offset+f.Def.Size])
		if err != nil || r.IsText || r.Num < 0 || r.Num > maxRepeat {
			return 0, fmt.Errorf("group %s: count point %s does not hold a count (%v)", g.Name, c, err)
		}
		return int(r.Num), nil
	}
	return 0, fmt.Errorf("group %s: count %v is neither a number nor a point", g.Name, g.Count)
}
