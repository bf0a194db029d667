// Package record decides what emsd writes to InfluxDB and writes it.
//
// The Schema declares every measurement with its tags and every field with
// its type, unit, default decimation and meaning; docs/telemetry.md's telemetry
// section is generated from it (Markdown) and a test keeps the two equal,
// as another test keeps the Grafana dashboards under deploy/grafana to the
// fields the Schema declares.
//
// A Recorder is fed from the control loop: Observe, once per control cycle
// (20-100 ms), folds the cycle's view and dispatch report into per-field
// accumulators without allocating; Flush, once per interval (1 s by
// default, from its own goroutine), swaps the accumulators out and writes
// one point per measurement and device for the interval to a Sink (the
// influx.Writer). Fast values can be decimated by last (the default), mean,
// min or max over the interval. Events (protection transitions, mode
// changes, operator commands, device communication changes) are written as
// they happen.
//
// Quality: only good readings are accumulated. A field whose readings were
// all stale or lost during the interval is left out of the point (a gap in
// Grafana, never a wrong number), and each device's point carries a
// "quality" field with the worst quality any of its readings had.
package record
