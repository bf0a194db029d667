package sunspec_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
	"github.com/emsd/emsd/internal/testutil"
)

// TestEmbeddedModelsMatchShared: the embedded definitions are byte for
// byte the official files in ../shared/data/sunspec, and every official
// model is supported.
func TestEmbeddedModelsMatchShared(t *testing.T) {
	dir := testutil.SharedData(t, "sunspec")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	emb := sunspec.ModelsFS()
	var want []int
	for _, e := range ents {
		shared, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(emb, e.Name())
		if err != nil {
			t.Errorf("%s: not embedded: %v", e.Name(), err)
			continue
		}
		if !bytes.Equal(got, shared) {
			t.Errorf("models/%s differs from %s", e.Name(), filepath.Join(dir, e.Name()))
		}
		var id int
		if _, err := fmt.Sscanf(e.Name(), "model_%d.json", &id); err == nil {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	if err := sunspec.LoadErr(); err != nil {
		t.Fatal(err)
	}
	if got := sunspec.Supported(); !slices.Equal(got, want) {
		t.Errorf("supported models %v, shared data has %v", got, want)
	}
	for _, id := range []int{1, 103, 113, 124, 701, 702, 703, 704, 711, 713, 715, 802, 803} {
		if _, ok := sunspec.Def(id); !ok {
			t.Errorf("model %d is not supported", id)
		}
	}
}

// refPoint is a point placed by the test's own reading of the official JSON.
type refPoint struct {
	name, typ string
	offset    int
	size      int
	sf        int // offset of the scale factor, -1 for none
}

type refGroup struct {
	Name   string          `json:"name"`
	Count  json.RawMessage `json:"count"`
	Points []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Size int    `json:"size"`
		SF   string `json:"sf"`
	} `json:"points"`
	Groups []refGroup `json:"groups"`
}

// refLayout places the points of an official model file, reading repeat
// counts from the device's registers through readReg(offset).
func refLayout(t *testing.T, path string, readReg func(off int) uint16) []refPoint {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Group refGroup }
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var out []refPoint
	off := 0
	var walk func(g refGroup, prefix string, names map[string]int)
	walk = func(g refGroup, prefix string, parent map[string]int) {
		names := map[string]int{}
		for k, v := range parent {
			names[k] = v
		}
		first := len(out)
		for _, p := range g.Points {
			names[p.Name] = off
			out = append(out, refPoint{name: prefix + p.Name, typ: p.Type, offset: off, size: p.Size, sf: -1})
			off += p.Size
		}
		for i, p := range g.Points {
			if p.SF != "" {
				o, ok := names[p.SF]
				if !ok {
					t.Fatalf("%s: %s: sf %s not found", path, p.Name, p.SF)
				}
				out[first+i].sf = o
			}
		}
		for _, c := range g.Groups {
			n := 1
			var cname string
			if json.Unmarshal(c.Count, &cname) == nil && cname != "" {
				n = int(readReg(names[cname]))
			}
			for k := 1; k <= n; k++ {
				walk(c, fmt.Sprintf("%s%s[%d].", prefix, c.Name, k), names)
			}
		}
	}
	walk(m.Group, "", nil)
	return out
}

// refValue decodes a point the test's own way.
func refValue(typ string, r []uint16, sf int) (float64, string) {
	var u uint64
	for _, w := range r {
		u = u<<16 | uint64(w)
	}
	var v float64
	switch typ {
	case "int16", "sunssf":
		v = float64(int16(u))
	case "uint16", "enum16", "bitfield16", "count", "acc16", "uint32", "enum32", "bitfield32", "acc32", "uint64", "acc64", "bitfield64":
		v = float64(u)
	case "int32":
		v = float64(int32(u))
	case "int64":
		v = float64(int64(u))
	case "float32":
		v = float64(math.Float32frombits(uint32(u)))
	case "string":
		var b []byte
		for _, w := range r {
			b = append(b, byte(w>>8), byte(w))
		}
		return 0, strings.TrimRight(string(b), "\x00")
	default:
		return math.NaN(), ""
	}
	return v * math.Pow(10, float64(sf)), ""
}

