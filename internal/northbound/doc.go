// Package northbound serves the plant to the grid's dispatch centre.
//
// A points table maps protocol addresses to emsd quantities: measurands
// and single points the dispatch centre reads, setpoints and commands it
// writes. The protocol servers (subpackages iec104 and modbus) read the
// plant through a Source and send every setpoint and command through the
// same command.Handler as MQTT, so that validation, the remote/local
// switch, the audit and the counts are one path. A Link watches the
// dispatch connections and the setpoint refresh and applies the fallback
// when dispatch goes silent.
package northbound
