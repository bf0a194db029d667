package sunspec

import "github.com/simonvetter/modbus"

// ModbusReader reads holding registers through a Modbus client.
type ModbusReader struct {
	C    *modbus.ModbusClient
	Unit uint8
}

// ReadRegisters implements Reader.
func (r ModbusReader) ReadRegisters(addr, qty uint16) ([]uint16, error) {
	if err := r.C.SetUnitId(r.Unit); err != nil {
		return nil, err
	}
	return r.C.ReadRegisters(addr, qty, modbus.HOLDING_REGISTER)
}
