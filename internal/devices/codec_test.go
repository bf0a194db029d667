package devices

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestCodecRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		pt   Point
		sf   int16
		v    float64
		regs []uint16
	}{
		{"int16 negative", Point{Type: Int16}, 0, -2, []uint16{0xfffe}},
		{"int16 min", Point{Type: Int16}, 0, -32768, []uint16{0x8000}},
		{"uint16 max", Point{Type: Uint16}, 0, 65535, []uint16{0xffff}},
		{"int32 high first", Point{Type: Int32, WordOrder: HighFirst}, 0, -123456, []uint16{0xfffe, 0x1dc0}},
		{"int32 low first", Point{Type: Int32, WordOrder: LowFirst}, 0, -123456, []uint16{0x1dc0, 0xfffe}},
		{"uint32 high first", Point{Type: Uint32, WordOrder: HighFirst}, 0, 0x12345678, []uint16{0x1234, 0x5678}},
		{"uint32 low first", Point{Type: Uint32, WordOrder: LowFirst}, 0, 0x12345678, []uint16{0x5678, 0x1234}},
		{"float32 high first", Point{Type: Float32, WordOrder: HighFirst}, 0, 1.5, []uint16{0x3fc0, 0}},
		{"float32 low first", Point{Type: Float32, WordOrder: LowFirst}, 0, -50.25, []uint16{0, 0xc249}},
		{"int64 high first", Point{Type: Int64, WordOrder: HighFirst}, 0, -2, []uint16{0xffff, 0xffff, 0xffff, 0xfffe}},
		{"int64 low first", Point{Type: Int64, WordOrder: LowFirst}, 0, -2, []uint16{0xfffe, 0xffff, 0xffff, 0xffff}},
		{"uint64 high first", Point{Type: Uint64, WordOrder: HighFirst}, 0, 0x0001000200030004, []uint16{1, 2, 3, 4}},
		{"uint64 low first", Point{Type: Uint64, WordOrder: LowFirst}, 0, 0x0001000200030004, []uint16{4, 3, 2, 1}},
		{"empty word order is high first", Point{Type: Uint32}, 0, 65536, []uint16{1, 0}},
		{"scale", Point{Type: Int32, Scale: 0.1}, 0, -100.5, []uint16{0xffff, 0xfc13}},
		{"scale negative int16", Point{Type: Int16, Scale: 0.1}, 0, -12.3, []uint16{0xff85}},
		{"scale and offset", Point{Type: Uint16, Scale: 0.1, Offset: -40}, 0, 25, []uint16{650}},
		{"offset below zero", Point{Type: Int16, Offset: -40}, 0, -45, []uint16{0xfffb}},
		{"sunspec sf -2", Point{Type: Uint16}, -2, 123.45, []uint16{12345}},
		{"sunspec sf 3", Point{Type: Int16}, 3, -5000, []uint16{0xfffb}},
		{"sunspec sf with scale", Point{Type: Uint16, Scale: 2}, -1, 24.6, []uint16{123}},
		{"float32 with scale", Point{Type: Float32, Scale: 1000}, 0, 1500, []uint16{0x3fc0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.pt
			p.Name = "x"
			if p.WordOrder == "" {
				p.WordOrder = HighFirst
			}
			got, err := p.Decode(c.regs, c.sf)
			if err != nil || math.Abs(got-c.v) > 1e-9*math.Max(1, math.Abs(c.v)) {
				t.Errorf("Decode(%#04x, sf %d) = %v, %v; want %v", c.regs, c.sf, got, err, c.v)
			}
			dst := make([]uint16, p.Words())
			if err := p.Encode(c.v, c.sf, dst); err != nil || !slices.Equal(dst, c.regs) {
				t.Errorf("Encode(%v, sf %d) = %#04x, %v; want %#04x", c.v, c.sf, dst, err, c.regs)
			}
		})
	}
}

func TestCodecRounds(t *testing.T) {
	p := Point{Name: "x", Type: Int16, Scale: 0.1, WordOrder: HighFirst}
	dst := make([]uint16, 1)
	for v, want := range map[float64]uint16{12.34: 123, 12.36: 124, -0.06: 0xffff} {
		if err := p.Encode(v, 0, dst); err != nil || dst[0] != want {
			t.Errorf("Encode(%v) = %#04x, %v; want %#04x", v, dst[0], err, want)
		}
	}
}

