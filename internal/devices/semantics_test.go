package devices

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestWordOrders: the four byte orders of a 32-bit and a 64-bit value, by
// their canonical names and the older aliases.
func TestWordOrders(t *testing.T) {
	const u32 = 0xA1B2C3D4
	const u64 = 0x000A030405060708 // below 2^53, exact in a float64
	for _, c := range []struct {
		order string
		typ   Type
		v     float64
		regs  []uint16
	}{
		{"abcd", Uint32, u32, []uint16{0xA1B2, 0xC3D4}},
		{"high_first", Uint32, u32, []uint16{0xA1B2, 0xC3D4}},
		{"CDAB", Uint32, u32, []uint16{0xC3D4, 0xA1B2}},
		{"low_first", Uint32, u32, []uint16{0xC3D4, 0xA1B2}},
		{"badc", Uint32, u32, []uint16{0xB2A1, 0xD4C3}},
		{"dcba", Uint32, u32, []uint16{0xD4C3, 0xB2A1}},
		{"abcd", Uint64, u64, []uint16{0x000A, 0x0304, 0x0506, 0x0708}},
		{"cdab", Uint64, u64, []uint16{0x0708, 0x0506, 0x0304, 0x000A}},
		{"badc", Uint64, u64, []uint16{0x0A00, 0x0403, 0x0605, 0x0807}},
		{"dcba", Uint64, u64, []uint16{0x0807, 0x0605, 0x0403, 0x0A00}},
		{"abcd", Float64, 1.5, []uint16{0x3FF8, 0, 0, 0}},
		{"dcba", Float64, -2, []uint16{0, 0, 0, 0x00C0}},
		{"badc", Float32, 1.5, []uint16{0xC03F, 0}},
	} {
		o, ok := ParseWordOrder(c.order)
		if !ok {
			t.Fatalf("ParseWordOrder(%q) not ok", c.order)
		}
		p := Point{Name: "x", Type: c.typ, WordOrder: o}
		got, err := p.Decode(c.regs, 0)
		if err != nil || got != c.v {
			t.Errorf("%s %s: Decode(%#04x) = %v, %v; want %v", c.order, c.typ, c.regs, got, err, c.v)
		}
		dst := make([]uint16, p.Words())
		if err := p.Encode(c.v, 0, dst); err != nil || !slices.Equal(dst, c.regs) {
			t.Errorf("%s %s: Encode(%v) = %#04x, %v; want %#04x", c.order, c.typ, c.v, dst, err, c.regs)
		}
	}
	if _, ok := ParseWordOrder("middle"); ok {
		t.Error("ParseWordOrder accepts middle")
	}
	nan := Point{Name: "x", Type: Float64, WordOrder: ABCD}
	if _, err := nan.Decode([]uint16{0x7FF8, 0, 0, 1}, 0); err == nil {
		t.Error("a float64 NaN decodes")
	}
}

const enumDoc = `
name: t-enum
kind: pcs
word_order: cdab
groups: [{name: g, period: 100ms}]
points:
  - {name: p_kw, table: holding, address: 0, type: float32, group: g}
  - {name: state, table: holding, address: 2, type: uint16, group: g,
     enum: {0: stopped, 1: starting, 2: running, 3: fault, 4: local, 5: fault}}
  - {name: run, table: holding, address: 10, type: uint16, writable: true, write_fc: 6,
     enum: {0xCF: start, 0x5A: stop}}
  - {name: p_set_kw, table: holding, address: 11, type: float32, writable: true}
  - {name: on, table: coil, address: 3, writable: true}
  - {name: door, table: discrete, address: 7, group: g}
`

