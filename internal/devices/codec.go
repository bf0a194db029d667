package devices

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Type is the wire type of a point's raw value.
type Type string

// Wire types a point can have.
const (
	Int16   Type = "int16"
	Uint16  Type = "uint16"
	Int32   Type = "int32"
	Uint32  Type = "uint32"
	Float32 Type = "float32"
	Int64   Type = "int64"
	Uint64  Type = "uint64"
	Float64 Type = "float64"
	// Bool is one coil or discrete input: 0 or 1.
	Bool Type = "bool"
)

// Types lists the wire types, for error messages.
var Types = []Type{Int16, Uint16, Int32, Uint32, Float32, Int64, Uint64, Float64, Bool}

// Words is the number of 16-bit registers the type takes.
func (t Type) Words() int {
	switch t {
	case Int16, Uint16, Bool:
		return 1
	case Int32, Uint32, Float32:
		return 2
	case Int64, Uint64, Float64:
		return 4
	}
	return 0
}

// WordOrder is the byte order of a multi-register value, named by where
// the bytes A (most significant) to D of a 32-bit value land on the wire;
// a 64-bit value extends the pattern (abcd: ABCDEFGH, cdab: GHEFCDAB,
// badc: BADCFEHG, dcba: HGFEDCBA).
type WordOrder string

// Word orders. HighFirst and LowFirst are the older names of ABCD and CDAB,
// still accepted in profiles.
const (
	ABCD      WordOrder = "abcd" // big-endian words, big-endian bytes
	CDAB      WordOrder = "cdab" // low word first
	BADC      WordOrder = "badc" // high word first, bytes swapped
	DCBA      WordOrder = "dcba" // little-endian
	HighFirst           = ABCD
	LowFirst            = CDAB
)

// orderNames maps every accepted spelling to its order.
var orderNames = map[string]WordOrder{
	"abcd": ABCD, "cdab": CDAB, "badc": BADC, "dcba": DCBA,
	"high_first": ABCD, "low_first": CDAB,
}

// ParseWordOrder returns the order a profile spells s (abcd, cdab, badc,
// dcba in either case, or high_first, low_first).
func ParseWordOrder(s string) (WordOrder, bool) {
	o, ok := orderNames[strings.ToLower(s)]
	return o, ok
}

func (o WordOrder) lowFirst() bool  { return o == CDAB || o == DCBA }
func (o WordOrder) swapBytes() bool { return o == BADC || o == DCBA }

// Table is the Modbus table a point lives in.
type Table string

// Modbus tables.
const (
	Holding  Table = "holding"
	Input    Table = "input"
	Coil     Table = "coil"
	Discrete Table = "discrete"
)

// Bits reports whether the table holds single bits (coils, discrete inputs).
func (t Table) Bits() bool { return t == Coil || t == Discrete }

// Modbus function codes a point can be written with.
const (
	FC05 = 5  // write single coil
	FC06 = 6  // write single register
	FC16 = 16 // write multiple registers
)

