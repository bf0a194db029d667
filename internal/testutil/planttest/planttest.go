// Package planttest runs a simulated plant (package sim) and a station
// (package station) polling it over loopback Modbus, for tests.
//
// [Config] writes and parses the YAML configuration of a plant described by
// a [Spec], every device on its own free loopback port. [StartPlant],
// [NewDispatcher] and [NewStation] build the parts, and [Run] runs the
// station's control loop; everything stops when the test ends. [Sample]
// records what the simulated POI meter serves. For free ports and polling
// see package testutil.
package planttest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/station/stationcfg"
	"github.com/emsd/emsd/internal/testutil"
)

// Spec describes a simulated plant: Units units u1, u2, … of RatedKW, each
// with one PCS and one BMS of CapKWh, behind a POI meter. The sections are
// YAML written into the configuration as they are; an empty one is left
// out, so the configuration's defaults apply.
type Spec struct {
	Name     string  // site name
	Units    int     // number of units
	RatedKW  float64 // rated power per unit; the site's is the sum
	CapKWh   float64 // capacity of each unit's battery; the site's is the sum
	ImportKW float64 // POI import limit; 0 leaves it out
	ExportKW float64 // POI export limit; 0 leaves it out

	Devices  string // flow-style body of devices, e.g. "lost_after: 500ms"
	Control  string // flow-style body of control, e.g. "period: 20ms"
	Dispatch string // block body of dispatch, indented two spaces
	Battery  string // flow-style body of simulator.battery, e.g. "soc_pct: 60"
	Grid     string // block body of simulator.grid, indented four spaces
	Extra    string // appended to the configuration
}

// YAML returns the configuration text of the plant, with every device
// address on a free loopback port.
func (s Spec) YAML(tb testing.TB) string {
	tb.Helper()
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	var b strings.Builder
	fmt.Fprintf(&b, "site:\n  name: %s\n  rated_p_kw: %s\n  rated_e_kwh: %s\n", s.Name, num(s.RatedKW*float64(s.Units)), num(s.CapKWh*float64(s.Units)))
	fmt.Fprintf(&b, "  poi:\n    meter: {address: %s}\n", testutil.FreeAddr(tb))
	if s.ImportKW > 0 {
		fmt.Fprintf(&b, "    import_limit_kw: %s\n", num(s.ImportKW))
	}
	if s.ExportKW > 0 {
		fmt.Fprintf(&b, "    export_limit_kw: %s\n", num(s.ExportKW))
	}
	b.WriteString("units:\n")
	for i := range s.Units {
		fmt.Fprintf(&b, "  - id: u%d\n    rated_p_kw: %s\n    pcs: {address: %s}\n", i+1, num(s.RatedKW), testutil.FreeAddr(tb))
		fmt.Fprintf(&b, "    bms:\n      - {address: %s, capacity_kwh: %s}\n", testutil.FreeAddr(tb), num(s.CapKWh))
	}
	if s.Devices != "" {
		fmt.Fprintf(&b, "devices: {%s}\n", s.Devices)
	}
	if s.Control != "" {
		fmt.Fprintf(&b, "control: {%s}\n", s.Control)
	}
	if s.Dispatch != "" {
		b.WriteString("dispatch:\n" + s.Dispatch)
	}
	b.WriteString("simulator:\n  enabled: true\n")
	if s.Battery != "" {
		fmt.Fprintf(&b, "  battery: {%s}\n", s.Battery)
	}
	if s.Grid != "" {
		b.WriteString("  grid:\n" + s.Grid)
	}
	b.WriteString(s.Extra)
	return b.String()
}

// Config parses the plant's configuration ([Spec.YAML]).
func Config(tb testing.TB, s Spec) *config.Config {
	tb.Helper()
	cfg, err := config.Parse([]byte(s.YAML(tb)), s.Name+".yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Profiles returns the built-in device profiles.
func Profiles(tb testing.TB) devices.Profiles {
	tb.Helper()
	p, err := devices.LoadProfiles("")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// StartPlant starts the simulated plant of cfg and closes it when the test
// ends.
func StartPlant(tb testing.TB, cfg *config.Config, log *zap.Logger) *sim.Plant {
	tb.Helper()
	plant, err := sim.New(cfg, Profiles(tb), log.Named("sim"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := plant.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { plant.Close() })
	return plant
}

// The runtime's types, named here so that the tests of the packages that
// only read the plant (httpapi, telemetry, command) run a real station
// without importing the runtime themselves.
type (
	Station        = station.Station
	Dispatcher     = station.Dispatcher
	StationOptions = station.Options
)

// WrapDispatcher is station.NewDispatcher: ctl as the station's
// controller; onEvents, if not nil, receives each cycle's protection events.
func WrapDispatcher(ctl *dispatch.Controller, log *zap.Logger, onEvents func([]dispatch.Event)) *Dispatcher {
	return station.NewDispatcher(ctl, log, onEvents)
}

// NewDispatcher returns a station.Dispatcher around the dispatch controller
// of cfg's dispatch section.
func NewDispatcher(tb testing.TB, cfg *config.Config, log *zap.Logger) *station.Dispatcher {
	tb.Helper()
	ctl, err := dispatch.New(cfg.DispatchConfig())
	if err != nil {
		tb.Fatal(err)
	}
	d := WrapDispatcher(ctl, log.Named("dispatch"), nil)
	d.SetPCSWatchdog(*cfg.Control.PCSWatchdog)
	return d
}

// NewStation returns a station of cfg, not yet running.
func NewStation(tb testing.TB, cfg *config.Config, log *zap.Logger, o station.Options) *station.Station {
	tb.Helper()
	st, err := station.New(stationcfg.From(cfg), Profiles(tb), log, o)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// Running is a station whose Run is in progress.
type Running struct {
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
}

// Run runs st until [Running.Cancel] or the end of the test, which waits up
// to 10 s for it to stop.
func Run(tb testing.TB, st *station.Station) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- st.Run(ctx) }()
	tb.Cleanup(func() { r.Stop(tb) })
	return r
}

// Cancel cancels Run's context and returns at once.
func (r *Running) Cancel() { r.cancel() }

// errNotStopped is the error of a station that outlives Wait's timeout.
var errNotStopped = errors.New("station did not stop")

// Wait returns Run's result, waiting at most timeout for it; a station that
// does not stop in time yields an error saying so, now and on later calls.
func (r *Running) Wait(timeout time.Duration) error {
	r.once.Do(func() {
		select {
		case r.err = <-r.done:
		case <-time.After(timeout):
			r.err = fmt.Errorf("%w within %v", errNotStopped, timeout)
		}
	})
	return r.err
}

// Stop cancels Run and waits up to 10 s for it, failing the test if it
// does not stop; Run's own result is not checked. Stopping twice is harmless.
func (r *Running) Stop(tb testing.TB) {
	tb.Helper()
	r.Cancel()
	if err := r.Wait(10 * time.Second); errors.Is(err, errNotStopped) {
		tb.Error(err)
	}
}