// TestEnumMaps: device codes read as the standard vocabulary's values and
// standard values write as the device's codes; unknown codes do not decode.
func TestEnumMaps(t *testing.T) {
	p := mustProfile(t, enumDoc)
	st := &p.Points[p.Point(plant.PointState)]
	for code, want := range map[uint16]float64{0: plant.RunStopped, 1: plant.RunStarting, 2: plant.RunRunning, 3: plant.RunFault, 4: plant.RunLocal, 5: plant.RunFault} {
		if got, err := st.Decode([]uint16{code}, 0); err != nil || got != want {
			t.Errorf("state code %d = %v, %v; want %v", code, got, err, want)
		}
	}
	if _, err := st.Decode([]uint16{6}, 0); !errors.Is(err, ErrCode) {
		t.Errorf("state code 6: %v, want ErrCode", err)
	}
	run := &p.Points[p.Point(plant.PointRun)]
	dst := []uint16{0}
	if err := run.Encode(plant.RunStart, 0, dst); err != nil || dst[0] != 0xCF {
		t.Errorf("run start = %#x, %v; want 0xcf", dst[0], err)
	}
	if err := run.Encode(plant.RunStop, 0, dst); err != nil || dst[0] != 0x5A {
		t.Errorf("run stop = %#x, %v; want 0x5a", dst[0], err)
	}
	if err := run.Encode(7, 0, dst); err == nil {
		t.Error("run 7 encodes")
	}
	if run.WriteFC != FC06 || p.Points[p.Point("p_set_kw")].WriteFC != FC16 || p.Points[p.Point("on")].WriteFC != FC05 {
		t.Errorf("write_fc defaults: run %d, p_set_kw %d, on %d", run.WriteFC, p.Points[p.Point("p_set_kw")].WriteFC, p.Points[p.Point("on")].WriteFC)
	}
	if d := p.Points[p.Point("door")]; d.Type != Bool {
		t.Errorf("a discrete point's type defaults to %q", d.Type)
	}
	b := Point{Name: "b", Type: Bool}
	if v, err := b.Decode([]uint16{1}, 0); v != 1 || err != nil {
		t.Errorf("bool 1 = %v, %v", v, err)
	}
}

func TestSemanticsValidation(t *testing.T) {
	head := "name: t\nkind: pcs\ngroups: [{name: g, period: 1s}]\npoints:\n  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n  - {name: p_set_kw, table: holding, address: 0, type: int16, writable: true}\n"
	for _, c := range []struct{ doc, want string }{
		{head + "  - {name: state, table: input, address: 1, type: uint16, group: g, enum: {0: off}}", `unknown name "off" (known: stopped, running, fault, starting, local)`},
		{head + "  - {name: q_kvar, table: input, address: 1, type: uint16, group: g, enum: {0: stopped}}", "not a pcs point with named values (those are: state, run)"},
		{head + "  - {name: state, table: input, address: 1, type: uint16, scale: 0.1, group: g, enum: {0: stopped}}", "without scale"},
		{head + "  - {name: run, table: holding, address: 1, type: uint16, writable: true, enum: {1: start, 2: start, 0: stop}}", `"start" is given two codes, 0x1 and 0x2`},
		{head + "  - {name: run, table: holding, address: 1, type: uint32, writable: true, write_fc: 6}", "6 writes a single register"},
		{head + "  - {name: run, table: holding, address: 1, type: uint16, writable: true, write_fc: 5}", "is not 6 or 16"},
		{head + "  - {name: run, table: coil, address: 1, writable: true, write_fc: 6}", "is not 5"},
		{head + "  - {name: x, table: input, address: 1, type: uint16, group: g, write_fc: 6}", "only a writable point"},
		{head + "  - {name: x, table: coil, address: 1, type: uint16, group: g}", "is a bool"},
		{head + "  - {name: x, table: holding, address: 1, type: bool, group: g}", "bool is for coil"},
		{head + "  - {name: x, table: discrete, address: 1, writable: true}", "only holding registers and coils"},
	} {
		_, err := ParseProfile([]byte(c.doc), "test.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseProfile(%q)\n = %v\nwant an error mentioning %q", c.doc, err, c.want)
		}
	}
}

// TestExampleProfile: the vendor-style example decodes the vendor's codes.
func TestExampleProfile(t *testing.T) {
	p := builtinProfile(t, "example-pcs")
	st := &p.Points[p.Point(plant.PointState)]
	if v, err := st.Decode([]uint16{2}, 0); err != nil || v != plant.RunRunning {
		t.Errorf("example-pcs state 2 = %v, %v; want running", v, err)
	}
	pk := &p.Points[p.Point(plant.PointP)]
	hi, lo := uint16(math.Float32bits(-12.5)>>16), uint16(math.Float32bits(-12.5))
	if v, err := pk.Decode([]uint16{lo, hi}, 0); err != nil || v != -12.5 {
		t.Errorf("example-pcs p_kw (CDAB) = %v, %v", v, err)
	}
}

