// Package jsonnum has a float type for JSON documents that may hold
// missing measurements: NaN and ±Inf encode as null instead of failing.
package jsonnum

import (
	"math"
	"strconv"
)

// Float is a float64 that encodes NaN and ±Inf as JSON null.
type Float float64

// MarshalJSON encodes f in the shortest exact form, or null when it is not finite.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON decodes a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*f = Float(v)
	return err
}
