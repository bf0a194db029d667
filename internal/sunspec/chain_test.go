package sunspec_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
)

// imageReader serves an image in memory; reads outside it fail like a
// Modbus illegal-data-address exception.
type imageReader struct{ img *sunspecsim.Image }

var errIllegal = errors.New("illegal data address")

func (r imageReader) ReadRegisters(addr, qty uint16) ([]uint16, error) {
	lo := int(addr) - int(r.img.Base)
	if lo < 0 || lo+int(qty) > len(r.img.Regs) {
		return nil, errIllegal
	}
	return r.img.Regs[lo : lo+int(qty)], nil
}

// shortReader answers one register short from the given address on.
type shortReader struct {
	imageReader
	from uint16
}

func (r shortReader) ReadRegisters(addr, qty uint16) ([]uint16, error) {
	regs, err := r.imageReader.ReadRegisters(addr, qty)
	if err == nil && addr >= r.from {
		regs = regs[:len(regs)-1]
	}
	return regs, err
}

func build(t *testing.T, base uint16, models []sunspecsim.Model, noEnd bool) *sunspecsim.Image {
	t.Helper()
	img, err := sunspecsim.Build(base, models, noEnd)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestDiscoverAtEachBase(t *testing.T) {
	for _, base := range sunspec.Bases {
		img := build(t, base, []sunspecsim.Model{{ID: 1}, {ID: 124}}, false)
		c, err := sunspec.Discover(imageReader{img})
		if err != nil {
			t.Fatalf("base %d: %v", base, err)
		}
		if c.Base != base || len(c.Models) != 2 || c.Models[1].ID != 124 || int(c.End) != int(base)+len(img.Regs)-2 {
			t.Errorf("base %d: got base %d, %d models, end %d", base, c.Base, len(c.Models), c.End)
		}
	}
	img := build(t, 30000, []sunspecsim.Model{{ID: 1}}, false)
	if _, err := sunspec.Discover(imageReader{img}); err == nil || !strings.Contains(err.Error(), "no SunS marker") {
		t.Errorf("marker at 30000: %v", err)
	}
}

// TestBrokenChains: each way a chain breaks is diagnosed at the right
// register, with the models before it kept.
func TestBrokenChains(t *testing.T) {
	common := sunspecsim.Model{ID: 1}
	cases := []struct {
		name   string
		models []sunspecsim.Model
		noEnd  bool
		short  bool
		addr   int
		want   string
	}{
		{"overrun", []sunspecsim.Model{common, {ID: 124, Len: 300}}, false, false, 40070, "length 300 overruns what the device serves"},
		{"length too short", []sunspecsim.Model{common, {ID: 124, Len: 10}, {ID: 802}}, false, false, 40070, "length 10 does not fit its definition"},
		{"unknown model", []sunspecsim.Model{common, {ID: 64901, Raw: 4}}, false, false, 40070, "unknown model id 64901"},
		{"no end marker", []sunspecsim.Model{common, {ID: 124}}, true, false, 40070 + 26, "no end marker"},
		{"common not first", []sunspecsim.Model{{ID: 124}}, false, false, 40002, "first model must be the common model"},
		{"count disagrees", []sunspecsim.Model{common, {ID: 711, Repeat: map[string]int{"NCtl": 2}, Len: 22}}, false, false, 40070, "does not fit"},
		{"empty", nil, false, false, 40002, "chain is empty"},
		{"short read", []sunspecsim.Model{common, {ID: 124}}, false, true, 40070, "short answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := build(t, 40000, tc.models, tc.noEnd)
			var r sunspec.Reader = imageReader{img}
			if tc.short {
				r = shortReader{imageReader{img}, 40070}
			}
			c, err := sunspec.Discover(r)
			var ce *sunspec.ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("want a ChainError, got %v", err)
			}
			if ce.Addr != tc.addr || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q at %d, want %q at %d", err, ce.Addr, tc.want, tc.addr)
			}
			if tc.addr > 40002 && (c == nil || len(c.Models) == 0 || c.Models[0].ID != 1) {
				t.Errorf("the common model read before the break is lost: %+v", c)
			}
		})
	}
}

