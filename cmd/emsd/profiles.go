package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/emsd/emsd/internal/devices"
)

// cmdProfiles lists device profiles, or prints named ones as register-map tables.
func cmdProfiles(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "extra profile directory")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	ps, err := devices.LoadProfiles(*dir)
	if err != nil {
		return configErr(err)
	}
	if fs.NArg() == 0 {
		names := make([]string, 0, len(ps))
		for n := range ps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "%-16s %-6s %s (%s)\n", n, ps[n].Kind, ps[n].Description, ps[n].Source)
		}
		return nil
	}
	for _, n := range fs.Args() {
		p, ok := ps[n]
		if !ok {
			return usageErr(fmt.Errorf("profiles: no profile %q", n))
		}
		writeMap(stdout, p)
	}
	return nil
}

// writeMap prints a profile's register map as a Markdown table. Addresses
// are 0-based protocol addresses; mbpoll's -r takes them plus one.
func writeMap(w io.Writer, p *devices.Profile) {
	fmt.Fprintf(w, "### `%s` (%s): %s\n\n", p.Name, p.Kind, p.Description)
	var groups []string
	for _, g := range p.Groups {
		groups = append(groups, fmt.Sprintf("`%s` every %v", g.Name, g.Period))
	}
	if len(groups) > 0 {
		fmt.Fprintf(w, "Read groups: %s.\n\n", strings.Join(groups, ", "))
	}
	fmt.Fprintln(w, "| table | address | type | word order | scale | point | unit | group | description |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, pt := range p.Points {
		order := "—"
		if pt.Words() > 1 {
			order = string(pt.WordOrder)
		}
		scale := "1"
		switch {
		case pt.ScalePoint != "":
			scale = "10^`" + pt.ScalePoint + "`"
		case pt.Scale != 0 && pt.Scale != 1:
			scale = fmt.Sprint(pt.Scale)
		}
		if pt.Offset != 0 {
			scale += fmt.Sprintf(", %+g", pt.Offset)
		}
		typ := string(pt.Type)
		if pt.BitWidth > 0 {
			typ += fmt.Sprintf(" bits %d..%d", pt.BitOffset, pt.BitOffset+pt.BitWidth-1)
		}
		rw := ""
		if pt.Writable {
			rw = " (write)"
		}
		doc := pt.Doc
		if len(pt.Flags) > 0 {
			var bits []uint8
			for b := range pt.Flags {
				bits = append(bits, b)
			}
			sort.Slice(bits, func(i, j int) bool { return bits[i] < bits[j] })
			var fl []string
			for _, b := range bits {
				fl = append(fl, fmt.Sprintf("%d %s", b, pt.Flags[b]))
			}
			doc += ": " + strings.Join(fl, ", ")
		}
		if len(pt.Enum) > 0 {
			var codes []int64
			for c := range pt.Enum {
				codes = append(codes, c)
			}
			slices.Sort(codes)
			var cs []string
			for _, c := range codes {
				f := "%d %s"
				if c > 9 {
					f = "%#x %s"
				}
				cs = append(cs, fmt.Sprintf(f, c, pt.Enum[c]))
			}
			doc += " (codes: " + strings.Join(cs, ", ") + ")"
		}
		if pt.Writable && pt.WriteFC != devices.FC16 {
			rw = fmt.Sprintf(" (write FC%02d)", pt.WriteFC)
		}
		group := pt.Group
		if group == "" {
			group = "—"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | `%s`%s | %s | %s | %s |\n",
			pt.Table, pt.Address, typ, order, scale, pt.Name, rw, pt.Unit, group, doc)
	}
	fmt.Fprintln(w)
}
