package config

import (
	"strings"
	"testing"
)

// The Thevenin grid's settings at their edges.
func TestSimulatorGridVoltageEdges(t *testing.T) {
	local := strings.NewReplacer("10.0.0.2:502", "127.0.0.1:1502", "10.0.0.3:502", "127.0.0.1:1503", "10.0.0.4:502", "127.0.0.1:1504").Replace(small)
	for _, tc := range []struct{ sim, path string }{ // path "" = valid
		{"{enabled: true, grid: {scr: 10, x_r: 10}}", ""},
		{"{enabled: true, grid: {scr: 1}}", ""},
		{"{enabled: true, grid: {scr: 0.5}}", "simulator.grid.scr"},
		{"{enabled: true, grid: {scr: -1}}", "simulator.grid.scr"},
		{"{enabled: true, grid: {x_r: 0.05}}", "simulator.grid.x_r"},
		{"{enabled: true, pcs: {q_max_pct: 101}}", "simulator.pcs.q_max_pct"},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 10200, ramp: 2s}, {at: 3s, v: 9800}]}}", ""},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 10200, ramp: 2s}, {at: 2s, v: 9800}]}}", "simulator.grid.voltage_steps[1].at"},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 12000}]}}", "simulator.grid.voltage_steps[0].v"},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 10000, ramp: -1s}]}}", "simulator.grid.voltage_steps[0].ramp"},
	} {
		parsesOrFailsAt(t, tc.sim, local+"simulator: "+tc.sim+"\n", tc.path)
	}
}