// Point maps one standard quantity to registers and back.
//
// The engineering value is
//
//	value = (field(raw) * Scale * 10^sf) + Offset
//
// where field() extracts BitWidth bits at BitOffset (whole value when BitWidth
// is 0) and sf is the value of the ScalePoint register (SunSpec style), or 0
// when the point has none.
type Point struct {
	Name      string    `yaml:"name"`
	Table     Table     `yaml:"table"`
	Address   uint16    `yaml:"address"`
	Type      Type      `yaml:"type"`
	WordOrder WordOrder `yaml:"word_order,omitempty"`
	// Scale multiplies the raw value; 0 in a profile file means 1.
	Scale float64 `yaml:"scale,omitempty"`
	// Offset is added after scaling, e.g. -40 for a temperature sent as °C+40.
	Offset float64 `yaml:"offset,omitempty"`
	// ScalePoint names an int16 point whose raw value is a power-of-ten
	// exponent applied to this point (a SunSpec scale factor).
	ScalePoint string `yaml:"scale_point,omitempty"`
	// BitOffset and BitWidth select a bit field of an unsigned status word.
	BitOffset uint8 `yaml:"bit_offset,omitempty"`
	BitWidth  uint8 `yaml:"bit_width,omitempty"`
	// Flags names the bits of an alarm or status word, for event text.
	Flags map[uint8]string `yaml:"flags,omitempty"`
	// Group is the read group (poll rate class) the point is polled in.
	Group string `yaml:"group,omitempty"`
	// Writable marks a command point (setpoint, run/stop, heartbeat).
	Writable bool `yaml:"writable,omitempty"`
	// WriteFC is the function code the point is written with: 16 (the
	// default for registers), 6 (a single register) or 5 (a coil, its
	// default).
	WriteFC int `yaml:"write_fc,omitempty"`
	// Enum maps the device's codes to the names of the standard point's
	// vocabulary (plant.Standard.Enum); the point's value is the index
	// of the name. A code the map lacks does not decode.
	Enum map[int64]string `yaml:"enum,omitempty"`
	// enum is Enum resolved to vocabulary indices by Validate.
	enum map[int64]float64
	// Min and Max bound the plausible engineering value; a value outside
	// is graded invalid. They override the standard point's default
	// bounds (plant.Standard.Bounds).
	Min *float64 `yaml:"min,omitempty"`
	Max *float64 `yaml:"max,omitempty"`
	// Sentinel reads the SunSpec "not implemented" values (0x8000 int16,
	// 0xFFFF uint16, 0x80000000 int32, 0xFFFFFFFF uint32, the 64-bit
	// equivalents, NaN, and a scale factor of 0x8000) as no value.
	Sentinel bool `yaml:"sentinel,omitempty"`
	// Unit is the engineering unit after scaling, for documentation.
	Unit string `yaml:"unit,omitempty"`
	// Doc is a one-line description, for documentation.
	Doc string `yaml:"doc,omitempty"`
}

// Words is the number of registers the point occupies.
func (p *Point) Words() int { return p.Type.Words() }

// End is the address just past the point's last register.
func (p *Point) End() int { return int(p.Address) + p.Words() }

func (p *Point) scale(sf int16) float64 {
	s := p.Scale
	if s == 0 {
		s = 1
	}
	if sf != 0 {
		s *= math.Pow10(int(sf))
	}
	return s
}

// Raw assembles the point's registers into a bit pattern, most
// significant byte first, undoing the point's word order.
func (p *Point) Raw(regs []uint16) uint64 {
	n := p.Words()
	var u uint64
	for i := 0; i < n; i++ {
		w := regs[i]
		if p.WordOrder.lowFirst() {
			w = regs[n-1-i]
		}
		if p.WordOrder.swapBytes() {
			w = w<<8 | w>>8
		}
		u = u<<16 | uint64(w)
	}
	return u
}

// PutRaw writes the bit pattern u into the point's registers in its word
// order; dst must hold Words() registers.
func (p *Point) PutRaw(u uint64, dst []uint16) {
	n := p.Words()
	for i := 0; i < n; i++ {
		w := uint16(u >> (16 * (n - 1 - i)))
		if p.WordOrder.swapBytes() {
			w = w<<8 | w>>8
		}
		if p.WordOrder.lowFirst() {
			dst[n-1-i] = w
		} else {
			dst[i] = w
		}
	}
}

// ErrCode is the error of a code a point's enum map does not name.
var ErrCode = errors.New("code not in the enum map")

// ErrNoValue is the error of a SunSpec "not implemented" value.
var ErrNoValue = errors.New("not implemented (sentinel value)")

func (p *Point) notANumber() error {
	if p.Sentinel {
		return fmt.Errorf("point %s: %w", p.Name, ErrNoValue)
	}
	return fmt.Errorf("point %s: not a number", p.Name)
}

// SFNotImplemented is the SunSpec scale factor that means "not implemented".
const SFNotImplemented = -0x8000

// sentinel reports whether the bit pattern u is the point type's
// "not implemented" value.
func (p *Point) sentinel(u uint64) bool {
	switch p.Type {
	case Int16:
		return u == 0x8000
	case Uint16:
		return u == 0xFFFF
	case Int32:
		return u == 0x8000_0000
	case Uint32:
		return u == 0xFFFF_FFFF
	case Int64:
		return u == 0x8000_0000_0000_0000
	case Uint64:
		return u == 0xFFFF_FFFF_FFFF_FFFF
	}
	return false
}

