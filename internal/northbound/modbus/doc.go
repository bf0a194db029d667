// Package modbus is the Modbus TCP slave for an RTU or a power plant
// controller, over the points table of package northbound: measurands as
// float input registers, single points as discrete inputs, setpoints as
// float holding registers, commands as coils (see Map). Writes go through
// northbound.Dispatch like IEC 104 and MQTT commands; a refused write is
// answered with an exception and a logged reason.
package modbus
