// Package plant is the plant's data model, shared by the runtime and by
// everything that reads it: the view of one control cycle (View, UnitView,
// BatteryView), the unit setpoint, the device names, and the one rule that
// condenses a unit's batteries into one (Condense). It is a leaf: it
// imports only the process image's value type; the pure dispatch package
// imports it for Setpoint.
package plant
