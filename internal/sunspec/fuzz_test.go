package sunspec_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
)

func regsOf(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

func bytesOf(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		binary.BigEndian.PutUint16(b[2*i:], r)
	}
	return b
}

// FuzzWalk feeds arbitrary register images at 40000 to the chain walker:
// it never panics, and a chain it accepts is consistent (contiguous models,
// each laid out to its length, ending at the end marker).
func FuzzWalk(f *testing.F) {
	for _, models := range [][]sunspecsim.Model{
		sunspecsim.All(),
		{{ID: 1}, {ID: 711, Repeat: map[string]int{"NCtl": 3}}},
		{{ID: 1}, {ID: 124, Len: 300}},
		{{ID: 1}, {ID: 64901, Raw: 3}},
		{{ID: 1}, {ID: 803, Repeat: map[string]int{"NStr": 0}}},
	} {
		img, err := sunspecsim.Build(40000, models, false)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytesOf(img.Regs))
	}
	f.Add([]byte("SunS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img := &sunspecsim.Image{Base: 40000, Regs: regsOf(data)}
		c, err := sunspec.Walk(imageReader{img}, 40000)
		if err != nil {
			var ce *sunspec.ChainError
			if !errors.As(err, &ce) || err.Error() == "" {
				t.Fatalf("not a diagnosis: %v", err)
			}
			return
		}
		at := 40002
		for _, m := range c.Models {
			if int(m.Addr) != at || m.Len() != int(img.Regs[at-40000+1]) {
				t.Fatalf("model %d at %d (len %d), expected at %d", m.ID, m.Addr, m.Len(), at)
			}
			for _, f := range m.Fields {
				if f.Offset+f.Def.Size > len(m.Regs) {
					t.Fatalf("model %d point %s past the end", m.ID, f.Name)
				}
			}
			for _, v := range m.Values() {
				if v.OK && !v.IsText && (math.IsNaN(v.Number) || math.IsInf(v.Number, 0)) {
					t.Fatalf("model %d point %s = %v graded as a value", m.ID, v.Name, v.Number)
				}
			}
			at += 2 + m.Len()
		}
		if int(c.End) != at || img.Regs[at-40000] != sunspec.EndID {
			t.Fatalf("end at %d, models end at %d", c.End, at)
		}
	})
}

// FuzzDecodeRaw decodes arbitrary registers as each type: no panic, a
// number only when it is finite, the right size and not a sentinel.
func FuzzDecodeRaw(f *testing.F) {
	types := []string{"int16", "uint16", "count", "acc16", "enum16", "bitfield16", "sunssf", "pad",
		"int32", "uint32", "acc32", "enum32", "bitfield32", "float32", "ipaddr",
		"int64", "uint64", "acc64", "bitfield64", "float64", "eui48", "ipv6addr", "string", "bogus"}
	for i := range types {
		f.Add(uint8(i), []byte{0x80, 0, 0, 0, 0, 0, 0, 0})
		f.Add(uint8(i), []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
		f.Add(uint8(i), []byte{0x7F, 0xC0, 0, 0})
		f.Add(uint8(i), []byte{0x12, 0x34})
	}
	f.Fuzz(func(t *testing.T, ti uint8, data []byte) {
		typ := types[int(ti)%len(types)]
		regs := regsOf(data)
		r, err := sunspec.DecodeRaw(typ, regs)
		if err != nil {
			return
		}
		if r.IsText {
			return
		}
		if math.IsNaN(r.Num) || math.IsInf(r.Num, 0) {
			t.Fatalf("%s %04x = %v", typ, regs, r.Num)
		}
		if typ == "int16" && regs[0] == 0x8000 || typ == "uint16" && regs[0] == 0xFFFF {
			t.Fatalf("%s %04x: a sentinel decoded as %v", typ, regs, r.Num)
		}
		if _, err := sunspec.Scale(r.Num, 3); err != nil {
			t.Fatal(err)
		}
	})
}
