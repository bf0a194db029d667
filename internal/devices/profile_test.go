package devices

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
)

const planDoc = `
name: t-plan
kind: meter
max_gap: 2
groups:
  - {name: g, period: 100ms}
  - {name: h, period: 1s}
points:
  - {name: p_kw, table: input, address: 0, type: uint16, group: g}
  - {name: a, table: input, address: 1, type: uint32, group: g}
  - {name: b, table: input, address: 5, type: uint16, group: g}
  - {name: c, table: input, address: 9, type: uint16, group: g}
  - {name: d, table: holding, address: 3, type: uint16, group: g}
  - {name: e, table: input, address: 200, type: int16, scale_point: sf, group: g}
  - {name: sf, table: input, address: 300, type: int16, group: h}
  - {name: far, table: input, address: 323, type: uint64, group: h}
  - {name: edge, table: input, address: 424, type: uint16, group: h}
  - {name: edge2, table: input, address: 425, type: uint16, group: h}
  - {name: f_set, table: holding, address: 10, type: uint16, writable: true}
`

// blk is a Block in comparable form: table, start, count, point names.
type blk struct {
	table        Table
	start, count uint16
	points       string
}

func plan(p *Profile, group string) []blk {
	var out []blk
	for _, b := range p.Plan(group) {
		var names []string
		for _, i := range b.Points {
			names = append(names, p.Points[i].Name)
		}
		slices.Sort(names)
		out = append(out, blk{b.Table, b.Start, b.Count, strings.Join(names, ",")})
	}
	return out
}

func TestPlan(t *testing.T) {
	p := mustProfile(t, planDoc)
	// g: 0..2 and 5 merge across a gap of 2; 9 is 3 past 6, a new block;
	// holding is its own table; e pulls in its scale factor from group h.
	want := []blk{
		{Holding, 3, 1, "d"},
		{Input, 0, 6, "a,b,p_kw"},
		{Input, 9, 1, "c"},
		{Input, 200, 1, "e"},
		{Input, 300, 1, "sf"},
	}
	if got := plan(p, "g"); !slices.Equal(got, want) {
		t.Errorf("Plan(g)\n got %v\nwant %v", got, want)
	}
	// h: sf at 300 and far at 323..326 fit one read of 27 registers only
	// when the gap allows it (it does not: gap 22 > 2).
	want = []blk{
		{Input, 300, 1, "sf"},
		{Input, 323, 4, "far"},
		{Input, 424, 2, "edge,edge2"},
	}
	if got := plan(p, "h"); !slices.Equal(got, want) {
		t.Errorf("Plan(h)\n got %v\nwant %v", got, want)
	}
	if got := p.Plan("nope"); len(got) != 0 {
		t.Errorf("Plan of an unknown group = %v", got)
	}
}

func TestPlanLimit(t *testing.T) {
	p := mustProfile(t, `
name: t-limit
kind: meter
max_gap: 125
groups: [{name: g, period: 1s}]
points:
  - {name: p_kw, table: input, address: 0, type: uint16, group: g}
  - {name: a, table: input, address: 121, type: uint64, group: g}
  - {name: b, table: input, address: 124, type: uint32, group: g}
  - {name: c, table: input, address: 300, type: uint16, group: g}
`)
	// 0..124 is exactly 125 registers; b (124..125) would make 126.
	want := []blk{{Input, 0, 125, "a,p_kw"}, {Input, 124, 2, "b"}, {Input, 300, 1, "c"}}
	if got := plan(p, "g"); !slices.Equal(got, want) {
		t.Errorf("Plan\n got %v\nwant %v", got, want)
	}
	for _, b := range p.Plan("g") {
		if b.Count > MaxReadRegs {
			t.Errorf("block %+v exceeds %d registers", b, MaxReadRegs)
		}
	}
}

