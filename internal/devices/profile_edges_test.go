package devices

import (
	"strings"
	"testing"
)

// TestProfileValidationEdges: the register and bit-field limits accept
// exactly what fits and refuse one past it.
func TestProfileValidationEdges(t *testing.T) {
	head := "name: t\nkind: meter\ngroups: [{name: g, period: 1s}]\npoints:\n  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n"
	for _, c := range []struct{ point, want string }{
		// The last register is 65535.
		{"{name: x, table: input, address: 65535, type: uint16, group: g}", ""},
		{"{name: x, table: input, address: 65534, type: uint32, group: g}", ""},
		{"{name: x, table: input, address: 65535, type: uint32, group: g}", "past register 65535"},
		// Bit fields up to the top bit of the word(s).
		{"{name: x, table: input, address: 1, type: uint16, bit_offset: 12, bit_width: 4, group: g}", ""},
		{"{name: x, table: input, address: 1, type: uint16, bit_offset: 13, bit_width: 4, group: g}", "does not fit"},
		{"{name: x, table: input, address: 1, type: uint32, bit_offset: 30, bit_width: 2, group: g}", ""},
		{"{name: x, table: input, address: 1, type: uint32, bit_offset: 31, bit_width: 2, group: g}", "does not fit"},
		{"{name: x, table: input, address: 1, type: uint64, bit_offset: 60, bit_width: 4, group: g}", ""},
		{"{name: x, table: input, address: 1, type: uint64, bit_offset: 61, bit_width: 4, group: g}", "does not fit"},
	} {
		_, err := ParseProfile([]byte(head+"  - "+c.point+"\n"), "edge.yaml")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.point, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error about %q", c.point, err, c.want)
		}
	}
}
