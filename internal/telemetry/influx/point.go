package influx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one measurement at one instant. The Writer takes ownership of the
// maps: do not modify them after passing the point to Write.
type Point struct {
	// Measurement is the measurement name. Required.
	Measurement string
	// Tags are indexed string labels, e.g. {"device": "pcs-07"}. Tags with an
	// empty key or value are omitted.
	Tags map[string]string
	// Fields are the values. Supported types: float64, float32, all int and uint
	// types (uints above MaxInt64 are rejected: InfluxDB 1.x has no unsigned
	// type), bool and string. NaN and ±Inf floats are omitted. At least one field
	// must remain.
	Fields map[string]any
	// Time is the timestamp; the zero time means "when Write was called".
	Time time.Time
}

var (
	errNoMeasurement = errors.New("point has no measurement")
	errNoFields      = errors.New("point has no storable fields")
)

// encoder appends points as line protocol (nanosecond timestamps), one point per
// line. Newlines inside names and values are replaced by spaces, so a point is
// always exactly one line: the backlog counts points by counting lines.
type encoder struct {
	keys []string
}

// appendPoint appends p and a trailing newline to buf. On error buf is returned
// unchanged.
func (e *encoder) appendPoint(buf []byte, p *Point) ([]byte, error) {
	if p.Measurement == "" {
		return buf, errNoMeasurement
	}
	start := len(buf)
	buf = appendEscaped(buf, p.Measurement, ", ")

	e.keys = e.keys[:0]
	for k, v := range p.Tags {
		if k != "" && v != "" {
			e.keys = append(e.keys, k)
		}
	}
	slices.Sort(e.keys)
	for _, k := range e.keys {
		buf = append(buf, ',')
		buf = appendEscaped(buf, k, ",= ")
		buf = append(buf, '=')
		buf = appendEscaped(buf, p.Tags[k], ",= ")
	}

	e.keys = e.keys[:0]
	for k := range p.Fields {
		if k != "" {
			e.keys = append(e.keys, k)
		}
	}
	slices.Sort(e.keys)
	sep := byte(' ')
	n := 0
	for _, k := range e.keys {
		mark := len(buf)
		buf = append(buf, sep)
		buf = appendEscaped(buf, k, ",= ")
		buf = append(buf, '=')
		var ok bool
		var err error
		buf, ok, err = appendFieldValue(buf, p.Fields[k])
		if err != nil {
			return buf[:start], fmt.Errorf("field %q: %w", k, err)
		}
		if !ok {
			buf = buf[:mark]
			continue
		}
		sep = ','
		n++
	}
	if n == 0 {
		return buf[:start], errNoFields
	}
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, p.Time.UnixNano(), 10)
	return append(buf, '\n'), nil
}

// appendFieldValue appends v in line protocol. ok is false for values that
// cannot be stored and are omitted (NaN, ±Inf).
func appendFieldValue(buf []byte, v any) (_ []byte, ok bool, _ error) {
	switch x := v.(type) {
	case float64:
		return appendFloat(buf, x)
	case float32:
		return appendFloat(buf, float64(x))
	case int:
		return appendInt(buf, int64(x)), true, nil
	case int8:
		return appendInt(buf, int64(x)), true, nil
	case int16:
		return appendInt(buf, int64(x)), true, nil
	case int32:
		return appendInt(buf, int64(x)), true, nil
	case int64:
		return appendInt(buf, x), true, nil
	case uint:
		return appendUint(buf, uint64(x))
	case uint8:
		return appendInt(buf, int64(x)), true, nil
	case uint16:
		return appendInt(buf, int64(x)), true, nil
	case uint32:
		return appendInt(buf, int64(x)), true, nil
	case uint64:
		return appendUint(buf, x)
	case bool:
		if x {
			return append(buf, 't'), true, nil
		}
		return append(buf, 'f'), true, nil
	case string:
		buf = append(buf, '"')
		buf = appendEscaped(buf, x, `"\`)
		return append(buf, '"'), true, nil
	default:
		return buf, false, fmt.Errorf("unsupported type %T", v)
	}
}

func appendFloat(buf []byte, f float64) ([]byte, bool, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return buf, false, nil
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64), true, nil
}

func appendInt(buf []byte, i int64) []byte {
	return append(strconv.AppendInt(buf, i, 10), 'i')
}

func appendUint(buf []byte, u uint64) ([]byte, bool, error) {
	if u > math.MaxInt64 {
		return buf, false, fmt.Errorf("unsigned value %d exceeds int64", u)
	}
	return appendInt(buf, int64(u)), true, nil
}

// appendEscaped appends s with a backslash before every byte in special, and
// newlines and carriage returns replaced by spaces.
func appendEscaped(buf []byte, s, special string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n' || c == '\r':
			c = ' '
			if strings.IndexByte(special, ' ') >= 0 {
				buf = append(buf, '\\')
			}
		case strings.IndexByte(special, c) >= 0:
			buf = append(buf, '\\')
		}
		buf = append(buf, c)
	}
	return buf
}
