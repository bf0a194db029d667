package devices

import (
	"strings"
	"testing"
)

// TestSemanticsValidationEdges: min/max, enum and bit-field rules at
// their edges, both ways.
func TestSemanticsValidationEdges(t *testing.T) {
	head := "name: t\nkind: pcs\ngroups: [{name: g, period: 1s}]\npoints:\n  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n  - {name: p_set_kw, table: holding, address: 0, type: int16, writable: true}\n"
	for _, c := range []struct{ point, want string }{ // want "" = valid
		{"{name: x, table: input, address: 1, type: int16, group: g, min: -1, max: 1}", ""},
		{"{name: x, table: input, address: 1, type: int16, group: g, min: 1, max: 1}", "min 1 is not below max 1"},
		{"{name: x, table: input, address: 1, type: int16, group: g, min: 2, max: 1}", "min 2 is not below max 1"},
		{"{name: x, table: input, address: 1, type: int16, group: g, min: -.inf}", "must be finite"},
		{"{name: x, table: input, address: 1, type: int16, group: g, max: .nan}", "must be finite"},
		{"{name: state, table: input, address: 1, type: float32, group: g, enum: {0: stopped}}", "integer codes"},
		{"{name: state, table: input, address: 1, type: float64, group: g, enum: {0: stopped}}", "integer codes"},
		{"{name: state, table: input, address: 1, type: uint16, offset: 1, group: g, enum: {0: stopped}}", "integer codes"},
		{"{name: state, table: input, address: 1, type: uint16, scale_point: sf, group: g, enum: {0: stopped}}", "integer codes"},
		{"{name: sf, table: input, address: 2, type: int16, group: g}", ""},
		// A read-only enum may give a name two codes.
		{"{name: state, table: input, address: 1, type: uint16, group: g, enum: {3: fault, 5: fault}}", ""},
		{"{name: x, table: input, address: 1, type: float64, bit_width: 1, group: g}", "does not fit"},
		{"{name: x, table: discrete, address: 1, bit_width: 1, group: g}", "does not fit"},
		{"{name: x, table: input, address: 1, type: uint64, word_order: DCBA, group: g}", ""},
		{"{name: x, table: input, address: 1, type: uint64, word_order: badc, group: g}", ""},
		{"{name: x, table: input, address: 1, type: uint64, word_order: bcda, group: g}", "word_order"},
		{"{name: run, table: holding, address: 1, type: uint16, writable: true, write_fc: 6}", ""},
		{"{name: run, table: holding, address: 1, type: uint16, writable: true, write_fc: 16}", ""},
		{"{name: run, table: coil, address: 1, writable: true, write_fc: 5}", ""},
	} {
		doc := head + "  - " + c.point + "\n"
		if strings.Contains(c.point, "scale_point: sf") {
			doc += "  - {name: sf, table: input, address: 2, type: int16, group: g}\n"
		}
		_, err := ParseProfile([]byte(doc), "edge.yaml")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.point, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error about %q", c.point, err, c.want)
		}
	}
}
