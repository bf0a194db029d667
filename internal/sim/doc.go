// Package sim is the simulated plant: converters, batteries and a POI meter,
// each served as a real Modbus TCP server on its configured address.
package sim
