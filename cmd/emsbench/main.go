// Command emsbench benchmarks the emsd runtime against the simulated plant.
//
// Usage:
//
//	emsbench -scenario NAME [-config FILE] [-trace FILE] [-duration D] [-speed X] [-out DIR] [-json]
//	emsbench -gen-config ref-800mwh|ref-800mwh-string > FILE
//	emsbench -list
//
// The simulated plant (real Modbus TCP servers on loopback) and the
// daemon's station runtime with its dispatch controller run in this
// process; poll-scale runs the plant in a child process by default (-plant),
// so that the CPU and memory figures are the runtime's own. Every figure
// is a loopback simulation. Scenarios: latency, poll-scale, fr-step, agc,
// peak-shave, freq-trace, faults, failover (-list describes them).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/emsd/emsd/internal/bench"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "emsbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.StringVar(&o.Scenario, "scenario", "", "scenario to run (-list shows them)")
	fs.StringVar(&o.Config, "config", "", "station configuration (default: the scenario's reference station)")
	fs.StringVar(&o.Trace, "trace", "", "CSV trace: regulation -1..+1, frequency (f_hz or df_mhz, RTE) or site load (load_kw)")
	fs.DurationVar(&o.Duration, "duration", 0, "run length (default: the scenario's)")
	fs.Float64Var(&o.Speed, "speed", 0, "play traces and battery time this many times faster (default: the scenario's)")
	fs.IntVar(&o.Steps, "steps", 0, "latency: number of frequency steps (default 200)")
	fs.Float64Var(&o.FixedQ, "fixed-q", 0, "run a fixed-Q reactive mode of this fraction of rated power (P first) beside the scenario, e.g. 0.3")
	fs.StringVar(&o.Out, "out", "", "directory for series.csv, units.csv, result.json and scenario files")
	fixed := fs.Bool("fixed-ports", false, "serve the devices on the config's ports (default: free loopback ports, as the machine is shared)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the table")
	plant := fs.String("plant", "child", "poll-scale: run the simulated plant in a child process (child) or in this one (inproc)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	logLevel := fs.String("log-level", "error", "runtime log level (to stderr)")
	gen := fs.String("gen-config", "", "print the generated reference station config (ref-800mwh, ref-800mwh-string) and exit")
	servePlant := fs.String("serve-plant", "", "internal: serve the simulated plant of this config until stdin closes")
	list := fs.Bool("list", false, "list the scenarios")
	runs := fs.Int("runs", 1, "run the scenario this many times and report the median of each figure (-out keeps the last run's files)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.FreePorts = !*fixed
	switch {
	case *gen != "":
		mk, ok := bench.Specs[*gen]
		if !ok {
			names := make([]string, 0, len(bench.Specs))
			for n := range bench.Specs {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("-gen-config: unknown station %q (known: %s)", *gen, strings.Join(names, ", "))
		}
		_, err := stdout.Write(mk().YAML())
		return err
	case *servePlant != "":
		return serve(*servePlant, stdout)
	case *list:
		docs := bench.Scenarios()
		for _, n := range bench.ScenarioNames() {
			fmt.Fprintf(stdout, "%-11s %s\n", n, docs[n])
		}
		return nil
	case o.Scenario == "":
		fs.Usage()
		return errors.New("-scenario is required")
	}
	if *plant == "child" && o.Scenario == "poll-scale" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.ChildPlant = []string{exe, "-serve-plant"}
	} else if *plant != "child" && *plant != "inproc" {
		return fmt.Errorf("-plant %q: want child or inproc", *plant)
	}
	lvl, err := zapcore.ParseLevel(*logLevel)
	if err != nil {
		return err
	}
	lc := zap.NewDevelopmentConfig()
	lc.Level = zap.NewAtomicLevelAt(lvl)
	lc.OutputPaths, lc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	if o.Log, err = lc.Build(); err != nil {
		return err
	}
	o.Progress = stderr
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var all []*bench.Result
	for i := range max(*runs, 1) {
		if *runs > 1 {
			fmt.Fprintf(stderr, "emsbench: run %d of %d\n", i+1, *runs)
		}
		res, err := bench.Run(ctx, o)
		if err != nil {
			return err
		}
		all = append(all, res)
	}
	res := all[0]
	if len(all) > 1 {
		res = bench.Median(all)
	}
	if *asJSON {
		return res.WriteJSON(stdout)
	}
	res.WriteTable(stdout)
	return nil
}

// serve runs only the simulated plant (for poll-scale's child process):
// it reads the device addresses from stdin (one a line, ended by an empty
// line), prints "ready" once every device listens and serves until stdin
// closes.
func serve(path string, stdout io.Writer) error {
	p, err := bench.LoadPlant(path, nil, false)
	if err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	var addrs []string
	for {
		line, err := in.ReadString('\n')
		if line = strings.TrimSpace(line); line == "" || err != nil {
			break
		}
		addrs = append(addrs, line)
	}
	if err := p.SetAddresses(addrs); err != nil {
		return err
	}
	pl, _, err := bench.StartSim(p, nil)
	if err != nil {
		return err
	}
	defer pl.Close()
	fmt.Fprintln(stdout, "ready")
	_, _ = io.Copy(io.Discard, in)
	return nil
}
