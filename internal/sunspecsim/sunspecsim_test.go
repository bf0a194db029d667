package sunspecsim_test

import (
	"testing"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
	"github.com/emsd/emsd/internal/testutil"
)

// TestServerServesImage: reads inside the image return it, reads past it
// answer an exception, writes are stored.
func TestServerServesImage(t *testing.T) {
	img, err := sunspecsim.Build(40000, []sunspecsim.Model{{ID: 1}, {ID: 124}}, false)
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	srv, err := sunspecsim.Serve(addr, img)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(); err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	regs, err := cl.ReadRegisters(40000, 4, modbus.HOLDING_REGISTER)
	if err != nil || regs[0] != sunspec.Marker[0] || regs[1] != sunspec.Marker[1] || regs[2] != 1 || regs[3] != 66 {
		t.Fatalf("header %04x, %v", regs, err)
	}
	end := 40000 + uint16(len(img.Regs))
	if regs, err := cl.ReadRegisters(end-2, 2, modbus.HOLDING_REGISTER); err != nil || regs[0] != 0xFFFF || regs[1] != 0 {
		t.Errorf("end marker %04x, %v", regs, err)
	}
	if _, err := cl.ReadRegisters(end-1, 2, modbus.HOLDING_REGISTER); err != modbus.ErrIllegalDataAddress {
		t.Errorf("read past the end: %v", err)
	}
	if err := cl.WriteRegister(40080, 0x1234); err != nil {
		t.Fatal(err)
	}
	if regs, err := cl.ReadRegisters(40080, 1, modbus.HOLDING_REGISTER); err != nil || regs[0] != 0x1234 {
		t.Errorf("after write: %04x, %v", regs, err)
	}
}
