package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/sim"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/station/stationcfg"
)

// Plant is a loaded configuration with its device profiles.
type Plant struct {
	Cfg      *config.Config
	Profiles devices.Profiles
}

// LoadPlant reads a configuration file (or, if yaml is not nil, parses
// yaml under the name path), checks it against the built-in profiles and,
// with freePorts, moves every device to a free loopback port and turns the
// simulator's HTTP API off, so that several runs can share a machine.
func LoadPlant(path string, yaml []byte, freePorts bool) (*Plant, error) {
	var cfg *config.Config
	var err error
	if yaml != nil {
		cfg, err = config.Parse(yaml, path)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, err
	}
	if !cfg.Simulator.Enabled {
		return nil, fmt.Errorf("%s: simulator.enabled must be true: emsbench runs against the simulated plant", path)
	}
	profiles, err := devices.LoadProfiles(cfg.ProfilesDir)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckProfiles(profiles); err != nil {
		return nil, err
	}
	if freePorts {
		if err := remap(cfg); err != nil {
			return nil, err
		}
	}
	return &Plant{Cfg: cfg, Profiles: profiles}, nil
}

// addresses points at every device address: the meter, then each unit's
// PCS and BMS.
func addresses(cfg *config.Config) []*string {
	addrs := []*string{&cfg.Site.POI.Meter.Address}
	for i := range cfg.Units {
		u := &cfg.Units[i]
		addrs = append(addrs, &u.PCS.Address)
		for j := range u.BMS {
			addrs = append(addrs, &u.BMS[j].Address)
		}
	}
	return addrs
}

// Addresses lists every device address in configuration order.
func (p *Plant) Addresses() []string {
	var out []string
	for _, a := range addresses(p.Cfg) {
		out = append(out, *a)
	}
	return out
}

// SetAddresses replaces every device address (as listed by Addresses).
func (p *Plant) SetAddresses(list []string) error {
	addrs := addresses(p.Cfg)
	if len(list) != len(addrs) {
		return fmt.Errorf("%d addresses for %d devices", len(list), len(addrs))
	}
	for i, a := range addrs {
		*a = list[i]
	}
	p.Cfg.Simulator.ControlAddr = ""
	return nil
}

// remap gives every device a free loopback port.
func remap(cfg *config.Config) error {
	addrs := addresses(cfg)
	ls := make([]net.Listener, 0, len(addrs))
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, a := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		*a = l.Addr().String()
	}
	cfg.Simulator.ControlAddr = ""
	return nil
}

// Rig is a running closed loop: the simulated plant (unless it runs in
// another process), the station runtime and its dispatch controller.
type Rig struct {
	Cfg *config.Config
	// Sim is the in-process simulated plant; nil when it runs elsewhere.
	Sim *sim.Plant
	// SimStart is when the plant started: simulated time 0.
	SimStart time.Time
	Station  *station.Station
	Disp     *station.Dispatcher
	// Droop is the frequency response the controller started with.
	Droop dispatch.DroopParams
	// RatedKW is the plant's rated power.
	RatedKW float64

	cancel context.CancelFunc
	done   chan error
}

// RigOptions are the optional parts of a rig.
type RigOptions struct {
	// NoSim leaves the plant to another process.
	NoSim bool
	// Sim, if set, is an in-process plant already started at SimStart;
	// the rig adopts it and closes it with itself.
	Sim      *sim.Plant
	SimStart time.Time
	// Station options; the Controller is set by the rig.
	Station station.Options
	// Log is the logger; nil logs nothing.
	Log *zap.Logger
}

// StartSim starts only the simulated plant.
func StartSim(p *Plant, log *zap.Logger) (*sim.Plant, time.Time, error) {
	if log == nil {
		log = zap.NewNop()
	}
	pl, err := sim.New(p.Cfg, p.Profiles, log.Named("sim"))
	if err != nil {
		return nil, time.Time{}, err
	}
	t0 := time.Now()
	if err := pl.Start(context.Background()); err != nil {
		return nil, time.Time{}, err
	}
	return pl, t0, nil
}

// StartRig starts the plant (unless o.NoSim) and the station with the
// dispatch controller configured as emsd run does (start mode and
// frequency response from the file), and waits for the first full poll.
func StartRig(p *Plant, o RigOptions) (*Rig, error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	r := &Rig{Cfg: p.Cfg, RatedKW: p.Cfg.Site.RatedPKW, done: make(chan error, 1)}
	if o.Sim != nil {
		r.Sim, r.SimStart = o.Sim, o.SimStart
	} else if !o.NoSim {
		var err error
		if r.Sim, r.SimStart, err = StartSim(p, log); err != nil {
			return nil, err
		}
	}
	ctl, err := dispatch.New(p.Cfg.DispatchConfig())
	if err != nil {
		r.closeSim()
		return nil, err
	}
	now := time.Now()
	if p.Cfg.Dispatch.FrequencyResponse.Enabled {
		if err := ctl.Apply(dispatch.SetPFR{Enable: true, PFRParams: ctl.Config().PFR}, now); err != nil {
			r.closeSim()
			return nil, err
		}
	}
	if m := p.Cfg.Dispatch.Mode; m != "" && m != string(dispatch.ModeStandby) {
		if err := ctl.Apply(dispatch.SetMode{Mode: dispatch.Mode(m)}, now); err != nil {
			r.closeSim()
			return nil, err
		}
	}
	r.Droop, _ = ctl.DroopParams()
	r.Disp = station.NewDispatcher(ctl, log.Named("dispatch"), nil)
	r.Disp.SetPCSWatchdog(*p.Cfg.Control.PCSWatchdog)
	so := o.Station
	so.Controller = r.Disp
	if r.Station, err = station.New(stationcfg.From(p.Cfg), p.Profiles, log, so); err != nil {
		r.closeSim()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.Station.Run(ctx) }()
	deadline := time.Now().Add(60 * time.Second)
	for !r.Station.Ready() {
		if time.Now().After(deadline) {
			r.Close()
			return nil, errors.New("the station did not complete its first full poll within 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r, nil
}

// Submit applies operator commands through the dispatcher.
func (r *Rig) Submit(cmds ...dispatch.Command) error {
	for _, c := range cmds {
		if _, err := r.Disp.Submit(context.Background(), c); err != nil && !errors.Is(err, dispatch.ErrWithinDeadBand) {
			return fmt.Errorf("%T: %w", c, err)
		}
	}
	return nil
}

// Close stops the station (which ramps the units to 0) and the plant.
func (r *Rig) Close() error {
	var err error
	if r.cancel != nil {
		r.cancel()
		select {
		case err = <-r.done:
		case <-time.After(15 * time.Second):
			err = errors.New("station did not stop within 15 s")
		}
	}
	r.closeSim()
	return err
}

func (r *Rig) closeSim() {
	if r.Sim != nil {
		r.Sim.Close()
	}
}

// waitUntil polls cond every 5 ms until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// sleepCtx sleeps for d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
