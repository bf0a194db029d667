package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/sunspec"
)

// cmdProbe reads a device once and prints what it finds: the SunSpec model
// chain with every point, or with -profile the profile's points block by
// block. A broken chain, an unreachable device or a failed block exits 1.
func cmdProbe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	unit := fs.Int("unit", 1, "Modbus unit id (0-255)")
	profile := fs.String("profile", "", "read the points of this device profile (YAML) instead of the SunSpec chain")
	timeout := fs.Duration("timeout", 3*time.Second, "timeout of each Modbus request")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: emsd probe ADDRESS[:PORT] [-unit N] [-profile FILE] [-timeout D]")
		fs.PrintDefaults()
	}
	// The address may come before or after the flags.
	var addr string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		addr, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if addr == "" && fs.NArg() == 1 {
		addr = fs.Arg(0)
	} else if addr == "" || fs.NArg() > 0 {
		return usageErr(errors.New("probe: one ADDRESS (host:port) is needed"))
	}
	if *unit < 0 || *unit > 255 {
		return usageErr(fmt.Errorf("probe: -unit %d: outside 0..255", *unit))
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "502")
	}
	var prof *devices.Profile
	if *profile != "" {
		data, err := os.ReadFile(*profile)
		if err != nil {
			return configErr(fmt.Errorf("probe: %w", err))
		}
		if prof, err = devices.ParseProfile(data, *profile); err != nil {
			return configErr(err)
		}
	}
	cl, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: *timeout})
	if err != nil {
		return usageErr(fmt.Errorf("probe: %w", err))
	}
	if err := cl.Open(); err != nil {
		return fmt.Errorf("probe: %s: %w", addr, err)
	}
	defer cl.Close()
	if err := cl.SetUnitId(uint8(*unit)); err != nil {
		return err
	}
	if prof != nil {
		return probeProfile(cl, prof, addr, *unit, stdout)
	}
	return probeSunSpec(sunspec.ModbusReader{C: cl, Unit: uint8(*unit)}, addr, *unit, stdout)
}

// probeSunSpec prints the chain, and after a break the models read before
// it and the diagnosis.
func probeSunSpec(r sunspec.Reader, addr string, unit int, out io.Writer) error {
	c, err := sunspec.Discover(r)
	if c == nil {
		return fmt.Errorf("probe: %s unit %d: %w", addr, unit, err)
	}
	fmt.Fprintf(out, "SunSpec device %s unit %d: SunS at %d\n", addr, unit, c.Base)
	for i := range c.Models {
		printModel(out, &c.Models[i])
	}
	if err != nil {
		fmt.Fprintf(out, "\nBROKEN CHAIN after %d model(s): %v\n", len(c.Models), err)
		return fmt.Errorf("probe: %s unit %d: broken SunSpec chain: %w", addr, unit, err)
	}
	fmt.Fprintf(out, "\nend marker at %d: %d models\n", c.End, len(c.Models))
	printStandard(out, c)
	return nil
}

// printStandard prints the standard points each kind of device would read
// from the chain (sunspec.Mappings).
func printStandard(out io.Writer, c *sunspec.Chain) {
	for _, kind := range []plant.Kind{plant.KindPCS, plant.KindBMS, plant.KindMeter} {
		vals := c.Standard(kind)
		if len(vals) == 0 {
			continue
		}
		fmt.Fprintf(out, "\nstandard points as a %s:\n", kind)
		tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
		for _, v := range vals {
			val := "- (" + v.Why + ")"
			switch {
			case v.OK && v.State != "":
				val = v.State
			case v.OK:
				val = fmt.Sprintf("%.6g", v.Number)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.Std, val, v.From)
		}
		tw.Flush()
	}
}

func printModel(out io.Writer, m *sunspec.Model) {
	fmt.Fprintf(out, "\nmodel %d %s (%s) at %d, length %d\n", m.ID, m.Def.Group.Name, m.Def.Group.Label, m.Addr, m.Len())
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, v := range m.Values() {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%04x\n", int(m.Addr)+v.Offset, v.Name, v.Def.Type, showValue(v), v.Raw)
	}
	tw.Flush()
}