// Decode turns the point's registers into an engineering value. regs must
// hold exactly Words() registers; sf is the scale-factor exponent, or 0.
func (p *Point) Decode(regs []uint16, sf int16) (float64, error) {
	if len(regs) < p.Words() {
		return 0, fmt.Errorf("point %s: need %d registers, have %d", p.Name, p.Words(), len(regs))
	}
	u := p.Raw(regs)
	if p.Sentinel && (p.sentinel(u) || sf == SFNotImplemented) {
		return 0, fmt.Errorf("point %s: %w", p.Name, ErrNoValue)
	}
	var v float64
	switch p.Type {
	case Bool:
		v = 0
		if u != 0 {
			v = 1
		}
	case Int16:
		v = float64(int16(u))
	case Uint16:
		v = float64(uint16(u))
	case Int32:
		v = float64(int32(u))
	case Uint32:
		v = float64(uint32(u))
	case Float32:
		f := math.Float32frombits(uint32(u))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return 0, p.notANumber()
		}
		v = float64(f)
	case Int64:
		v = float64(int64(u))
	case Uint64:
		v = float64(u)
	case Float64:
		v = math.Float64frombits(u)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, p.notANumber()
		}
	default:
		return 0, fmt.Errorf("point %s: unknown type %q", p.Name, p.Type)
	}
	if p.BitWidth > 0 {
		v = float64((u >> p.BitOffset) & (1<<p.BitWidth - 1))
	}
	if p.enum != nil {
		s, ok := p.enum[int64(v)]
		if !ok {
			return 0, fmt.Errorf("point %s: %w: %#x", p.Name, ErrCode, int64(v))
		}
		return s, nil
	}
	return v*p.scale(sf) + p.Offset, nil
}

// Encode turns an engineering value into the point's registers, written
// into dst (which must hold Words() registers). A value that does not fit
// the wire type is an error, never a silent wrap.
func (p *Point) Encode(v float64, sf int16, dst []uint16) error {
	n := p.Words()
	if len(dst) < n {
		return fmt.Errorf("point %s: need %d registers, have %d", p.Name, n, len(dst))
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("point %s: value %v is not finite", p.Name, v)
	}
	if p.BitWidth > 0 {
		return fmt.Errorf("point %s: bit fields are read-only", p.Name)
	}
	x := (v - p.Offset) / p.scale(sf)
	if p.enum != nil {
		code, ok := p.code(v)
		if !ok {
			return fmt.Errorf("point %s: value %v has no code in the enum map", p.Name, v)
		}
		x = float64(code)
	}
	var u uint64
	switch p.Type {
	case Bool:
		if x != 0 {
			u = 1
		}
	case Float64:
		u = math.Float64bits(x)
	case Float32:
		f := float32(x)
		if math.IsInf(float64(f), 0) {
			return fmt.Errorf("point %s: value %v overflows float32", p.Name, v)
		}
		u = uint64(math.Float32bits(f))
	default:
		r := math.Round(x)
		lo, hi := p.Type.rangeOf()
		if r < lo || r > hi {
			return fmt.Errorf("point %s: value %v is outside the %s range after scaling", p.Name, v, p.Type)
		}
		// Every range is within ±2^53, so int64 holds r exactly, and its
		// two's complement bits are the wire pattern of signed and
		// unsigned types alike.
		u = uint64(int64(r))
	}
	p.PutRaw(u, dst)
	return nil
}

// code is the smallest device code the enum map gives the value v.
func (p *Point) code(v float64) (int64, bool) {
	var best int64
	found := false
	for c, x := range p.enum {
		if x == v && (!found || c < best) {
			best, found = c, true
		}
	}
	return best, found
}

// rangeOf is the representable integer range of the type.
func (t Type) rangeOf() (float64, float64) {
	switch t {
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Uint32:
		return 0, math.MaxUint32
	case Int64:
		// float64 cannot hold every int64; stay within exactly representable values.
		return -(1 << 53), 1 << 53
	case Uint64:
		return 0, 1 << 53
	}
	return 0, 0
}

// BytesToRegs converts Modbus wire bytes (big-endian registers) into dst,
// which must hold len(b)/2 registers.
func BytesToRegs(b []byte, dst []uint16) {
	for i := range len(b) / 2 {
		dst[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
}

// BitsToRegs unpacks a coil or discrete-input reply (bit i of the request
// in bit i%8 of byte i/8) into dst, one 0 or 1 per bit.
func BitsToRegs(b []byte, dst []uint16) {
	for i := range dst {
		dst[i] = uint16(b[i/8]>>(i%8)) & 1
	}
}

// RegsToBytes converts registers into Modbus wire bytes, appending to dst.
func RegsToBytes(regs []uint16, dst []byte) []byte {
	for _, r := range regs {
		dst = append(dst, byte(r>>8), byte(r))
	}
	return dst
}