// TestEveryPointOfEverySupportedModel (issue 10, acceptance 2): the
// simulated device serves every supported model; read through the walker,
// every point's offset, type, size, scale factor and value agrees with the
// official JSON, read here independently, and with the raw registers read
// over a separate Modbus connection.
func TestEveryPointOfEverySupportedModel(t *testing.T) {
	dir := testutil.SharedData(t, "sunspec")
	addr := testutil.FreeAddr(t)
	img, err := sunspecsim.Build(40000, sunspecsim.All(), false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sunspecsim.Serve(addr, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl := dial(t, addr)
	chain, err := sunspec.Discover(sunspec.ModbusReader{C: cl, Unit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if chain.Base != 40000 {
		t.Errorf("base %d", chain.Base)
	}
	raw := dial(t, addr)
	var ids []int
	points := 0
	for _, m := range chain.Models {
		ids = append(ids, m.ID)
		readReg := func(off int) uint16 {
			r, err := raw.ReadRegisters(m.Addr+uint16(off), 1, modbus.HOLDING_REGISTER)
			if err != nil {
				t.Fatal(err)
			}
			return r[0]
		}
		ref := refLayout(t, filepath.Join(dir, fmt.Sprintf("model_%d.json", m.ID)), readReg)
		if len(ref) != len(m.Fields) {
			t.Errorf("model %d: %d points, the official definition places %d", m.ID, len(m.Fields), len(ref))
			continue
		}
		if got, want := m.Len(), ref[len(ref)-1].offset+ref[len(ref)-1].size-2; got != want {
			t.Errorf("model %d: L=%d, want %d", m.ID, got, want)
		}
		for i, p := range ref {
			f := m.Fields[i]
			at := fmt.Sprintf("model %d point %s", m.ID, p.name)
			if f.Name != p.name || f.Offset != p.offset || f.Def.Type != p.typ || f.Def.Size != p.size {
				t.Errorf("%s: got %s offset %d %s/%d, want offset %d %s/%d", at, f.Name, f.Offset, f.Def.Type, f.Def.Size, p.offset, p.typ, p.size)
				continue
			}
			gotSF := -1
			if f.SF >= 0 {
				gotSF = m.Fields[f.SF].Offset
			}
			if gotSF != p.sf {
				t.Errorf("%s: scale factor at offset %d, want %d", at, gotSF, p.sf)
			}
			if p.typ == "pad" {
				continue
			}
			points++
			regs, err := raw.ReadRegisters(m.Addr+uint16(p.offset), uint16(p.size), modbus.HOLDING_REGISTER)
			if err != nil {
				t.Fatal(err)
			}
			sf := 0
			if p.sf >= 0 {
				sf = int(int16(readReg(p.sf)))
			}
			wantN, wantS := refValue(p.typ, regs, sf)
			v, _ := m.Point(p.name)
			switch {
			case !v.OK:
				t.Errorf("%s: no value (%s); raw %04x", at, v.Why, regs)
			case p.typ == "string":
				if v.Text != wantS {
					t.Errorf("%s = %q, want %q", at, v.Text, wantS)
				}
			case math.IsNaN(wantN):
				t.Errorf("%s: type %s not checked by this test", at, p.typ)
			case math.Abs(v.Number-wantN) > 1e-9*math.Max(1, math.Abs(wantN)):
				t.Errorf("%s = %v, want %v (raw %04x, sf %d)", at, v.Number, wantN, regs, sf)
			}
		}
	}
	if want := sunspec.Supported(); !slices.Equal(ids, want) {
		t.Errorf("chain %v, want every supported model %v", ids, want)
	}
	for _, id := range []int{711, 803, 804} {
		m := chain.Models[slices.Index(ids, id)]
		if !slices.ContainsFunc(m.Fields, func(f sunspec.Field) bool { return strings.Contains(f.Name, "[2].") }) {
			t.Errorf("model %d: no second instance of its repeating group", id)
		}
	}
	t.Logf("%d models, %d points checked", len(chain.Models), points)
}

func dial(t *testing.T, addr string) *modbus.ModbusClient {
	t.Helper()
	cl, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}
