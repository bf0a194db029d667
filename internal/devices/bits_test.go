package devices

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/procimg"
)

// TestReadBitsUnpacks: ten discrete inputs and ten coils, read in one
// request each, come back bit i of the reply in bit i%8 of byte i/8 (two
// bytes for ten bits), each point getting its own bit.
func TestReadBitsUnpacks(t *testing.T) {
	want := []float64{1, 0, 1, 1, 0, 0, 0, 1, 0, 1} // 0x8d, 0x02
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		switch {
		case req.fc == 2 && req.addr == 100 && req.count == 10:
			return adu(out, req, 2, 2, 0x8d, 0x02)
		case req.fc == 1 && req.addr == 200 && req.count == 10:
			return adu(out, req, 1, 2, 0x8d^0xff, 0x02^0x03) // the complement
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var doc strings.Builder
	doc.WriteString("name: t-bits\nkind: meter\ngroups: [{name: g, period: 50ms}]\npoints:\n")
	doc.WriteString("  - {name: p_kw, table: input, address: 0, type: uint16, group: g}\n")
	for i := range want {
		fmt.Fprintf(&doc, "  - {name: d%d, table: discrete, address: %d, group: g}\n", i, 100+i)
		fmt.Fprintf(&doc, "  - {name: c%d, table: coil, address: %d, group: g}\n", i, 200+i)
	}
	prof := mustProfile(t, doc.String())
	img := procimg.New()
	d := startDevice(t, Options{Name: "bits", Address: srv.addr, Profile: prof, Timeout: 2 * time.Second}, img)
	waitFor(t, 5*time.Second, "a read", func() bool { return img.Get(d.ID(), prof.Point("c9"), time.Now()).Good() })
	for i, w := range want {
		if v := img.Get(d.ID(), prof.Point(fmt.Sprintf("d%d", i)), time.Now()); !v.Good() || v.V != w {
			t.Errorf("discrete input %d = %+v, want %v", 100+i, v, w)
		}
		if v := img.Get(d.ID(), prof.Point(fmt.Sprintf("c%d", i)), time.Now()); !v.Good() || v.V != 1-w {
			t.Errorf("coil %d = %+v, want %v", 200+i, v, 1-w)
		}
	}
	if h := d.Health(); h.Errors != 0 {
		t.Errorf("%d errors (%s), want none", h.Errors, h.LastErr)
	}
}