func TestNotImplementedReadsAsNoValue(t *testing.T) {
	cases := []struct {
		typ  string
		regs []uint16
	}{
		{"int16", []uint16{0x8000}}, {"sunssf", []uint16{0x8000}},
		{"uint16", []uint16{0xFFFF}}, {"enum16", []uint16{0xFFFF}}, {"bitfield16", []uint16{0xFFFF}},
		{"acc16", []uint16{0}}, {"acc32", []uint16{0, 0}},
		{"int32", []uint16{0x8000, 0}}, {"uint32", []uint16{0xFFFF, 0xFFFF}},
		{"enum32", []uint16{0xFFFF, 0xFFFF}}, {"bitfield32", []uint16{0xFFFF, 0xFFFF}},
		{"int64", []uint16{0x8000, 0, 0, 0}}, {"uint64", []uint16{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}},
		{"float32", []uint16{0x7FC0, 0}}, {"float32", []uint16{0x7FFF, 0xFFFF}}, {"float32", []uint16{0xFFC0, 0}},
		{"float64", []uint16{0x7FF8, 0, 0, 0}}, {"string", []uint16{0, 0, 0}}, {"pad", []uint16{0x8000}},
	}
	for _, tc := range cases {
		if _, err := sunspec.DecodeRaw(tc.typ, tc.regs); !errors.Is(err, sunspec.ErrNotImplemented) {
			t.Errorf("%s %04x: %v, want not implemented", tc.typ, tc.regs, err)
		}
	}
	good := []struct {
		typ  string
		regs []uint16
		want float64
	}{
		{"int16", []uint16{0x8001}, -32767}, {"int16", []uint16{0x7FFF}, 32767}, {"uint16", []uint16{0xFFFE}, 65534},
		{"int32", []uint16{0xFFFF, 0xFFFE}, -2}, {"uint32", []uint16{1, 0}, 65536},
		{"float32", []uint16{0x4049, 0x0FDB}, float64(float32(math.Pi))}, {"acc32", []uint16{0, 1}, 1},
	}
	for _, tc := range good {
		r, err := sunspec.DecodeRaw(tc.typ, tc.regs)
		if err != nil || r.Num != tc.want {
			t.Errorf("%s %04x = %v, %v; want %v", tc.typ, tc.regs, r.Num, err, tc.want)
		}
	}
	for _, tc := range []struct {
		typ  string
		regs []uint16
	}{{"int32", []uint16{1}}, {"float32", []uint16{1, 2, 3}}, {"blob", []uint16{1}}, {"string", nil}} {
		if _, err := sunspec.DecodeRaw(tc.typ, tc.regs); err == nil || errors.Is(err, sunspec.ErrNotImplemented) {
			t.Errorf("%s %04x: want a decoding error, got %v", tc.typ, tc.regs, err)
		}
	}
}

// TestScaleFactorNotImplemented: a point whose scale factor reads 0x8000
// (or lies outside -10..10) has no value, never a number.
func TestScaleFactorNotImplemented(t *testing.T) {
	img := build(t, 40000, []sunspecsim.Model{{ID: 1}, {ID: 103}}, false)
	c, err := sunspec.Discover(imageReader{img})
	if err != nil {
		t.Fatal(err)
	}
	m := &c.Models[1]
	sf, _ := m.Point("W_SF")
	w, _ := m.Point("W")
	if !w.OK {
		t.Fatalf("W before: %s", w.Why)
	}
	for _, bad := range []uint16{0x8000, 11, 0xFFF5} {
		m.Regs[sf.Offset] = bad
		if w, _ := m.Point("W"); w.OK || w.Why == "" {
			t.Errorf("W_SF %04x: W = %v (ok), want no value", bad, w.Number)
		}
	}
}
