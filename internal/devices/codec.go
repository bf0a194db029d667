package devices

import (
	"fmt"
	"math"
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
)

// Words is the number of 16-bit registers the type takes.
func (t Type) Words() int {
	switch t {
	case Int16, Uint16:
		return 1
	case Int32, Uint32, Float32:
		return 2
	case Int64, Uint64:
		return 4
	}
	return 0
}

// WordOrder says which register of a multi-register value comes first.
// Bytes inside a register are always big-endian, as Modbus sends them.
type WordOrder string

// Word orders. HighFirst is "ABCD" (big-endian words), LowFirst is "CDAB".
const (
	HighFirst WordOrder = "high_first"
	LowFirst  WordOrder = "low_first"
)

// Table is the Modbus register table a point lives in.
type Table string

// Register tables.
const (
	Holding Table = "holding"
	Input   Table = "input"
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

// raw assembles the point's registers into a 64-bit pattern, high word first.
func (p *Point) raw(regs []uint16) uint64 {
	n := p.Words()
	var u uint64
	for i := 0; i < n; i++ {
		w := regs[i]
		if p.WordOrder == LowFirst {
			w = regs[n-1-i]
		}
		u = u<<16 | uint64(w)
	}
	return u
}

// Decode turns the point's registers into an engineering value. regs must
// hold exactly Words() registers; sf is the scale-factor exponent, or 0.
func (p *Point) Decode(regs []uint16, sf int16) (float64, error) {
	if len(regs) < p.Words() {
		return 0, fmt.Errorf("point %s: need %d registers, have %d", p.Name, p.Words(), len(regs))
	}
	u := p.raw(regs)
	var v float64
	switch p.Type {
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
			return 0, fmt.Errorf("point %s: not a number", p.Name)
		}
		v = float64(f)
	case Int64:
		v = float64(int64(u))
	case Uint64:
		v = float64(u)
	default:
		return 0, fmt.Errorf("point %s: unknown type %q", p.Name, p.Type)
	}
	if p.BitWidth > 0 {
		v = float64((u >> p.BitOffset) & (1<<p.BitWidth - 1))
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
	var u uint64
	switch p.Type {
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
	for i := 0; i < n; i++ {
		w := uint16(u >> (16 * (n - 1 - i)))
		if p.WordOrder == LowFirst {
			dst[n-1-i] = w
		} else {
			dst[i] = w
		}
	}
	return nil
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

// RegsToBytes converts registers into Modbus wire bytes, appending to dst.
func RegsToBytes(regs []uint16, dst []byte) []byte {
	for _, r := range regs {
		dst = append(dst, byte(r>>8), byte(r))
	}
	return dst
}
