// Package config loads and validates the emsd configuration file.
//
// Parsing is strict: an unknown or repeated key, a value of the wrong type,
// a non-finite number or a duration without a unit is an error naming the
// file, the line and the key's path. Validation errors name the path of the
// offending value (units[3].pcs.address), its line (or its parent's, for a
// missing value) and the problem, once, on the key the user wrote. Defaults are filled in by
// Load and documented on each field; docs/configuration.md
// is drawn from the same comments.
package config

import (
	"time"
)

// Config is the whole daemon configuration.
type Config struct {
	// Site describes the plant and its point of interconnection.
	Site Site `yaml:"site"`
	// Units are the plant's units: one PCS each, with one or more BMS.
	Units []Unit `yaml:"units"`
	// Devices holds defaults for every device's communication.
	Devices DeviceDefaults `yaml:"devices"`
	// Control holds the station runtime's loop and safety settings.
	Control Control `yaml:"control"`
	// Dispatch sets modes, overlays and the constraint stack.
	Dispatch Dispatch `yaml:"dispatch"`
	// Log sets the logger.
	Log Log `yaml:"log"`
	// MQTT is the operators' command and state channel.
	MQTT MQTT `yaml:"mqtt"`
	// Influx streams telemetry to InfluxDB.
	Influx Influx `yaml:"influx"`
	// HTTP serves metrics, health and state.
	HTTP HTTP `yaml:"http"`
	// Northbound is the grid dispatch link: IEC 104 and Modbus TCP slaves.
	Northbound Northbound `yaml:"northbound"`
	// ProfilesDir is a directory of extra device profile files (*.yaml).
	// Empty: built-in profiles only.
	ProfilesDir string `yaml:"profiles_dir"`
	// StateDir is where the daemon keeps state across restarts.
	// Default /var/lib/emsd.
	StateDir string `yaml:"state_dir"`
	// Simulator runs a simulated plant in-process on the devices' addresses.
	Simulator Simulator `yaml:"simulator"`
	// HA makes this controller one of a hot-standby pair.
	HA HA `yaml:"ha"`

	// File is the path the configuration was loaded from.
	File string `yaml:"-"`
	// lines maps key paths to their line in File, for error messages.
	lines map[string]int
}

// Site is the plant as a whole.
type Site struct {
	// Name identifies the site in logs and telemetry. Required.
	Name string `yaml:"name"`
	// RatedPKW is the plant's rated active power, kW. Required.
	RatedPKW float64 `yaml:"rated_p_kw"`
	// RatedEKWh is the plant's rated energy, kWh. Required.
	RatedEKWh float64 `yaml:"rated_e_kwh"`
	// NominalHz is the grid's nominal frequency. Default 50.
	NominalHz float64 `yaml:"nominal_hz"`
	// POI is the point of interconnection.
	POI POI `yaml:"poi"`
}

// POI is the point of interconnection: its meter and its limits.
type POI struct {
	// Meter is the revenue/POI meter. Required.
	Meter Device `yaml:"meter"`
	// ImportLimitKW caps power drawn from the grid, kW. Default: Σ unit rated P.
	ImportLimitKW float64 `yaml:"import_limit_kw"`
	// ExportLimitKW caps power fed to the grid, kW. Default: Σ unit rated P.
	ExportLimitKW float64 `yaml:"export_limit_kw"`
}

// Unit is one PCS and the batteries behind it.
type Unit struct {
	// ID names the unit. Required, unique.
	ID string `yaml:"id"`
	// RatedPKW is the unit's rated active power, kW. Required.
	RatedPKW float64 `yaml:"rated_p_kw"`
	// RatedSKVA is the PCS apparent power limit, kVA. Default 1.1 × rated P.
	RatedSKVA float64 `yaml:"rated_s_kva"`
	// PCS is the power conversion system. Required.
	PCS Device `yaml:"pcs"`
	// BMS are the battery systems behind the PCS; at least one.
	BMS []Battery `yaml:"bms"`
}

// Battery is one BMS and the energy it manages.
type Battery struct {
	Device `yaml:",inline"`
	// CapacityKWh is the usable energy at 100 % SOH, kWh. Required.
	CapacityKWh float64 `yaml:"capacity_kwh"`
}