// plausDoc is a BMS whose input registers read back their own address
// (the raw test server's default): soc_pct at 150 reads 150 %.
const plausDoc = `
name: t-plaus
kind: bms
groups: [{name: g, period: 20ms}]
points:
  - {name: soc_pct, table: input, address: 150, type: uint16, group: g}
  - {name: p_charge_max_kw, table: input, address: 10, type: uint16, group: g}
  - {name: p_discharge_max_kw, table: input, address: 11, type: uint16, group: g}
  - {name: alarm_level, table: input, address: 2, type: uint16, group: g}
  - {name: over, table: input, address: 5, type: uint16, max: 4, group: g}
  - {name: inside, table: input, address: 6, type: uint16, min: 0, max: 10, group: g}
  - {name: na16, table: input, address: 32768, type: int16, sentinel: true, group: g}
  - {name: naU16, table: input, address: 65535, type: uint16, sentinel: true, group: g}
  - {name: plainU16, table: input, address: 65534, type: uint16, group: g}
`

// TestPlausibilityAndSentinels: values outside the standard point's default
// bounds or the profile's min/max, and SunSpec "not implemented" values,
// are stored invalid and counted; the others are good.
func TestPlausibilityAndSentinels(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	d := startDevice(t, Options{Name: "b", Address: srv.addr, Profile: mustProfile(t, plausDoc)}, img)
	waitFor(t, 5*time.Second, "a few reads", func() bool { return d.Health().Reads > 20 })
	p := d.Profile()
	now := time.Now()
	for name, want := range map[string]procimg.Quality{
		"soc_pct": procimg.Invalid, "p_charge_max_kw": procimg.Good, "alarm_level": procimg.Good,
		"over": procimg.Invalid, "inside": procimg.Good, "na16": procimg.Invalid, "naU16": procimg.Invalid, "plainU16": procimg.Good,
	} {
		v := img.Get(d.ID(), p.Point(name), now)
		if v.Q != want {
			t.Errorf("%s: quality %v, want %v", name, v.Q, want)
		}
	}
	if v := img.Get(d.ID(), p.Point("soc_pct"), now); v.V != 150 {
		t.Errorf("an implausible value keeps what was read: %v", v.V)
	}
	if v := img.Get(d.ID(), p.Point("naU16"), now); !math.IsNaN(v.V) {
		t.Errorf("a sentinel is no value, got %v", v.V)
	}
	h := d.Health()
	if h.Invalid < 2 || h.NoValue < 2 || h.Errors != 0 || h.State != Online {
		t.Errorf("health %+v: want invalid and no-value counts, no errors, online", h)
	}
}

// exceptionOn answers every read of input registers at addr with an
// illegal-address exception.
func exceptionOn(addr uint16) rawHandler {
	return func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc == 4 && req.addr <= addr && addr < req.addr+req.count {
			return adu(out, req, req.fc|0x80, 2)
		}
		return answer(s, req, out)
	}
}

// TestExceptionKeepsConnection: a block answered with an exception marks
// its points refused and names them; the other blocks are read on, over
// the same connection.
func TestExceptionKeepsConnection(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", exceptionOn(5))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	d := startDevice(t, Options{Name: "b", Address: srv.addr, Profile: mustProfile(t, plausDoc)}, img)
	waitFor(t, 5*time.Second, "a few reads", func() bool { return d.Health().Exceptions > 10 })
	p := d.Profile()
	now := time.Now()
	if v := img.Get(d.ID(), p.Point("over"), now); v.Q != procimg.Refused {
		t.Errorf("over (register 5): %v, want refused", v.Q)
	}
	if v := img.Get(d.ID(), p.Point("alarm_level"), now); v.Q != procimg.Good || v.V != 2 {
		t.Errorf("alarm_level: %+v, want good 2", v)
	}
	h := d.Health()
	// over and inside (registers 5 and 6) are one block.
	if !slices.Equal(h.Refused, []string{"over", "inside"}) || !strings.Contains(h.LastException, "illegal data address") {
		t.Errorf("refused %v, last exception %q", h.Refused, h.LastException)
	}
	if h.Errors != 0 || h.Reconnects != 0 || srv.conns.Load() != 1 || h.State != Online {
		t.Errorf("errors %d, reconnects %d, connections %d, state %v: want one connection kept", h.Errors, h.Reconnects, srv.conns.Load(), h.State)
	}
}

