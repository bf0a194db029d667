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
//     available power with SOC balancing, and the reactive stage (package
//     reactive), which asks the Q mode (SetReactive: fixed Q, power factor,
//     Q(U), voltage setpoint; off leaves Q to the manual setpoint) for the
//     plant Q and splits it by each unit's reactive headroom. P first (the
//     default) gives Q what each unit's apparent power leaves after P; Q
//     first splits Q over the units' apparent power first and leaves P the
//     rest, the P it takes being the binding constraint ConstraintQPriority.
//
// Protection choices: BMS alarm level 1 derates both directions to
// Config.DerateFactor (default 50 %); level 2 limits the stressed direction
// to Config.LimitFactor (default 0) and the other to DerateFactor, where the
// stressed direction is charging for high cell voltage, high SOC or cold
// cells, discharging for low cell voltage or low SOC, and both when it
// cannot be told (e.g. over-temperature). Level 3, a PCS fault or BMS data
// bad for longer than Config.BMSTimeout trip the unit to 0 kW at once,
// latched until a Reset command finds the cause gone. Bad BMS or PCS data
// younger than the timeout takes the unit out of the split without tripping.
//
// AGC tracks a POI target: reference ramp, integral trim and the site's own
// POI power (POI minus measured battery output) fed forward, so the trim,
// clamped to AGCParams.IntegralLimit, is spent only on model error. A trim
// held at its limit with a POI error left is the binding constraint
// ConstraintAGCTrim. Entering AGC starts from the current output.
//
// POI limits in Config never make the battery add to an import or export
// excess, but do not force it to compensate the site load; active import
// limiting and anti-backflow are the peak-shaving mode's job.
//
// Signs and units: P > 0 is discharge to the grid, P < 0 is charge; kW, kvar,
// kWh, Hz, °C, V; SOC in percent.
//
// Step is O(n) in the number of units and allocation-free once its buffers
// have grown to the plant size.
package dispatch
