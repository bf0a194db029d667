// Package bench runs reproducible performance scenarios of the emsd
// runtime against the simulated plant: frequency-response latency, poll
// scalability, frequency steps, AGC tracking, peak shaving, a measured
// frequency trace and PCS faults. The plant (package sim, real Modbus TCP
// servers on loopback) and the station runtime (package station with the
// dispatch controller) run in the same process unless a scenario says
// otherwise; every figure is a loopback simulation, not a field measurement.
//
// Each scenario records the plant's ground truth (sim.Plant.Snapshot) as
// time series that can be written as CSV and scores them with package kpi,
// so a run can be re-scored independently from its CSV files.
package bench
