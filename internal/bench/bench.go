package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/reactive"
)

// Options select and shape one run.
type Options struct {
	// Scenario is the scenario's name (see Scenarios).
	Scenario string
	// Config is the station configuration file; empty: the scenario's default.
	Config string
	// ConfigYAML, if set, is parsed instead of reading Config (tests).
	ConfigYAML []byte
	// Trace is a CSV trace (package trace formats); empty: the scenario's default.
	Trace string
	// Duration bounds the run; 0: the scenario's default.
	Duration time.Duration
	// Speed plays traces and battery time this many times faster; 0: default.
	Speed float64
	// Steps is the number of frequency steps of the latency scenario; 0: 200.
	Steps int
	// FixedQ, if not 0, runs a fixed-Q reactive mode of FixedQ × rated
	// power (P first) beside the scenario's own modes.
	FixedQ float64
	// Out, if set, is a directory for series.csv, units.csv and scenario files.
	Out string
	// FreePorts moves every device to a free loopback port.
	FreePorts bool
	// ChildPlant runs the simulated plant in a child process (poll-scale):
	// the command run to serve it, e.g. {os.Args[0], "-serve-plant"}; the
	// config path is appended, and the device addresses are passed one a
	// line on the child's stdin, ended by an empty line.
	ChildPlant []string
	// Log receives the runtime's log; nil discards it.
	Log *zap.Logger
	// Progress receives one line per phase; nil discards it.
	Progress io.Writer
}

// scenario runs one scenario into res.
type scenario struct {
	config string // default configuration file
	doc    string
	run    func(ctx context.Context, e *env, res *Result) error
}

// Scenarios are the scenario names with a one-line description.
func Scenarios() map[string]string {
	m := make(map[string]string, len(scenarios))
	for n, s := range scenarios {
		m[n] = s.doc
	}
	return m
}

// ScenarioNames lists the scenarios in a stable order.
func ScenarioNames() []string {
	var ns []string
	for n := range scenarios {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

var scenarios = map[string]scenario{}

func register(name, config, doc string, run func(ctx context.Context, e *env, res *Result) error) {
	scenarios[name] = scenario{config: config, doc: doc, run: run}
}

// env is what a scenario works with.
type env struct {
	o     Options
	plant *Plant
	log   *zap.Logger
}

func (e *env) progress(format string, a ...any) {
	if e.o.Progress != nil {
		fmt.Fprintf(e.o.Progress, "emsbench: "+format+"\n", a...)
	}
}

func (e *env) duration(def time.Duration) time.Duration {
	if e.o.Duration > 0 {
		return e.o.Duration
	}
	return def
}

func (e *env) speed(def float64) float64 {
	if e.o.Speed > 0 {
		return e.o.Speed
	}
	return def
}

// rig starts the loop for the scenario's configuration.
func (e *env) rig(o RigOptions) (*Rig, error) {
	o.Log = e.log
	e.progress("starting the simulated plant and the station (%d units)", len(e.plant.Cfg.Units))
	r, err := StartRig(e.plant, o)
	if err != nil || e.o.FixedQ == 0 {
		return r, err
	}
	q := e.o.FixedQ * r.RatedKW
	if err := r.Submit(dispatch.SetReactive{Params: reactive.Params{Mode: reactive.ModeFixedQ, Q: q,
		QMax: max(q, 0), QMin: min(q, 0)}}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Run runs one scenario and returns its result; with o.Out it also writes
// the raw series and result.json there.
func Run(ctx context.Context, o Options) (*Result, error) {
	sc, ok := scenarios[o.Scenario]
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (known: %s)", o.Scenario, strings.Join(ScenarioNames(), ", "))
	}
	if o.Config == "" {
		o.Config = sc.config
	}
	p, err := LoadPlant(o.Config, o.ConfigYAML, o.FreePorts)
	if err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return nil, err
		}
	}
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	e := &env{o: o, plant: p, log: log}
	res := &Result{Scenario: o.Scenario, Config: o.Config, Site: p.Cfg.Site.Name, Units: len(p.Cfg.Units),
		RatedKW: F(p.Cfg.Site.RatedPKW), Plant: "in-process", Speed: 1, Started: time.Now(), Machine: machine()}
	res.Devices = 1
	for _, u := range p.Cfg.Units {
		res.Devices += 1 + len(u.BMS)
	}
	if err := sc.run(ctx, e, res); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Scenario, err)
	}
	if o.FixedQ != 0 {
		res.Note("a fixed Q of %g × rated (%.0f kvar, P first) ran beside the scenario's modes", o.FixedQ, o.FixedQ*float64(res.RatedKW))
	}
	res.WallS = F(time.Since(res.Started).Seconds())
	if o.Out != "" {
		f, err := os.Create(filepath.Join(o.Out, "result.json"))
		if err != nil {
			return nil, err
		}
		if err := res.WriteJSON(f); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// writeSeries writes the recorded series when -out is set.
func (e *env) writeSeries(rows []Sample, units []UnitSample) error {
	if e.o.Out == "" {
		return nil
	}
	return WriteSeries(e.o.Out, rows, units)
}

// findShared locates a file of the shared reference data
// (../shared/data/traces from the repository root) from the working directory.
func findShared(name string) string {
	for _, up := range []string{"..", "../..", "../../..", "../../../.."} {
		p := filepath.Join(up, "shared", "data", "traces", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("..", "shared", "data", "traces", name)
}
