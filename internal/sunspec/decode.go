package sunspec

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// typeWords is the register count of a fixed-size type; 0 for string, whose
// size the definition gives, and -1 for an unknown type.
func typeWords(t string) int {
	switch t {
	case "int16", "uint16", "count", "acc16", "enum16", "bitfield16", "sunssf", "pad":
		return 1
	case "int32", "uint32", "acc32", "enum32", "bitfield32", "float32", "ipaddr":
		return 2
	case "eui48":
		return 4
	case "int64", "uint64", "acc64", "bitfield64", "float64":
		return 4
	case "ipv6addr":
		return 8
	case "string":
		return 0
	}
	return -1
}

// ErrNotImplemented marks a register holding the SunSpec "not implemented"
// value of its type: the point has no value.
var ErrNotImplemented = errors.New("not implemented")

// Raw is a decoded register value before scaling: a number, or for strings
// and addresses a text.
type Raw struct {
	Num  float64
	Text string
	// IsText is set for string, ipaddr, ipv6addr and eui48.
	IsText bool
}

// DecodeRaw decodes the registers of one point of type typ. A SunSpec "not
// implemented" value (0x8000 int16 and sunssf, 0xFFFF uint16/enum16/
// bitfield16/count, 0 for accumulators, 0x80000000 int32, 0xFFFFFFFF
// uint32/enum32/bitfield32, the 64-bit equivalents, a NaN float, an
// all-zero string or address) returns ErrNotImplemented. Wrong sizes and
// unknown types are errors, never a number.
func DecodeRaw(typ string, regs []uint16) (Raw, error) {
	w := typeWords(typ)
	switch {
	case w < 0:
		return Raw{}, fmt.Errorf("unknown type %q", typ)
	case w == 0 && len(regs) == 0:
		return Raw{}, fmt.Errorf("%s of 0 registers", typ)
	case w > 0 && len(regs) != w:
		return Raw{}, fmt.Errorf("%s needs %d registers, got %d", typ, w, len(regs))
	}
	var u uint64
	for _, r := range regs {
		u = u<<16 | uint64(r)
	}
	ni := func(sentinel uint64, v float64) (Raw, error) {
		if u == sentinel {
			return Raw{}, ErrNotImplemented
		}
		return Raw{Num: v}, nil
	}
	switch typ {
	case "pad":
		return Raw{}, ErrNotImplemented
	case "int16", "sunssf":
		return ni(0x8000, float64(int16(u)))
	case "uint16", "count", "enum16", "bitfield16":
		return ni(0xFFFF, float64(u))
	case "acc16", "acc32", "acc64":
		return ni(0, float64(u))
	case "int32":
		return ni(0x80000000, float64(int32(u)))
	case "uint32", "enum32", "bitfield32":
		return ni(0xFFFFFFFF, float64(u))
	case "int64":
		return ni(1<<63, float64(int64(u)))
	case "uint64", "bitfield64":
		return ni(math.MaxUint64, float64(u))
	case "float32":
		return finite(float64(math.Float32frombits(uint32(u))))
	case "float64":
		return finite(math.Float64frombits(u))
	case "string":
		b := make([]byte, 0, 2*len(regs))
		for _, r := range regs {
			b = append(b, byte(r>>8), byte(r))
		}
		s := strings.TrimRight(string(b), "\x00")
		if s == "" {
			return Raw{}, ErrNotImplemented
		}
		return Raw{Text: strings.ToValidUTF8(s, "?"), IsText: true}, nil
	}
	return decodeAddr(typ, regs, u)
}

// finite reads NaN as not implemented and an infinity as an error.
func finite(f float64) (Raw, error) {
	switch {
	case math.IsNaN(f):
		return Raw{}, ErrNotImplemented
	case math.IsInf(f, 0):
		return Raw{}, fmt.Errorf("%v is not a value", f)
	}
	return Raw{Num: f}, nil
}

// decodeAddr formats the address types; all-zero (ipaddr, ipv6addr) or
// all-ones (eui48) is not implemented.
func decodeAddr(typ string, regs []uint16, u uint64) (Raw, error) {
	var b []byte
	zero := true
	for _, r := range regs {
		b = append(b, byte(r>>8), byte(r))
		zero = zero && r == 0
	}
	switch typ {
	case "ipaddr":
		if zero {
			return Raw{}, ErrNotImplemented
		}
		return Raw{Text: fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3]), IsText: true}, nil
	case "ipv6addr":
		if zero {
			return Raw{}, ErrNotImplemented
		}
		var parts []string
		for _, r := range regs {
			parts = append(parts, fmt.Sprintf("%x", r))
		}
		return Raw{Text: strings.Join(parts, ":"), IsText: true}, nil
	}
	// eui48: the last 48 bits of 4 registers.
	if u == math.MaxUint64 || u&0xFFFFFFFFFFFF == 0xFFFFFFFFFFFF {
		return Raw{}, ErrNotImplemented
	}
	return Raw{Text: fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[2], b[3], b[4], b[5], b[6], b[7]), IsText: true}, nil
}

// maxSF bounds a scale factor's exponent (SunSpec allows -10..10).
const maxSF = 10

// Scale applies a scale-factor exponent to a raw number. A scale factor
// outside -10..10 is an error.
func Scale(v float64, sf int) (float64, error) {
	if sf < -maxSF || sf > maxSF {
		return 0, fmt.Errorf("scale factor %d outside -%d..%d", sf, maxSF, maxSF)
	}
	return v * math.Pow10(sf), nil
}