func TestCodecBitFields(t *testing.T) {
	for _, c := range []struct {
		pt   Point
		regs []uint16
		want float64
	}{
		{Point{Type: Uint16, BitOffset: 0, BitWidth: 1}, []uint16{0x0005}, 1},
		{Point{Type: Uint16, BitOffset: 1, BitWidth: 1}, []uint16{0x0005}, 0},
		{Point{Type: Uint16, BitOffset: 2, BitWidth: 3}, []uint16{0x00b4}, 5},
		{Point{Type: Uint16, BitOffset: 15, BitWidth: 1}, []uint16{0x8000}, 1},
		{Point{Type: Uint16, BitOffset: 0, BitWidth: 16}, []uint16{0xffff}, 65535},
		// Across the word boundary of a low-word-first uint32: bits 14..17.
		{Point{Type: Uint32, WordOrder: LowFirst, BitOffset: 14, BitWidth: 4}, []uint16{0xc000, 0x0003}, 15},
		{Point{Type: Uint32, WordOrder: HighFirst, BitOffset: 16, BitWidth: 2}, []uint16{0x0002, 0xffff}, 2},
		// Scale applies to the field.
		{Point{Type: Uint16, BitOffset: 4, BitWidth: 4, Scale: 10}, []uint16{0x0030}, 30},
	} {
		p := c.pt
		p.Name = "bits"
		if p.WordOrder == "" {
			p.WordOrder = HighFirst
		}
		got, err := p.Decode(c.regs, 0)
		if err != nil || got != c.want {
			t.Errorf("%+v: Decode(%#04x) = %v, %v; want %v", c.pt, c.regs, got, err, c.want)
		}
	}
	p := Point{Name: "bits", Type: Uint16, BitWidth: 1}
	if err := p.Encode(1, 0, make([]uint16, 1)); err == nil {
		t.Error("encoding a bit field should be an error")
	}
}

func TestCodecErrors(t *testing.T) {
	enc := []struct {
		pt   Point
		v    float64
		want string
	}{
		{Point{Type: Int16}, 32768, "outside the int16 range"},
		{Point{Type: Int16}, -32769, "outside the int16 range"},
		{Point{Type: Uint16}, -1, "outside the uint16 range"},
		{Point{Type: Uint16}, 65536, "outside the uint16 range"},
		{Point{Type: Uint16, Scale: 0.1}, 6553.6, "outside the uint16 range"},
		{Point{Type: Uint16}, 10, ""}, // control: fits
		{Point{Type: Int32}, 3e9, "outside the int32 range"},
		{Point{Type: Uint32}, -0.6, "outside the uint32 range"},
		{Point{Type: Uint32}, 5e9, "outside the uint32 range"},
		{Point{Type: Int64}, 1e17, "outside the int64 range"},
		{Point{Type: Uint64}, -1, "outside the uint64 range"},
		{Point{Type: Float32}, 1e39, "overflows float32"},
		{Point{Type: Float32}, math.NaN(), "not finite"},
		{Point{Type: Int16}, math.Inf(1), "not finite"},
		{Point{Type: Uint16, Offset: -40}, -41, "outside the uint16 range"},
	}
	for _, c := range enc {
		p := c.pt
		p.Name, p.WordOrder = "x", HighFirst
		err := p.Encode(c.v, 0, make([]uint16, 4))
		if c.want == "" {
			if err != nil {
				t.Errorf("%s Encode(%v): %v", p.Type, c.v, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s Encode(%v) = %v, want an error about %q", p.Type, c.v, err, c.want)
		}
	}
	f := Point{Name: "f", Type: Float32, WordOrder: HighFirst}
	for _, regs := range [][]uint16{{0x7fc0, 0}, {0x7f80, 0}, {0xff80, 0}} {
		if _, err := f.Decode(regs, 0); err == nil || !strings.Contains(err.Error(), "not a number") {
			t.Errorf("Decode(%#04x) = %v, want not a number", regs, err)
		}
	}
	if _, err := f.Decode([]uint16{1}, 0); err == nil {
		t.Error("decoding too few registers should be an error")
	}
	if err := f.Encode(1, 0, make([]uint16, 1)); err == nil {
		t.Error("encoding into too few registers should be an error")
	}
	bad := Point{Name: "b", Type: "int8"}
	if _, err := bad.Decode([]uint16{1}, 0); err == nil {
		t.Error("decoding an unknown type should be an error")
	}
}

func TestTypeWordsAndBytes(t *testing.T) {
	for ty, n := range map[Type]int{Int16: 1, Uint16: 1, Int32: 2, Uint32: 2, Float32: 2, Int64: 4, Uint64: 4, "x": 0} {
		if ty.Words() != n {
			t.Errorf("%s.Words() = %d, want %d", ty, ty.Words(), n)
		}
	}
	b := RegsToBytes([]uint16{0x1234, 0xabcd}, []byte{9})
	if !slices.Equal(b, []byte{9, 0x12, 0x34, 0xab, 0xcd}) {
		t.Errorf("RegsToBytes = % x", b)
	}
	r := make([]uint16, 2)
	BytesToRegs(b[1:], r)
	if !slices.Equal(r, []uint16{0x1234, 0xabcd}) {
		t.Errorf("BytesToRegs = %#04x", r)
	}
}