// TestInvalidEpisodeEndsAfterHold: after an invalid value, values back in
// range stay invalid for InvalidHold, then turn good.
func TestInvalidEpisodeEndsAfterHold(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	doc := plausDoc + "  - {name: lvl, table: holding, address: 40, type: uint16, max: 100, writable: true, group: g}\n"
	d := startDevice(t, Options{Name: "b", Address: srv.addr, Profile: mustProfile(t, doc)}, img)
	i := d.Profile().Point("lvl")
	q := func() procimg.Value { return img.Get(d.ID(), i, time.Now()) }
	if _, err := d.Write(context.Background(), PointValue{Point: "lvl", Value: 150}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "lvl invalid", func() bool { return q().Q == procimg.Invalid && q().V == 150 })
	if _, err := d.Write(context.Background(), PointValue{Point: "lvl", Value: 50}); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	waitFor(t, 5*time.Second, "lvl read as 50", func() bool { return q().V == 50 })
	if v := q(); v.Q != procimg.Invalid {
		t.Errorf("lvl 50 right after 150: %v, want invalid until the hold passes", v.Q)
	}
	waitFor(t, 3*InvalidHold, "lvl good again", func() bool { return q().Good() })
	if took := time.Since(back); took < InvalidHold {
		t.Errorf("lvl good again after %v, before the %v hold", took, InvalidHold)
	}
}

// TestProfileErrorsNameFileAndLine: unknown keys and invalid values are
// reported as FILE:LINE: key: problem, an unknown key with the known ones.
func TestProfileErrorsNameFileAndLine(t *testing.T) {
	doc := "name: t\nkind: meter\ngroups: [{name: g, period: 1s}]\npoints:\n" +
		"  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n" +
		"  - {name: x, table: input, address: 1, type: uint16, group: g,\n" +
		"     colour: red}\n" +
		"  - {name: y, table: inputs, address: 2, type: uint16, group: g}\n"
	_, err := ParseProfile([]byte(doc), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), "p.yaml:7: points[1].colour: unknown key (known: name, table, address, type, word_order,") {
		t.Errorf("unknown key: %v", err)
	}
	doc = strings.Replace(doc, ",\n     colour: red", "", 1)
	_, err = ParseProfile([]byte(doc), "p.yaml")
	if err == nil || !strings.Contains(err.Error(), `p.yaml:7: points[2] (y).table: "inputs" is not holding, input, coil or discrete`) {
		t.Errorf("bad table: %v", err)
	}
	_, err = ParseProfile([]byte("name: t\nkind: meter\nword_order: middle\n"), "q.yaml")
	if err == nil || !strings.Contains(err.Error(), `q.yaml:3: word_order: "middle" is not one of abcd`) {
		t.Errorf("bad word order: %v", err)
	}
}

// coils serves coils and discrete inputs: coil a holds what FC05 wrote
// there, discrete input a is 1 when a is odd; FC06 writes holding
// registers like FC16. Other requests get the default answer.
func coils(state map[uint16]bool, mu *sync.Mutex) rawHandler {
	return func(s *rawServer, req *rawReq, out []byte) []byte {
		switch req.fc {
		case 1, 2:
			bits := make([]byte, (int(req.count)+7)/8)
			mu.Lock()
			for i := range req.count {
				a := req.addr + i
				if (req.fc == 1 && state[a]) || (req.fc == 2 && a%2 == 1) {
					bits[i/8] |= 1 << (i % 8)
				}
			}
			mu.Unlock()
			return adu(out, req, append([]byte{req.fc, byte(len(bits))}, bits...)...)
		case 5:
			mu.Lock()
			state[req.addr] = req.count == 0xFF00
			mu.Unlock()
			return adu(out, req, 5, byte(req.addr>>8), byte(req.addr), byte(req.count>>8), byte(req.count))
		case 6:
			s.mu.Lock()
			s.holding[req.addr] = req.count
			s.mu.Unlock()
			return adu(out, req, 6, byte(req.addr>>8), byte(req.addr), byte(req.count>>8), byte(req.count))
		}
		return answer(s, req, out)
	}
}

