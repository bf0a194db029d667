// Package dispatch is the control brain of emsd: pure, deterministic logic
// that turns one snapshot of the plant, the operator commands and the time
// into one active/reactive power setpoint per PCS unit.
//
// It does no I/O. The station runtime reads a snapshot each cycle, converts it
// into an Input, calls Controller.Step and writes the resulting setpoints to
// the PCS. Commands from operators arrive through Controller.Apply.
//
// One Step runs, in order:
//
//   - the per-unit protection state machine (normal → derate → limit → trip),
//     and the plant emergency stop;
//   - the constraint stack on each unit's available charge/discharge power:
//     rating, availability, protection, BMS dynamic limits, SOC window, cell
//     voltage and temperature limits;
//   - the active base mode (standby, manual, schedule, peak shaving, AGC),
//     followed by the plant ramp limiter and the frequency-response headroom
//     reserve;
//   - the overlays (primary frequency response, fast frequency response);
//   - the plant capacity and POI limits;
//   - the allocator, which splits plant P across units in proportion to their
//     available power with SOC balancing, then splits Q within each unit's
//     apparent-power circle.
//
// Signs and units: P > 0 is discharge to the grid, P < 0 is charge; kW, kvar,
// kWh, Hz, °C, V; SOC in percent.
//
// Step is O(n) in the number of units and allocation-free once its buffers
// have grown to the plant size.
package dispatch
