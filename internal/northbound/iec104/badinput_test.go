package iec104

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/thinkgos/go-iecp5/asdu"

	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/testutil"
)

// Frames of the APCI, written by hand (IEC 60870-5-104 §5).
var (
	startDTAct = []byte{0x68, 0x04, 0x07, 0x00, 0x00, 0x00}
	startDTCon = []byte{0x68, 0x04, 0x0B, 0x00, 0x00, 0x00}
	testFRAct  = []byte{0x68, 0x04, 0x43, 0x00, 0x00, 0x00}
)

// iframe wraps an ASDU in an I-frame with send and receive sequence numbers.
func iframe(ns, nr uint16, asduBytes []byte) []byte {
	f := []byte{0x68, byte(4 + len(asduBytes)), byte(ns << 1), byte(ns >> 7), byte(nr << 1), byte(nr >> 7)}
	return append(f, asduBytes...)
}

// started opens a raw connection and starts data transfer.
func started(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := rawConn(t, addr)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(startDTAct); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, startDTCon) {
		t.Fatalf("STARTDT answered % x, %v", got, err)
	}
	return c
}

// serverStillServes checks that a well-behaved master still gets a GI.
func serverStillServes(t *testing.T, r *rig) {
	t.Helper()
	m := dial(t, r.addr)
	if err := m.c.InterrogationCmd(asdu.CauseOfTransmission{Cause: asdu.Activation}, ca, asdu.QOIStation); err != nil {
		t.Fatal(err)
	}
	m.waitFor(t, "GI termination after bad input", func(x rx) bool { return x.Type == asdu.C_IC_NA_1 && x.Cause == asdu.ActivationTerm })
}

func TestMalformedAPDUsAreDropped(t *testing.T) {
	r := newRig(t, nil)
	c := started(t, r.addr)
	frames := [][]byte{
		{0x68, 0x02, 0x00, 0x00},                                                         // length below the APCI
		{0x00, 0x11, 0x22, 0x33, 0x44, 0x55},                                             // no start byte
		iframe(0, 0, []byte{0x32, 0x01, 0x06}),                                           // C_SE_NC_1 cut inside its header
		iframe(1, 0, []byte{0x32, 0x01, 0x06, 0x00, 0x01, 0x00, 0x01, 0x62, 0x00}),       // C_SE_NC_1 cut inside its object
		iframe(2, 0, []byte{0x32, 0x00, 0x06, 0x00, 0x01, 0x00}),                         // zero objects
		iframe(3, 0, []byte{0xC8, 0x01, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00}), // type 200: unknown to the standard
	}
	for _, f := range frames {
		if _, err := c.Write(f); err != nil {
			t.Fatalf("the server closed on % x: %v", f, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("malformed input applied %v", cmds)
	}
	serverStillServes(t, r)
}

func TestUnknownTypeIDRefusedNegatively(t *testing.T) {
	r := newRig(t, nil)
	m := dial(t, r.addr)
	// A bit string command is a standard type this station does not serve.
	err := asdu.BitsString32Cmd(m.c, asdu.C_BO_NA_1, asdu.CauseOfTransmission{Cause: asdu.Activation}, ca,
		asdu.BitsString32CommandInfo{Ioa: ioaOf(points.QAGCTarget), Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	x := m.waitFor(t, "reply to C_BO_NA_1", func(x rx) bool { return x.Type == asdu.C_BO_NA_1 })
	if !x.Neg || x.Cause != asdu.UnknownTypeID {
		t.Fatalf("unserved type answered %v, want negative unknown type", x)
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("unserved type applied %v", cmds)
	}
}

func TestIdleClientIsClosed(t *testing.T) {
	r := newRig(t, func(c *Config, _ *northbound.LinkConfig) {
		c.T1, c.T2, c.T3 = 2*time.Second, time.Second, 3*time.Second
	})
	c := rawConn(t, r.addr) // connects and sends nothing
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if !bytes.Contains(got, testFRAct) {
		t.Errorf("no TESTFR before closing the idle connection: % x", got)
	}
	testutil.WaitFor(t, 10*time.Second, "idle connection forgotten", func() bool { return r.srv.Connections() == 0 })
	serverStillServes(t, r)
}

func TestKWindowOverrunClosesTheConnection(t *testing.T) {
	r := newRig(t, func(c *Config, _ *northbound.LinkConfig) { c.K, c.W, c.T1, c.T2 = 2, 1, 2*time.Second, time.Second })
	c := started(t, r.addr)
	gi := []byte{0x64, 0x01, 0x06, 0x00, ca, 0x00, 0x00, 0x00, 0x00, 0x14}
	if _, err := c.Write(iframe(0, 0, gi)); err != nil {
		t.Fatal(err)
	}
	// The master never acknowledges: at most k I-frames arrive, then t1
	// closes the connection.
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("unacknowledging master not closed: %v", err)
	}
	n := 0
	for i := 0; i+6 <= len(got); i += int(got[i+1]) + 2 {
		if got[i+2]&1 == 0 {
			n++
		}
	}
	if n == 0 || n > 2 {
		t.Errorf("%d I-frames sent without acknowledgement, want 1..k=2", n)
	}
	serverStillServes(t, r)
}

func TestHundredConnectionsAtOnce(t *testing.T) {
	r := newRig(t, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", r.addr, 10*time.Second)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	testutil.WaitFor(t, 10*time.Second, "server listening", func() bool { return len(conns) > 0 })
	// All but max_connections are closed by the server.
	closed := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if open := len(conns) - closed; open > 4 {
		t.Errorf("%d of %d connections kept open, want at most max_connections (4)", open, len(conns))
	}
	if n := r.srv.Connections(); n > 4 {
		t.Errorf("server counts %d connections", n)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	testutil.WaitFor(t, 10*time.Second, "connections released", func() bool { return r.srv.Connections() == 0 })
	serverStillServes(t, r)
}
