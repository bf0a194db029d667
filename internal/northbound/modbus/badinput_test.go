package modbus

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestMalformedFramesAndManyClients: garbage frames and a hundred
// connections at once are refused or closed, and the slave keeps serving.
func TestMalformedFramesAndManyClients(t *testing.T) {
	r := newRig(t, nil)
	addr := "127.0.0.1:" + r.port
	frames := [][]byte{
		{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01},                   // MBAP cut short
		{0x00, 0x01, 0x00, 0x07, 0x00, 0x06, 0x01, 0x04, 0, 0, 0, 2}, // protocol id 7
		{0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x01, 0x2b},             // unsupported function 43
		{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x10, 0, 0, 0, 2}, // write multiple without data
		{0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0x01, 0x03, 0, 0, 0, 1}, // length 65535
	}
	for _, f := range frames {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(f)
		_, _ = io.ReadAll(c) // an exception, a close or the deadline
		c.Close()
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
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
	for _, c := range conns {
		c.Close()
	}
	if cmds := r.plant.appliedCmds(); len(cmds) != 0 {
		t.Fatalf("malformed frames applied %v", cmds)
	}
	// Still serving.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, ok := r.poll(t, "-a", "1", "-t", "3:float", "-B", "-r", "1", "127.0.0.1"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slave does not answer after bad input")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
