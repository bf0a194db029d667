package sim

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
)

// Plant is a simulated storage plant: one physics model stepped by one
// goroutine, and one Modbus TCP server per configured device.
type Plant struct {
	cfg      *config.Config
	profiles devices.Profiles
	log      *zap.Logger
}

// New builds a plant from the configuration; every device's profile must be
// in profiles. Nothing listens until Start.
func New(cfg *config.Config, profiles devices.Profiles, log *zap.Logger) (*Plant, error) {
	if log == nil {
		log = zap.NewNop()
	}
	return &Plant{cfg: cfg, profiles: profiles, log: log}, nil
}

// Start binds every device server, starts the physics and, when configured,
// the HTTP control API. It returns once all of them listen; an address in
// use is an error naming the device and the address.
func (p *Plant) Start(ctx context.Context) error { return errors.New("sim: not implemented yet") }

// Close stops the physics, every server and the control API.
func (p *Plant) Close() error { return nil }

// Devices lists the device names: "poi", "<unit>.pcs", "<unit>.bms<j>".
func (p *Plant) Devices() []string { return nil }

// DropDevice stops a device's server: listener and connections close (comm loss).
func (p *Plant) DropDevice(name string) error { return nil }

// RestoreDevice listens again on a dropped device's address.
func (p *Plant) RestoreDevice(name string) error { return nil }

// DelayDevice delays every reply of a device by d (0 removes the delay).
func (p *Plant) DelayDevice(name string, d time.Duration) error { return nil }

// Blackhole makes a device accept connections and read requests but never
// answer (on), or answer again (off).
func (p *Plant) Blackhole(name string, on bool) error { return nil }

// SetPCSFault sets or clears a unit's PCS general fault; a faulted PCS trips to 0 kW.
func (p *Plant) SetPCSFault(unit string, on bool) error { return nil }

// SetBMSAlarm forces battery bms of unit to alarm level 0..3 (3 opens the
// contactor); -1 returns it to physics-driven alarms.
func (p *Plant) SetBMSAlarm(unit string, bms int, level int) error { return nil }

// SetFrequency sets the grid frequency, overriding the configured source from now on.
func (p *Plant) SetFrequency(hz float64) {}

// StepFrequency is SetFrequency returning the instant the new value became
// readable at the meter.
func (p *Plant) StepFrequency(hz float64) time.Time { return time.Now() }

// SetLoad sets the site load behind the POI, overriding the configured source.
func (p *Plant) SetLoad(kw float64) {}

// Snapshot returns the plant's ground truth.
func (p *Plant) Snapshot() State { return State{} }
