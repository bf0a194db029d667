package sunspec

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Reader reads holding registers from a device.
type Reader interface {
	ReadRegisters(addr, qty uint16) ([]uint16, error)
}

// Bases are the addresses where a SunSpec map may start, in search order.
var Bases = []uint16{40000, 50000, 0}

// Marker is "SunS" in two registers.
var Marker = [2]uint16{0x5375, 0x6E53}

// EndID is the model id of the end marker.
const EndID = 0xFFFF

// MaxReadRegs is the largest register count of one Modbus read.
const MaxReadRegs = 125

// maxModels bounds the chain walk: a longer chain has no end marker.
const maxModels = 256

// Model is one model instance read from a device.
type Model struct {
	ID   int
	Addr uint16   // address of its ID register
	Regs []uint16 // ID, L and L registers
	Def  *ModelDef
	// Fields are the model's points placed in Regs.
	Fields []Field
}

// Len is the model's L.
func (m *Model) Len() int { return len(m.Regs) - 2 }

// Chain is a device's SunSpec map.
type Chain struct {
	Base   uint16 // address of the SunS marker
	Models []Model
	End    uint16 // address of the end marker
}

// ChainError diagnoses a broken chain at an address.
type ChainError struct {
	Addr    int
	Model   int // the model's id, or -1 when none applies
	Problem string
	Err     error // the device's error, if any
}

func (e *ChainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sunspec: register %d", e.Addr)
	if e.Model >= 0 {
		fmt.Fprintf(&b, ": model %d", e.Model)
	}
	b.WriteString(": " + e.Problem)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *ChainError) Unwrap() error { return e.Err }

// read reads n registers from addr in requests of at most MaxReadRegs and
// rejects short answers.
func read(r Reader, addr uint16, n int) ([]uint16, error) {
	out := make([]uint16, 0, n)
	for len(out) < n {
		q := min(n-len(out), MaxReadRegs)
		a := int(addr) + len(out)
		regs, err := r.ReadRegisters(uint16(a), uint16(q))
		if err != nil {
			return nil, fmt.Errorf("reading %d registers at %d: %w", q, a, err)
		}
		if len(regs) != q {
			return nil, fmt.Errorf("reading %d registers at %d: short answer of %d", q, a, len(regs))
		}
		out = append(out, regs...)
	}
	return out, nil
}

// Find looks for the SunS marker at each of Bases.
func Find(r Reader) (uint16, error) {
	var why []string
	for _, b := range Bases {
		regs, err := read(r, b, 2)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%d: %v", b, err))
		case regs[0] == Marker[0] && regs[1] == Marker[1]:
			return b, nil
		default:
			why = append(why, fmt.Sprintf("%d: %04x %04x", b, regs[0], regs[1]))
		}
	}
	return 0, fmt.Errorf("sunspec: no SunS marker (%s)", strings.Join(why, "; "))
}

// Discover finds the marker and walks the chain. On a broken chain it
// returns the models read so far with a *ChainError.
func Discover(r Reader) (*Chain, error) {
	base, err := Find(r)
	if err != nil {
		return nil, err
	}
	return Walk(r, base)
}

// Walk reads the model chain that follows the marker at base, up to the
// end marker. Every model must be supported and its length must match its
// definition; the first must be the common model (1).
func Walk(r Reader, base uint16) (*Chain, error) {
	c := &Chain{Base: base}
	addr := int(base) + 2
	fail := func(id int, problem string, err error) (*Chain, error) {
		return c, &ChainError{Addr: addr, Model: id, Problem: problem, Err: err}
	}
	for range maxModels {
		if addr+2 > math.MaxUint16+1 {
			return fail(-1, "no end marker before the end of the address space", nil)
		}
		hdr, err := read(r, uint16(addr), 2)
		if err != nil {
			return fail(-1, "no end marker: the model header cannot be read", err)
		}
		id, l := int(hdr[0]), int(hdr[1])
		if id == EndID {
			c.End = uint16(addr)
			if len(c.Models) == 0 {
				return fail(-1, "the chain is empty: end marker right after SunS", nil)
			}
			return c, nil
		}
		def, ok := Def(id)
		if !ok {
			return fail(id, fmt.Sprintf("unknown model id %d (length %d); supported: %v", id, l, Supported()), nil)
		}
		if len(c.Models) == 0 && id != 1 {
			return fail(id, "the first model must be the common model 1", nil)
		}
		if addr+2+l > math.MaxUint16+1 {
			return fail(id, fmt.Sprintf("length %d overruns the address space", l), nil)
		}
		body, err := read(r, uint16(addr+2), l)
		if err != nil {
			return fail(id, fmt.Sprintf("length %d overruns what the device serves", l), err)
		}
		regs := append(hdr, body...)
		fields, err := Layout(def, regs)
		if err != nil {
			return fail(id, fmt.Sprintf("length %d does not fit its definition", l), err)
		}
		c.Models = append(c.Models, Model{ID: id, Addr: uint16(addr), Regs: regs, Def: def, Fields: fields})
		addr += 2 + l
	}
	return fail(-1, fmt.Sprintf("no end marker after %d models", maxModels), nil)
}

// Value is one point's decoded value.
type Value struct {
	Field
	Raw []uint16
	// OK is false when the point has no value: not implemented, its scale
	// factor not implemented or out of range (Why says which).
	OK     bool
	Why    string
	Number float64 // scaled
	Text   string
	IsText bool
}

// Values decodes every point of the model, pads excluded.
func (m *Model) Values() []Value {
	var out []Value
	for _, f := range m.Fields {
		if f.Def.Type == "pad" {
			continue
		}
		out = append(out, m.value(f))
	}
	return out
}

// Point returns the value of the named point.
func (m *Model) Point(name string) (Value, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return m.value(f), true
		}
	}
	return Value{}, false
}

func (m *Model) value(f Field) Value {
	v := Value{Field: f, Raw: m.Regs[f.Offset : f.Offset+f.Def.Size]}
	raw, err := DecodeRaw(f.Def.Type, v.Raw)
	if err != nil {
		v.Why = err.Error()
		return v
	}
	v.Text, v.IsText, v.Number = raw.Text, raw.IsText, raw.Num
	if f.SF >= 0 {
		sfF := m.Fields[f.SF]
		sf, err := DecodeRaw(sfF.Def.Type, m.Regs[sfF.Offset:sfF.Offset+sfF.Def.Size])
		if err != nil {
			if errors.Is(err, ErrNotImplemented) {
				err = fmt.Errorf("scale factor %s not implemented", sfF.Name)
			}
			v.Why = err.Error()
			return v
		}
		if v.Number, err = Scale(raw.Num, int(sf.Num)); err != nil {
			v.Why = fmt.Sprintf("%s: %v", sfF.Name, err)
			return v
		}
	}
	v.OK = true
	return v
}
