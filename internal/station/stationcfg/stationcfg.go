// Package stationcfg translates a checked configuration into the station's own
// [station.Config]: the one translation that the daemon, the bench and the
// test rigs share, so that station itself never imports config.
package stationcfg

import (
	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/station"
)

// From is the station part of a checked configuration: the one
// translation from config to station.Config, for every composition root
// (the daemon, the bench and the test rigs).
func From(cfg *config.Config) station.Config {
	dev := func(d *config.Device) station.Device {
		return station.Device{Address: d.Address, UnitID: d.UnitIDOf(), Profile: d.Profile, Poll: d.Poll,
			Timeout: d.TimeoutOr(cfg.Devices.Timeout)}
	}
	c := station.Config{
		Meter: dev(&cfg.Site.POI.Meter),
		Comms: station.Comms{BackoffMin: cfg.Devices.BackoffMin, BackoffMax: cfg.Devices.BackoffMax,
			StalePeriods: cfg.Devices.StaleAfter, LostAfter: cfg.Devices.LostAfter},
		Period:             cfg.Control.Period,
		HeartbeatPeriod:    cfg.Control.HeartbeatPeriod,
		ShutdownTimeout:    cfg.Control.ShutdownTimeout,
		ShutdownRampKWPerS: cfg.Control.ShutdownRampKWPerS,
	}
	if cfg.Control.SummaryPeriod != nil {
		c.SummaryPeriod = *cfg.Control.SummaryPeriod
	}
	for i := range cfg.Units {
		cu := &cfg.Units[i]
		u := station.Unit{ID: cu.ID, RatedPKW: cu.RatedPKW, RatedSKVA: cu.RatedSKVA, PCS: dev(&cu.PCS)}
		for j := range cu.BMS {
			u.BMS = append(u.BMS, station.Battery{Device: dev(&cu.BMS[j].Device), CapacityKWh: cu.BMS[j].CapacityKWh})
		}
		c.Units = append(c.Units, u)
	}
	return c
}
