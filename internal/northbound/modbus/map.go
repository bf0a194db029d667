package modbus

import (
	"fmt"
	"io"
	"slices"

	"github.com/emsd/emsd/internal/northbound/points"
)

// Table is a Modbus data table.
type Table string

// The tables the slave serves.
const (
	InputRegisters   Table = "input registers (FC 4)"
	HoldingRegisters Table = "holding registers (FC 3, 6, 16)"
	DiscreteInputs   Table = "discrete inputs (FC 2)"
	Coils            Table = "coils (FC 1, 5, 15)"
)

// ValidOffset is where a single point's quality bit lies in the discrete
// inputs: discrete input ValidOffset+i is on while single point i is good.
const ValidOffset = 1000

// Entry is one point of the map: its table and 0-based address. A float
// takes two registers, high word first (IEEE 754, big-endian).
type Entry struct {
	points.Point
	Table Table
	Addr  uint16
}

// tableOf is the table of a point kind.
var tableOf = map[points.Kind]Table{
	points.Measurand: InputRegisters,
	points.Setpoint:  HoldingRegisters,
	points.Single:    DiscreteInputs,
	points.Command:   Coils,
}

// Map lays the points table out over the Modbus tables: per kind in IOA
// order from address 0, two registers per float.
func Map(pts []points.Point) []Entry {
	sorted := slices.Clone(pts)
	slices.SortFunc(sorted, func(a, b points.Point) int { return a.IOA - b.IOA })
	next := map[Table]uint16{}
	var out []Entry
	for _, k := range []points.Kind{points.Measurand, points.Setpoint, points.Single, points.Command} {
		for _, p := range sorted {
			if p.Type != k {
				continue
			}
			t := tableOf[k]
			out = append(out, Entry{Point: p, Table: t, Addr: next[t]})
			if t == InputRegisters || t == HoldingRegisters {
				next[t] += 2
			} else {
				next[t]++
			}
		}
	}
	return out
}

// WriteMap prints the map as a Markdown table. mbpoll's -r takes the
// address plus one.
func WriteMap(w io.Writer, pts []points.Point) {
	fmt.Fprintln(w, "| table | address | type | quantity | unit | scale | ioa |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, e := range Map(pts) {
		typ := "float32"
		if e.Table == DiscreteInputs || e.Table == Coils {
			typ = "bit"
		}
		fmt.Fprintf(w, "| %s | %d | %s | `%s` | %s | %g | %d |\n", e.Table, e.Addr, typ, e.Quantity, e.Unit, e.Scale, e.IOA)
	}
}
