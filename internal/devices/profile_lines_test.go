package devices

import (
	"strings"
	"testing"
)

// TestProfileErrorOnTheKeysLine: in a block-style point, a bad value is
// reported on the line of its key, not of the point's first line; an
// error about the whole point is on the point's line.
func TestProfileErrorOnTheKeysLine(t *testing.T) {
	doc := "name: t\nkind: meter\ngroups: [{name: g, period: 1s}]\npoints:\n" +
		"  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n" +
		"  - name: y\n" + // line 6
		"    address: 2\n" +
		"    type: uint16\n" +
		"    table: inputs\n" + // line 9
		"    group: g\n"
	_, err := ParseProfile([]byte(doc), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), `p.yaml:9: points[1] (y).table: "inputs" is not`) {
		t.Errorf("bad table on line 9: %v", err)
	}
	doc = strings.Replace(doc, "    group: g\n", "", 1)
	doc = strings.Replace(doc, "table: inputs", "table: input", 1)
	_, err = ParseProfile([]byte(doc), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "p.yaml:6: points[1] (y).group: a readable point needs a read group") {
		t.Errorf("missing group, reported on the point's line 6: %v", err)
	}
}
