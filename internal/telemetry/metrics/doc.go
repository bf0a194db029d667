// Package metrics exposes the daemon's Prometheus metrics on a registry of
// its own (never the global default), together with the Go runtime and
// process collectors.
//
// Hot-path metrics are fed by the station's hooks and cost no allocation:
//
//	m := metrics.New(metrics.Options{})
//	st, err := station.New(stationCfg, profiles, log, station.Options{
//		Controller:  disp,
//		Observer:    m,             // every Modbus transaction
//		FastLatency: m.FastLatency, // reading-to-acknowledged-write
//		OnCycle:     m.OnCycle,     // cycle count by kind, and duration
//	})
//	m.Attach(st, disp)                  // plant, device and dispatch state
//	influxWriter.Register(m.Registry()) // emsd_influx_*
//	m.RegisterMQTT(mqttClient)          // emsd_mqtt_*
//	// and m in the command handler's audit: command.MultiAudit{..., m}
//
// Everything else is read at scrape time: plant values from
// Station.Latest, device health from Device.Health, mode, constraint and
// protection states from the Dispatcher.
//
// Units follow the project: kW, kvar, Hz, V, percent; durations in
// seconds. Enumerations are exposed two ways where alerting needs it: a
// numeric gauge per subject (emsd_device_state, 0 lost, 1 stale, 2
// online; emsd_unit_protection_state, 0 normal, 1 derate, 2 limit,
// 3 trip) and a count per state (emsd_devices, emsd_units_protection).
// Modes and the binding constraint are info-style gauges: one series per
// known value, 1 for the active one and 0 for the others.
//
// Cardinality: per device there are a handful of scrape-time series plus
// the transaction histogram (DefaultDeviceBuckets: 8 buckets, 11 series
// per device and op). A plant of 900 PCS and 900 BMS exposes about 40 000
// series, most of them histogram buckets; pass fewer DeviceBuckets to
// shrink that.
package metrics
