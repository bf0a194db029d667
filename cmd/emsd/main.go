// Command emsd is the energy management system daemon for battery
// energy-storage plants.
//
// Usage:
//
//	emsd [run] -config FILE [-log-level L] [-log-format F]
//	emsd check-config FILE
//	emsd sim -config FILE
//	emsd profiles [-dir DIR] [NAME...]
//	emsd northbound points [-config FILE]
//	emsd version
//
// Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(err error) error  { return &exitError{code: 2, err: err} }
func configErr(err error) error { return &exitError{code: 2, err: err} }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "emsd:", err)
	}
	os.Exit(code)
}

func run(args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stderr, false)
	case "sim":
		return cmdRun(args, stderr, true)
	case "check-config":
		return cmdCheck(args, stdout, stderr)
	case "profiles":
		return cmdProfiles(args, stdout, stderr)
	case "northbound":
		return cmdNorthbound(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "emsd", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageErr(fmt.Errorf("unknown command %q\n%s", cmd, usage))
}

const usage = `usage:
  emsd [run] -config FILE [-log-level debug|info|warn|error] [-log-format auto|console|json]
  emsd check-config FILE
  emsd sim -config FILE       run only the simulated plant
  emsd profiles [-dir DIR] [NAME...]   list device profiles, or print their register maps
  emsd northbound points [-config FILE]   print the dispatch points table in effect as CSV
  emsd version
`

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// load reads the configuration and checks it against the profiles.
func load(path string) (*config.Config, devices.Profiles, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, configErr(err)
	}
	profiles, err := devices.LoadProfiles(cfg.ProfilesDir)
	if err != nil {
		return nil, nil, configErr(fmt.Errorf("%s: profiles_dir: %w", path, err))
	}
	if err := cfg.CheckProfiles(profiles); err != nil {
		return nil, nil, configErr(err)
	}
	return cfg, profiles, nil
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		return usageErr(errors.New("check-config: which file? usage: emsd check-config FILE"))
	}
	cfg, profiles, err := load(*path)
	if err != nil {
		return err
	}
	printSummary(stdout, cfg, profiles)
	return nil
}

func printSummary(w io.Writer, c *config.Config, p devices.Profiles) {
	nBMS := 0
	var capKWh float64
	for _, u := range c.Units {
		nBMS += len(u.BMS)
		for _, b := range u.BMS {
			capKWh += b.CapacityKWh
		}
	}
	fmt.Fprintf(w, "%s: OK\n", c.File)
	fmt.Fprintf(w, "site %q: %.0f kW / %.0f kWh rated, %v Hz nominal\n", c.Site.Name, c.Site.RatedPKW, c.Site.RatedEKWh, c.Site.NominalHz)
	fmt.Fprintf(w, "POI meter %s (%s), import limit %.0f kW, export limit %.0f kW\n",
		c.Site.POI.Meter.Address, c.Site.POI.Meter.Profile, c.Site.POI.ImportLimitKW, c.Site.POI.ExportLimitKW)
	fmt.Fprintf(w, "%d units, %d BMS, %.0f kWh of battery capacity\n", len(c.Units), nBMS, capKWh)
	const maxList = 10
	for i, u := range c.Units {
		if i == maxList {
			fmt.Fprintf(w, "  … and %d more units\n", len(c.Units)-maxList)
			break
		}
		fmt.Fprintf(w, "  %-8s %7.0f kW %7.0f kVA  PCS %s (%s), %d BMS\n", u.ID, u.RatedPKW, u.RatedSKVA, u.PCS.Address, u.PCS.Profile, len(u.BMS))
	}
	fmt.Fprintf(w, "control period %v, heartbeat %v, SOC window %.0f-%.0f %%\n",
		c.Control.Period, c.Control.HeartbeatPeriod, c.Control.SOCMinPct, c.Control.SOCMaxPct)
	if c.Simulator.Enabled {
		fmt.Fprintf(w, "simulator: enabled (PCS τ %v, delay %v)", c.Simulator.PCS.Tau, c.Simulator.PCS.Delay)
		if c.Simulator.ControlAddr != "" {
			fmt.Fprintf(w, ", control API http://%s", c.Simulator.ControlAddr)
		}
		fmt.Fprintln(w)
	}
	if h := &c.HA; h.Enabled {
		fmt.Fprintf(w, "hot standby: %q of a pair, etcd %s, lease %v, fence margin %v\n", h.Name, strings.Join(h.Etcd, ", "), h.LeaseTTL, h.FenceMargin)
	}
	_ = p
}

