package station

import (
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/station/writer"
)

// Config is the plant a station runs and how it runs it. The composition
// root builds it from the daemon's configuration.
type Config struct {
	// Meter is the POI meter.
	Meter Device
	// Units are the PCS with their batteries, in dispatch order.
	Units []Unit
	// Comms apply to every device.
	Comms Comms
	// Period is the control loop's period.
	Period time.Duration
	// HeartbeatPeriod is the longest time between two writes to a PCS.
	HeartbeatPeriod time.Duration
	// SummaryPeriod is how often the plant summary is logged; 0 is off.
	SummaryPeriod time.Duration
	// ShutdownTimeout bounds the ramp to 0 kW on shutdown.
	ShutdownTimeout time.Duration
	// ShutdownRampKWPerS is the ramp rate towards 0 on shutdown; 0 is
	// each unit's rated P per second.
	ShutdownRampKWPerS float64
}

// Unit is one PCS and the batteries behind it.
type Unit struct {
	ID                  string
	RatedPKW, RatedSKVA float64
	PCS                 Device
	BMS                 []Battery
}

// Battery is one BMS and the energy it manages.
type Battery struct {
	Device
	CapacityKWh float64
}

// Device is where a device answers and how it is read.
type Device struct {
	Address string
	UnitID  byte
	// Profile names the register map in the station's profiles.
	Profile string
	// Poll overrides read-group periods of the profile.
	Poll map[string]time.Duration
	// Timeout bounds one Modbus transaction.
	Timeout time.Duration
}

// Comms are the connection settings shared by every device.
type Comms struct {
	BackoffMin, BackoffMax time.Duration
	StalePeriods           float64
	LostAfter              time.Duration
}

// unit is one PCS with its batteries, and the writer of its orders.
type unit struct {
	id             string
	ratedP, ratedS float64
	capacity       []float64
	pcs            *devices.Device
	bms            []*devices.Device
	w              *writer.Writer
}
