package config

import (
	"strings"
	"testing"
)

// Voltage steps at their edges: a step at 0 s, two steps at the same time,
// and v at 0.8 and 1.15 of the grid voltage (10 kV by default).
func TestSimulatorVoltageStepEdges(t *testing.T) {
	local := strings.NewReplacer("10.0.0.2:502", "127.0.0.1:1502", "10.0.0.3:502", "127.0.0.1:1503", "10.0.0.4:502", "127.0.0.1:1504").Replace(small)
	for _, tc := range []struct{ sim, path string }{ // path "" = valid
		{"{enabled: true, grid: {voltage_steps: [{at: 0s, v: 10000}]}}", ""},
		{"{enabled: true, grid: {voltage_steps: [{at: 0s, v: 10000, ramp: 1s}, {at: 1s, v: 10100}]}}", ""},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 10000}, {at: 1s, v: 10100}]}}", "simulator.grid.voltage_steps[1].at"},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 8000}]}}", ""},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 7999}]}}", "simulator.grid.voltage_steps[0].v"},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 11500}]}}", ""},
		{"{enabled: true, grid: {voltage_steps: [{at: 1s, v: 11501}]}}", "simulator.grid.voltage_steps[0].v"},
	} {
		parsesOrFailsAt(t, tc.sim, local+"simulator: "+tc.sim+"\n", tc.path)
	}
}