func cmdRun(args []string, stderr io.Writer, simOnly bool) error {
	name := "run"
	if simOnly {
		name = "sim"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/emsd/emsd.yaml", "configuration file")
	level := fs.String("log-level", "", "log level: debug, info, warn or error (overrides the config)")
	format := fs.String("log-format", "", "log format: auto, console or json (overrides the config)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0)))
	}
	cfg, profiles, err := load(*path)
	if err != nil {
		return err
	}
	if *level != "" {
		cfg.Log.Level = *level
	}
	if *format != "" {
		cfg.Log.Format = *format
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return usageErr(err)
	}
	defer func() { _ = log.Sync() }()
	log.Info("emsd starting", zap.String("version", versionString()), zap.String("config", cfg.File),
		zap.String("site", cfg.Site.Name), zap.Int("units", len(cfg.Units)))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if simOnly && !cfg.Simulator.Enabled {
		return configErr(fmt.Errorf("%s: simulator.enabled: must be true for emsd sim", cfg.File))
	}
	var plant *sim.Plant
	if cfg.Simulator.Enabled {
		plant, err = sim.New(cfg, profiles, log.Named("sim"))
		if err != nil {
			return err
		}
		if err := plant.Start(ctx); err != nil {
			return err
		}
		defer func() { _ = plant.Close() }()
		log.Info("simulated plant serving", zap.Int("devices", len(plant.Devices())), zap.String("control_api", cfg.Simulator.ControlAddr))
	}
	if simOnly {
		newNotifier(log).Ready()
		<-ctx.Done()
		log.Info("simulator stopped")
		return nil
	}

	svc, st, err := newServices(cfg, profiles, log, newNotifier(log))
	if err != nil {
		return err
	}
	if err := svc.start(ctx); err != nil {
		svc.stop()
		return err
	}
	defer svc.stop()
	if err := st.Run(ctx); err != nil {
		// The stop was asked for; the PCS heartbeat watchdogs cover the
		// units that did not confirm, so this is logged, not a failure exit.
		log.Error("stopped with units unconfirmed", zap.Error(err))
	}
	log.Info("emsd stopped")
	return nil
}

// newDispatcher builds the dispatch controller with the configured start
// mode and frequency response.
func newDispatcher(cfg *config.Config, log *zap.Logger, onEvents func([]dispatch.Event)) (*station.Dispatcher, error) {
	ctl, err := dispatch.New(cfg.DispatchConfig())
	if err != nil {
		return nil, fmt.Errorf("%s: dispatch: %w", cfg.File, err)
	}
	now := time.Now()
	dcfg := &cfg.Dispatch
	if dcfg.FrequencyResponse.Enabled {
		dc := ctl.Config()
		if err := ctl.Apply(dispatch.SetPFR{Enable: true, PFRParams: dc.PFR}, now); err != nil {
			return nil, fmt.Errorf("%s: dispatch.frequency_response: %w", cfg.File, err)
		}
	}
	if dcfg.Mode != "" && dcfg.Mode != string(dispatch.ModeStandby) {
		if err := ctl.Apply(dispatch.SetMode{Mode: dispatch.Mode(dcfg.Mode)}, now); err != nil {
			return nil, fmt.Errorf("%s: dispatch.mode: %w", cfg.File, err)
		}
	}
	ids := make([]string, len(cfg.Units))
	for i, u := range cfg.Units {
		ids[i] = u.ID
	}
	ctl.SetUnits(ids)
	log.Info("dispatch", zap.String("mode", string(ctl.Mode())), zap.Bool("frequency_response", dcfg.FrequencyResponse.Enabled))
	d := station.NewDispatcher(ctl, log.Named("dispatch"), onEvents)
	d.SetPCSWatchdog(*cfg.Control.PCSWatchdog)
	return d, nil
}
