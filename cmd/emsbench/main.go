// Command emsbench benchmarks the emsd runtime against the simulated plant.
//
// Usage:
//
//	emsbench -scenario NAME [-config FILE] [-trace FILE] [-duration D] [-speed X] [-out DIR] [-json]
//	emsbench -gen-config ref-800mwh|ref-800mwh-string > FILE
//
// The simulated plant and the daemon's station runtime run in this process
// (poll-scale can put the plant in a child process with -plant child). All
// figures are loopback simulations.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/emsd/emsd/internal/bench"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "emsbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "-gen-config" {
		mk, ok := bench.Specs[args[1]]
		if !ok {
			names := make([]string, 0, len(bench.Specs))
			for n := range bench.Specs {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("-gen-config: unknown station %q (known: %s)", args[1], strings.Join(names, ", "))
		}
		_, err := stdout.Write(mk().YAML())
		return err
	}
	return fmt.Errorf("not implemented")
}
