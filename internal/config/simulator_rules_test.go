package config

import (
	"strings"
	"testing"
)

// The simulator's own settings at their edges: the step's lower bound, and
// frequency steps, which must be in strictly increasing time order from 0.
func TestSimulatorSettingsEdges(t *testing.T) {
	local := strings.NewReplacer("10.0.0.2:502", "127.0.0.1:1502", "10.0.0.3:502", "127.0.0.1:1503", "10.0.0.4:502", "127.0.0.1:1504").Replace(small)
	for _, tc := range []struct{ sim, path string }{ // path "" = valid
		{"{enabled: true}", ""},
		{"{enabled: true, step: 100us}", ""},
		{"{enabled: true, step: 50us}", "simulator.step"},
		{"{enabled: true, grid: {frequency_steps: [{at: 0s, hz: 49.8}, {at: 1s, hz: 50}]}}", ""},
		{"{enabled: true, grid: {frequency_steps: [{at: 1s, hz: 49.8}, {at: 1s, hz: 50}]}}", "simulator.grid.frequency_steps[1].at"},
	} {
		parsesOrFailsAt(t, tc.sim, local+"simulator: "+tc.sim+"\n", tc.path)
	}
}