// showValue formats a point's value: an enum by its symbol, a bitfield in
// hex, a number with its unit, or "-" and why there is none.
func showValue(v sunspec.Value) string {
	switch {
	case !v.OK:
		return "- (" + v.Why + ")"
	case v.IsText:
		return fmt.Sprintf("%q", v.Text)
	case strings.HasPrefix(v.Def.Type, "enum"):
		for _, s := range v.Def.Symbols {
			if s.Value == int64(v.Number) {
				return fmt.Sprintf("%s (%d)", s.Name, s.Value)
			}
		}
		return fmt.Sprintf("%d (no symbol)", int64(v.Number))
	case strings.HasPrefix(v.Def.Type, "bitfield"):
		return fmt.Sprintf("%#x", uint64(v.Number))
	}
	return strings.TrimSpace(fmt.Sprintf("%.6g %s", v.Number, v.Def.Units))
}

// probeProfile reads each read block of the profile's groups once and
// prints its points; a block that fails prints its error (an exception is
// named) and the probe exits 1 after printing the rest.
func probeProfile(cl *modbus.ModbusClient, p *devices.Profile, addr string, unit int, out io.Writer) error {
	fmt.Fprintf(out, "profile %s (%s) on %s unit %d\n", p.Name, p.Kind, addr, unit)
	regs := map[devices.Table]map[uint16]uint16{}
	failed := 0
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	for _, g := range p.Groups {
		for _, b := range p.Plan(g.Name) {
			vals, err := readBlock(cl, b)
			fmt.Fprintf(tw, "\ngroup %s: %s %d+%d: ", g.Name, b.Table, b.Start, b.Count)
			if err != nil {
				failed++
				fmt.Fprintf(tw, "FAILED: %v\n", err)
				continue
			}
			fmt.Fprintln(tw, "ok")
			if regs[b.Table] == nil {
				regs[b.Table] = map[uint16]uint16{}
			}
			for i, v := range vals {
				regs[b.Table][b.Start+uint16(i)] = v
			}
			for _, i := range b.Points {
				printPoint(tw, p, &p.Points[i], regs[b.Table])
			}
		}
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("probe: %s unit %d: %d read block(s) failed", addr, unit, failed)
	}
	return nil
}

func printPoint(tw io.Writer, p *devices.Profile, pt *devices.Point, regs map[uint16]uint16) {
	r := make([]uint16, pt.Words())
	for i := range r {
		r[i] = regs[pt.Address+uint16(i)]
	}
	var sf int16
	if pt.ScalePoint != "" {
		if j := p.Point(pt.ScalePoint); j >= 0 {
			sf = int16(regs[p.Points[j].Address])
		}
	}
	val := "-"
	v, err := pt.Decode(r, sf)
	switch {
	case err != nil:
		val = "- (" + err.Error() + ")"
	case pt.Enum != nil:
		val = fmt.Sprintf("%s (code %d)", pt.Enum[int64(pt.Raw(r))], pt.Raw(r))
	default:
		val = fmt.Sprintf("%.6g %s", v, pt.Unit)
	}
	fmt.Fprintf(tw, "  %d\t%s\t%s\t%04x\t%s\n", pt.Address, pt.Name, pt.Type, r, val)
}

// readBlock reads one block of any table, one register per bit for coils
// and discrete inputs.
func readBlock(cl *modbus.ModbusClient, b devices.Block) ([]uint16, error) {
	var bits []bool
	var err error
	switch b.Table {
	case devices.Holding:
		return cl.ReadRegisters(b.Start, b.Count, modbus.HOLDING_REGISTER)
	case devices.Input:
		return cl.ReadRegisters(b.Start, b.Count, modbus.INPUT_REGISTER)
	case devices.Coil:
		bits, err = cl.ReadCoils(b.Start, b.Count)
	case devices.Discrete:
		bits, err = cl.ReadDiscreteInputs(b.Start, b.Count)
	default:
		return nil, fmt.Errorf("unknown table %q", b.Table)
	}
	out := make([]uint16, len(bits))
	for i, on := range bits {
		if on {
			out[i] = 1
		}
	}
	return out, err
}