func TestProfileValidation(t *testing.T) {
	head := "name: t\nkind: meter\ngroups: [{name: g, period: 1s}]\npoints:\n  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n"
	for _, c := range []struct{ doc, want string }{
		{"kind: meter\ngroups: []\npoints: [{name: p_kw, table: input, address: 0, type: uint16}]", "name: missing"},
		{"name: t\nkind: inverter\n", "kind"},
		{"name: t\nkind: meter\nword_order: middle\n", "word_order"},
		{"name: t\nkind: meter\nmax_gap: 200\n", "max_gap"},
		{"name: t\nkind: meter\ngroups: [{name: g, period: 1s}, {name: g, period: 2s}]\n", "repeated"},
		{"name: t\nkind: meter\ngroups: [{name: g, period: 0s}]\n", "period: must be positive"},
		{head + "  - {name: p_kw, table: input, address: 1, type: uint16, group: g}", "name: repeated"},
		{head + "  - {name: x, table: coils, address: 1, type: uint16, group: g}", "table"},
		{head + "  - {name: x, table: input, address: 1, type: int8, group: g}", "type"},
		{head + "  - {name: x, table: input, address: 65535, type: uint32, group: g}", "past register 65535"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, bit_offset: 12, bit_width: 8, group: g}", "does not fit"},
		{head + "  - {name: x, table: input, address: 1, type: float32, bit_width: 1, group: g}", "does not fit"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, writable: true}", "only holding"},
		{head + "  - {name: x, table: holding, address: 1, type: uint16, bit_width: 1, writable: true}", "bit fields cannot be written"},
		{head + "  - {name: x, table: input, address: 1, type: uint16}", "needs a read group"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, group: z}", "not a declared group"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, scale_point: nope, group: g}", `no point "nope"`},
		{head + "  - {name: x, table: input, address: 1, type: uint16, scale_point: p_kw, group: g}", "plain int16"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, word_order: odd, group: g}", "word_order"},
		{"name: t\nkind: pcs\ngroups: [{name: g, period: 1s}]\npoints: [{name: p_kw, table: input, address: 0, type: uint16, group: g}]", `needs point "p_set_kw"`},
		{head + "  - {name: x, table: input, address: 1, type: uint16, group: g, colour: red}", "colour"},
	} {
		_, err := ParseProfile([]byte(c.doc), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.yaml") {
			t.Errorf("ParseProfile(%q)\n = %v\nwant an error naming the file and mentioning %q", c.doc, err, c.want)
		}
	}
	if _, err := ParseProfile([]byte(head), "ok.yaml"); err != nil {
		t.Errorf("valid profile: %v", err)
	}
}

func TestBuiltinProfiles(t *testing.T) {
	ps, err := LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for name, kind := range map[string]plant.Kind{"sim-pcs": plant.KindPCS, "sim-bms": plant.KindBMS, "sim-meter": plant.KindMeter} {
		p := ps[name]
		if p == nil {
			t.Errorf("builtin profile %s missing", name)
			continue
		}
		if p.Kind != kind || !strings.HasPrefix(p.Source, "builtin:") {
			t.Errorf("%s: kind %s, source %s", name, p.Kind, p.Source)
		}
		for _, req := range required[kind] {
			if p.Point(req) < 0 {
				t.Errorf("%s lacks %s", name, req)
			}
		}
		for _, g := range p.Groups {
			if len(p.Plan(g.Name)) == 0 {
				t.Errorf("%s: group %s has nothing to read", name, g.Name)
			}
		}
	}
	if len(ps) != 4 {
		t.Errorf("%d builtin profiles, want 4", len(ps))
	}
	// The BMS power limits pull w_sf (register 22, beyond max_gap 8 from
	// the block ending at 13) into the state group as a second read.
	bms := ps["sim-bms"]
	if got := plan(bms, "state"); len(got) != 2 || got[1] != (blk{Input, 22, 1, "w_sf"}) {
		t.Errorf("sim-bms state plan %v", got)
	}
	if g, ok := ps["sim-meter"].Group("fast"); !ok || g.Period != 20*time.Millisecond {
		t.Errorf("sim-meter fast group %+v", g)
	}
}

func TestUserProfiles(t *testing.T) {
	dir := t.TempDir()
	doc := "name: sim-meter\nkind: meter\ndescription: mine\ngroups: [{name: g, period: 1s}]\npoints: [{name: p_kw, table: input, address: 0, type: uint16, group: g}]\n"
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	ps, err := LoadProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p := ps["sim-meter"]; p.Description != "mine" || !strings.HasSuffix(p.Source, "m.yaml") {
		t.Errorf("user profile did not replace the builtin: %+v", p)
	}
	if ps["sim-pcs"] == nil {
		t.Error("builtins lost")
	}
	if err := os.WriteFile(filepath.Join(dir, "n.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProfiles(dir); err == nil || !strings.Contains(err.Error(), "also defined") {
		t.Errorf("duplicate user profile: %v", err)
	}
}

// TestProfileRequiresTheRequiredStandardPoints: the loader's required
// points are plant.Standards' — a built-in profile without a required
// point of its kind is refused, naming it; without any other standard
// point it is accepted.
func TestProfileRequiresTheRequiredStandardPoints(t *testing.T) {
	ps, err := LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plant.Standards {
		base := ps["sim-"+string(s.Kind)]
		i := base.Point(s.Name)
		if i < 0 {
			t.Fatalf("sim-%s lacks %s", s.Kind, s.Name)
		}
		p := *base
		p.Points = slices.Delete(slices.Clone(base.Points), i, i+1)
		err := p.Validate()
		want := `needs point "` + s.Name + `"`
		switch {
		case s.Required && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s %s is required; without it: %v", s.Kind, s.Name, err)
		case !s.Required && err != nil:
			t.Errorf("%s %s is optional; without it: %v", s.Kind, s.Name, err)
		}
	}
}
