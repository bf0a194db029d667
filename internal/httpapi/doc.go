// Package httpapi is the daemon's HTTP server, for monitoring and the
// local HMI, read only:
//
//   - GET /metrics: the Prometheus exposition of the given gatherer;
//   - GET /healthz: liveness. 200 while the control loop has cycled
//     within Options.LiveWithin (default the larger of 3 control periods
//     and 1 s), else 503 with the reason, as JSON;
//   - GET /readyz: readiness. 200 once every point of every device has
//     been read (Station.Ready) and the control loop is live, else 503
//     with the reason and the devices not online, as JSON;
//   - GET /api/state: the current snapshot as JSON (see State): plant
//     P, Q, f, V and SOC with quality and age, the dispatch mode, overlays
//     and last report (binding constraint and cut), per unit its
//     measurements, limits, protection state, last acknowledged setpoint
//     and the health of its devices, and recent protection events. The
//     meter's, each PCS's and each BMS's standard points are members of
//     the plant's, unit's and battery's object, under their keys in
//     plant.Standards (see Points).
//
// Values that are not finite (a point never read, a point the profile
// lacks) are null or left out, never NaN.
package httpapi