// Device is how to reach one Modbus TCP device.
type Device struct {
	// Address is host:port. Required.
	Address string `yaml:"address"`
	// UnitID is the Modbus unit identifier. Default 1.
	UnitID *int `yaml:"unit_id"`
	// Profile names the register map. Default sim-pcs, sim-bms or sim-meter.
	Profile string `yaml:"profile"`
	// Poll overrides read-group periods of the profile: group → period.
	Poll map[string]time.Duration `yaml:"poll"`
	// Timeout overrides devices.timeout for this device.
	Timeout time.Duration `yaml:"timeout"`
}

// DeviceDefaults apply to every device unless it overrides them.
type DeviceDefaults struct {
	// Timeout bounds one Modbus transaction, dial included. Default 500ms.
	Timeout time.Duration `yaml:"timeout"`
	// BackoffMin is the first reconnect delay after a failure. Default 100ms.
	BackoffMin time.Duration `yaml:"backoff_min"`
	// BackoffMax caps the reconnect delay. Default 1s, so a device is back
	// within about a second of reappearing.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// StaleAfter: a value older than this many read periods is stale. Default 3.
	StaleAfter float64 `yaml:"stale_periods"`
	// LostAfter: a device silent this long is lost. Default 2s.
	LostAfter time.Duration `yaml:"lost_after"`
}

// Control holds the station runtime's settings.
type Control struct {
	// Period of the slow control loop. Default 100ms.
	Period time.Duration `yaml:"period"`
	// HeartbeatPeriod is how often PCS heartbeats are written. Default 1s.
	HeartbeatPeriod time.Duration `yaml:"heartbeat_period"`
	// SummaryPeriod is how often the plant summary is logged. Default 5s; 0 is off.
	SummaryPeriod *time.Duration `yaml:"summary_period"`
	// ShutdownTimeout bounds the ramp to 0 kW on shutdown. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ShutdownRampKWPerS is the unit ramp rate towards 0 on shutdown. Default:
	// each unit's rated P per second.
	ShutdownRampKWPerS float64 `yaml:"shutdown_ramp_kw_per_s"`
	// PCSWatchdog is the communication watchdog configured in the PCS:
	// how long a converter keeps its last setpoint after the EMS's
	// heartbeats stop. A PCS that stops answering is counted as delivering
	// its last acknowledged setpoint for that long, so its share is not
	// ordered twice, and a PCS that reconnects within it resumes from that
	// setpoint. Default 5s, the usual converter watchdog (and the simulated
	// PCS's heartbeat timeout); 0 (set explicitly) moves its share to the
	// others at once.
	PCSWatchdog *time.Duration `yaml:"pcs_watchdog"`
	// SOCMinPct and SOCMaxPct are the hard SOC window. Default 5 and 95.
	SOCMinPct float64 `yaml:"soc_min_pct"`
	SOCMaxPct float64 `yaml:"soc_max_pct"`
}

// Log sets the logger.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is console, json or auto (console on a terminal). Default auto.
	Format string `yaml:"format"`
}

// Simulator configures the built-in simulated plant. Each device of the
// plant is served on its configured address, which must be on loopback.
type Simulator struct {
	// Enabled starts the simulated plant inside the daemon.
	Enabled bool `yaml:"enabled"`
	// ControlAddr is the HTTP fault-injection API address. Empty: off.
	ControlAddr string `yaml:"control_addr"`
	// Step is the physics integration step. Default 5ms.
	Step time.Duration `yaml:"step"`
	// PCS sets the converter model.
	PCS SimPCS `yaml:"pcs"`
	// Battery sets the battery model.
	Battery SimBattery `yaml:"battery"`
	// Grid sets frequency, site load and voltage at the POI.
	Grid SimGrid `yaml:"grid"`
}

