package devices

import (
	"errors"
	"testing"
)

// TestSentinelsPerType: with sentinel set, each type's SunSpec "not
// implemented" pattern, a NaN float and the scale factor 0x8000 decode
// as no value; one step off the pattern, or without sentinel, they are
// numbers (or, for NaN, not a number).
func TestSentinelsPerType(t *testing.T) {
	for _, c := range []struct {
		typ       Type
		na, other []uint16
	}{
		{Int16, []uint16{0x8000}, []uint16{0x8001}},
		{Uint16, []uint16{0xffff}, []uint16{0xfffe}},
		{Int32, []uint16{0x8000, 0}, []uint16{0x8000, 1}},
		{Uint32, []uint16{0xffff, 0xffff}, []uint16{0xffff, 0xfffe}},
		{Int64, []uint16{0x8000, 0, 0, 0}, []uint16{0x8000, 0, 0, 1}},
		{Uint64, []uint16{0xffff, 0xffff, 0xffff, 0xffff}, []uint16{0xffff, 0xffff, 0xffff, 0xfffe}},
		{Float32, []uint16{0x7fc0, 0}, []uint16{0x3f80, 0}},
		{Float64, []uint16{0x7ff8, 0, 0, 0}, []uint16{0x3ff0, 0, 0, 0}},
	} {
		p := Point{Name: "x", Type: c.typ, WordOrder: HighFirst, Sentinel: true}
		if _, err := p.Decode(c.na, 0); !errors.Is(err, ErrNoValue) {
			t.Errorf("%s %#04x with sentinel: %v, want no value", c.typ, c.na, err)
		}
		if _, err := p.Decode(c.other, 0); err != nil {
			t.Errorf("%s %#04x with sentinel: %v, want a number", c.typ, c.other, err)
		}
		if _, err := p.Decode(c.other, SFNotImplemented); !errors.Is(err, ErrNoValue) {
			t.Errorf("%s %#04x at scale factor 0x8000: %v, want no value", c.typ, c.other, err)
		}
		p.Sentinel = false
		if _, err := p.Decode(c.na, 0); errors.Is(err, ErrNoValue) || (err == nil) == (c.typ == Float32 || c.typ == Float64) {
			t.Errorf("%s %#04x without sentinel: %v, want a number (not a number for a NaN float)", c.typ, c.na, err)
		}
		if _, err := p.Decode(c.other, SFNotImplemented); err != nil {
			t.Errorf("%s %#04x without sentinel at scale factor -32768: %v; want a number (10^-32768 of it)", c.typ, c.other, err)
		}
	}
}
