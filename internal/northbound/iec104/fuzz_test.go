package iec104

import (
	"math"
	"net"
	"sync"
	"testing"
	"time"

	wasdu "github.com/wendy512/go-iecp5/asdu"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
)

// fakeConn is a dispatch connection that records what the server sends.
type fakeConn struct {
	mu   sync.Mutex
	sent []*wasdu.ASDU
}

func (f *fakeConn) Params() *wasdu.Params { return wasdu.ParamsWide }
func (f *fakeConn) UnderlyingConn() net.Conn {
	return nil
}
func (f *fakeConn) Send(a *wasdu.ASDU) error {
	f.mu.Lock()
	f.sent = append(f.sent, a)
	f.mu.Unlock()
	return nil
}

// FuzzDecodeASDU feeds arbitrary ASDUs, as the library decodes them from
// a dispatch connection, to the server's command path. Whatever arrives:
// no panic escapes, every reply mirrors the request's type, a command or
// setpoint reaches the control loop only with a positive confirmation,
// and nothing outside the plant's rating is ever applied.
func FuzzDecodeASDU(f *testing.F) {
	ok := func(typ wasdu.TypeID, body ...byte) []byte {
		return append([]byte{byte(typ), 0x01, byte(wasdu.Activation), 0x00, ca, 0x00}, body...)
	}
	f.Add(ok(wasdu.C_SE_NC_1, 0x01, 0x62, 0x00, 0x00, 0x00, 0x20, 0x40, 0x00)) // 2.5 MW to ioa 25089
	f.Add(ok(wasdu.C_SE_NC_1, 0x01, 0x62, 0x00, 0x00, 0x00, 0xc0, 0x7f, 0x00)) // NaN
	f.Add(ok(wasdu.C_SC_NA_1, 0x01, 0x60, 0x00, 0x81))                         // select agc_enable on
	f.Add(ok(wasdu.C_SC_NA_1, 0x01, 0x60, 0x00, 0x01))                         // execute without select
	f.Add(ok(wasdu.C_BO_NA_1, 0x01, 0x62, 0x00, 1, 2, 3, 4))                   // unserved type
	f.Add([]byte{0x32, 0x81, 0x06, 0x00, 0x02, 0x00, 0x01, 0x62})              // wrong CA, sequence
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctl, err := dispatch.New(dispatch.DefaultConfig(ratedKW))
		if err != nil {
			t.Fatal(err)
		}
		p := &plant{ctl: ctl, vals: northbound.Values{}}
		h := command.NewHandler(p, command.HandlerOptions{Audit: p, SubmitTimeout: time.Second})
		s, err := New(Config{Addr: "127.0.0.1:1", CommonAddr: ca, Allow: []string{"127.0.0.1"}, Points: points.DefaultPoints()},
			p.source, northbound.NewDispatch(h, nil), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &fakeConn{}
		s.sessions[c] = &session{origin: northbound.Origin{Transport: "iec104", Client: "fuzz"}, selected: map[wasdu.InfoObjAddr]selection{}}
		// The same packet twice: a select followed by its execute is reachable.
		for range 2 {
			pack := wasdu.NewEmptyASDU(wasdu.ParamsWide)
			if pack.UnmarshalBinary(raw) != nil {
				return // the library drops it before the server sees it
			}
			_ = s.OnASDU(c, pack)
		}
		positive := 0
		for _, r := range c.sent {
			if r.Type != wasdu.TypeID(raw[0]) {
				t.Fatalf("reply of type %v to a request of type %v", r.Type, wasdu.TypeID(raw[0]))
			}
			if !r.Coa.IsNegative && (r.Coa.Cause == wasdu.ActivationCon) {
				positive++
			}
		}
		for _, cmd := range p.appliedCmds() {
			switch x := cmd.(type) {
			case dispatch.AGCTarget:
				if math.IsNaN(x.P) || math.Abs(x.P) > ratedKW {
					t.Fatalf("applied %v outside the rating", x)
				}
			case dispatch.SetMode, dispatch.Reset:
			default:
				t.Fatalf("applied an unexpected %T", cmd)
			}
		}
		if n := len(p.appliedCmds()); n > positive {
			t.Fatalf("%d commands applied with %d positive confirmations", n, positive)
		}
	})
}
