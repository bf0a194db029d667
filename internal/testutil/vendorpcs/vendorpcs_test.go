package vendorpcs

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"github.com/emsd/emsd/internal/testutil"
)

func client(t *testing.T, p *PCS) (modbus.Client, func()) {
	h := modbus.NewTCPClientHandler(p.Addr())
	h.SlaveId = 1
	h.Timeout = 2 * time.Second
	if err := h.Connect(); err != nil {
		t.Fatal(err)
	}
	return modbus.NewClient(h), func() { h.Close() }
}

func f32cdab(b []byte) float32 {
	return math.Float32frombits(uint32(binary.BigEndian.Uint16(b[2:]))<<16 | uint32(binary.BigEndian.Uint16(b)))
}

// The device behaves as documented: stopped until started, follows its
// setpoint only when running, refuses FC16 for one register, forgets its
// state when restarted and answers its exception block with an exception.
func TestDeviceSemantics(t *testing.T) {
	p := Start(t, Options{ExceptionBlock: [2]int{300, 306}, StartDelay: 200 * time.Millisecond})
	c, done := client(t, p)
	state := func() uint16 {
		b, err := c.ReadHoldingRegisters(100, 1)
		if err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint16(b)
	}
	if s := state(); s != 0 {
		t.Fatalf("state at power-up = %d, want 0 (stopped)", s)
	}
	sp := make([]byte, 4)
	bits := math.Float32bits(100)
	binary.BigEndian.PutUint16(sp, uint16(bits))
	binary.BigEndian.PutUint16(sp[2:], uint16(bits>>16))
	if _, err := c.WriteMultipleRegisters(201, 2, sp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteMultipleRegisters(200, 1, []byte{0, 0xCF}); err == nil {
		t.Fatal("FC16 on the one-register command was accepted; the device takes FC06 only")
	}
	if _, err := c.WriteSingleRegister(200, 0xCF); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "running and delivering 100 kW", func() bool {
		b, err := c.ReadHoldingRegisters(100, 4)
		return err == nil && binary.BigEndian.Uint16(b) == 2 && math.Abs(float64(f32cdab(b[4:]))-100) < 1
	})
	if _, err := c.ReadHoldingRegisters(298, 4); err == nil {
		t.Fatal("a read overlapping the exception block succeeded")
	}
	if _, err := c.ReadHoldingRegisters(306, 2); err != nil {
		t.Fatalf("a read beside the exception block failed: %v", err)
	}
	done()

	p.Restart()
	c, done = client(t, p)
	defer done()
	if s := state(); s != 0 {
		t.Fatalf("state after a restart = %d, want 0 (stopped)", s)
	}
}