// SimPCS is the simulated converter model.
type SimPCS struct {
	// Tau is the first-order lag time constant. Default 50ms.
	Tau time.Duration `yaml:"tau"`
	// Delay is the transport delay from setpoint to response. Default 10ms.
	Delay time.Duration `yaml:"delay"`
	// RampPctPerS limits the power slope, % of rated per second. Default 1000.
	RampPctPerS float64 `yaml:"ramp_pct_per_s"`
	// Efficiency is the one-way conversion efficiency. Default 0.975.
	Efficiency float64 `yaml:"efficiency"`
	// QMaxPct is the converter's own reactive limit, % of rated S, held at
	// any P (also at 0 kW). Default 100.
	QMaxPct float64 `yaml:"q_max_pct"`
	// HeartbeatTimeout drops the PCS to 0 kW when its heartbeat register
	// has not changed for this long. Default 5s; 0 disables.
	HeartbeatTimeout *time.Duration `yaml:"heartbeat_timeout"`
}

// SimBattery is the simulated battery model.
type SimBattery struct {
	// SOCPct is the initial SOC. Default 50.
	SOCPct float64 `yaml:"soc_pct"`
	// SOCSpreadPct spreads initial SOC across batteries (± half). Default 10.
	SOCSpreadPct float64 `yaml:"soc_spread_pct"`
	// AmbientC is the ambient and initial cell temperature. Default 25.
	AmbientC float64 `yaml:"ambient_c"`
	// Cells is the number of series cells, for pack voltage. Default 240.
	Cells int `yaml:"cells"`
	// CRate sets the BMS's nominal power limit as capacity × CRate. Default 0.5.
	CRate float64 `yaml:"c_rate"`
	// TimeScale runs battery time (SOC and temperature) this many times
	// faster than the wall clock, for accelerated day-long runs; the PCS
	// dynamics stay in real time. Default 1.
	TimeScale float64 `yaml:"time_scale"`
}

// SimGrid is the simulated grid at the POI.
type SimGrid struct {
	// FrequencyHz is the constant frequency. Default: site nominal.
	FrequencyHz float64 `yaml:"frequency_hz"`
	// Steps are scripted frequency changes, relative to simulator start.
	Steps []FreqStep `yaml:"frequency_steps"`
	// FrequencyTrace replays a CSV trace (formats: docs/simulator.md). Overrides the above.
	FrequencyTrace string `yaml:"frequency_trace"`
	// LoadKW is the constant site load behind the POI. Default 0.
	LoadKW float64 `yaml:"load_kw"`
	// LoadTrace replays a site-load CSV trace. Overrides LoadKW.
	LoadTrace string `yaml:"load_trace"`
	// AuxLoad is the station's own auxiliary load (HVAC, transformers),
	// added to the load above.
	AuxLoad AuxLoad `yaml:"aux_load"`
	// TraceSpeed plays traces faster than real time. Default 1.
	TraceSpeed float64 `yaml:"trace_speed"`
	// VoltageV is the grid source line voltage; it is the POI voltage when
	// SCR is 0 (a stiff grid). Default 10000.
	VoltageV float64 `yaml:"voltage_v"`
	// VoltageSteps are scripted source-voltage steps and ramps, relative to
	// simulator start.
	VoltageSteps []VoltageStep `yaml:"voltage_steps"`
	// VoltageTrace replays a source-voltage CSV trace. Overrides the above.
	VoltageTrace string `yaml:"voltage_trace"`
	// SCR is the short-circuit ratio at the POI (short-circuit power over
	// the units' summed rated P); 0 is a stiff grid. Default 0.
	SCR float64 `yaml:"scr"`
	// XR is the X/R ratio of the grid impedance. Default 10.
	XR float64 `yaml:"x_r"`
}

// VoltageStep moves the source voltage to V at a time after simulator
// start, linearly over Ramp (0: a step).
type VoltageStep struct {
	At   time.Duration `yaml:"at"`
	V    float64       `yaml:"v"`
	Ramp time.Duration `yaml:"ramp"`
}

// AuxLoad is a slowly varying auxiliary load, KW ± SwingKW: a few
// sinusoids, the slowest of period Period, with phases drawn from Seed (the
// same seed gives the same load). Default none.
type AuxLoad struct {
	KW      float64       `yaml:"kw"`
	SwingKW float64       `yaml:"swing_kw"`
	Period  time.Duration `yaml:"period"` // default 10m
	Seed    uint64        `yaml:"seed"`
}

// FreqStep sets the frequency at a time after simulator start.
type FreqStep struct {
	At time.Duration `yaml:"at"`
	Hz float64       `yaml:"hz"`
}