// TestCoilsAndSingleWrites: coils and discrete inputs are read bit by bit;
// a coil is written with FC05, a single register with FC06 and never
// FC16, each in a request of its own.
func TestCoilsAndSingleWrites(t *testing.T) {
	var mu sync.Mutex
	state := map[uint16]bool{}
	srv, err := newRawServer("127.0.0.1:0", coils(state, &mu))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.logging = true
	doc := `
name: t-coils
kind: pcs
groups: [{name: g, period: 20ms}]
points:
  - {name: p_kw, table: input, address: 0, type: int16, group: g}
  - {name: p_set_kw, table: holding, address: 10, type: int16, writable: true}
  - {name: heartbeat, table: holding, address: 11, type: uint16, writable: true, write_fc: 6}
  - {name: run, table: coil, address: 3, writable: true}
  - {name: on, table: coil, address: 3, group: g}
  - {name: d8, table: discrete, address: 8, group: g}
  - {name: d9, table: discrete, address: 9, group: g}
`
	img := procimg.New()
	d := startDevice(t, Options{Name: "c", Address: srv.addr, Profile: mustProfile(t, doc)}, img)
	p := d.Profile()
	get := func(name string) procimg.Value { return img.Get(d.ID(), p.Point(name), time.Now()) }
	waitFor(t, 5*time.Second, "the discrete inputs read", func() bool { return get("d9").Good() })
	if get("d8").V != 0 || get("d9").V != 1 || get("on").V != 0 {
		t.Errorf("d8 %v, d9 %v, on %v; want 0, 1, 0", get("d8").V, get("d9").V, get("on").V)
	}
	if _, err := d.Write(context.Background(), PointValue{Point: "p_set_kw", Value: -5}, PointValue{Point: "heartbeat", Value: 7}, PointValue{Point: plant.PointRun, Value: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the coil read back on", func() bool { return get("on").V == 1 })
	srv.mu.Lock()
	var fcs []byte
	for _, r := range srv.log {
		if r.fc == 5 || r.fc == 6 || r.fc == 16 {
			fcs = append(fcs, r.fc)
		}
	}
	hb, ps := srv.holding[11], srv.holding[10]
	srv.mu.Unlock()
	slices.Sort(fcs)
	if !slices.Equal(fcs, []byte{5, 6, 16}) || hb != 7 || ps != 0xFFFB {
		t.Errorf("write requests %v, heartbeat %d, p_set %#x; want one each of FC05, FC06, FC16, 7, 0xfffb", fcs, hb, ps)
	}
}

// TestRefusedWriteKeepsConnection: a write answered with an exception (a
// device that takes FC06 only, written with FC16) fails with the
// exception named, but is not a link fault: no redial, reads go on.
func TestRefusedWriteKeepsConnection(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc == 16 {
			return adu(out, req, req.fc|0x80, 1) // illegal function
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	img := procimg.New()
	d := startDevice(t, Options{Name: "w", Address: srv.addr, Profile: mustProfile(t, plausDoc+"  - {name: lvl, table: holding, address: 40, type: uint16, writable: true}\n")}, img)
	waitFor(t, 5*time.Second, "a read", func() bool { return d.Health().Reads > 0 })
	_, err = d.Write(context.Background(), PointValue{Point: "lvl", Value: 1})
	if err == nil || !strings.Contains(err.Error(), "illegal function") {
		t.Fatalf("write refused by the device: %v, want the exception named", err)
	}
	reads := d.Health().Reads
	waitFor(t, 5*time.Second, "reads going on", func() bool { return d.Health().Reads > reads+3 })
	if h := d.Health(); h.Errors != 0 || h.Reconnects != 0 || h.Exceptions != 1 || srv.conns.Load() != 1 {
		t.Errorf("errors %d, reconnects %d, exceptions %d, connections %d; want 0, 0, 1, 1", h.Errors, h.Reconnects, h.Exceptions, srv.conns.Load())
	}
}
