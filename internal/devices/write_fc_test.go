package devices

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// TestWriteFunctionCodes: one Write of a coil, an FC06 register and an
// FC16 register next to it goes out as FC05 (0xFF00 for on, 0 for off),
// FC06 (the enum code) and FC16, in address order; the FC06 register is
// never merged into the FC16 request beside it.
func TestWriteFunctionCodes(t *testing.T) {
	srv, err := newRawServer("127.0.0.1:0", func(s *rawServer, req *rawReq, out []byte) []byte {
		if req.fc == 5 || req.fc == 6 { // echo: address and value
			return adu(out, req, req.fc, byte(req.addr>>8), byte(req.addr), byte(req.count>>8), byte(req.count))
		}
		return answer(s, req, out)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.logging = true
	d := startDevice(t, Options{Name: "fc", Address: srv.addr, Profile: mustProfile(t, enumDoc), Timeout: 2 * time.Second}, procimg.New())
	waitFor(t, 5*time.Second, "a read", func() bool { return d.Health().Reads > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	writes := func() string {
		var out []string
		for _, r := range srv.requests() {
			if r.fc == 5 || r.fc == 6 || r.fc == 16 {
				out = append(out, fmt.Sprintf("FC%02d %d %#x", r.fc, r.addr, r.count))
			}
		}
		return strings.Join(out, ", ")
	}
	if _, err := d.Write(ctx, PointValue{plant.PointPSet, 12.5}, PointValue{plant.PointRun, plant.RunStart}, PointValue{"on", 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := writes(), "FC05 3 0xff00, FC06 10 0xcf, FC16 11 0x2"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
	if _, err := d.Write(ctx, PointValue{"on", 0}); err != nil {
		t.Fatal(err)
	}
	if got, want := writes(), "FC05 3 0xff00, FC06 10 0xcf, FC16 11 0x2, FC05 3 0x0"; got != want {
		t.Errorf("requests %s, want %s", got, want)
	}
	if h := d.Health(); h.Writes != 4 || h.Errors != 0 {
		t.Errorf("writes %d errors %d, want 4 and 0", h.Writes, h.Errors)
	}
}
