package config

import (
	"testing"
	"time"
)

// TestPCSWatchdogDefault checks control.pcs_watchdog: left out, it is the
// converters' usual 5 s watchdog (a 0 default turned a 1 s comm blip into a
// ramp from 0 kW); set, it is kept, explicit 0 included.
func TestPCSWatchdogDefault(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       time.Duration
	}{
		{"left out", "", 5 * time.Second},
		{"explicit 0", "control: {pcs_watchdog: 0s}\n", 0},
		{"explicit 2s", "control: {pcs_watchdog: 2s}\n", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(small+tc.yaml), "shop.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if c.Control.PCSWatchdog == nil || *c.Control.PCSWatchdog != tc.want {
				t.Fatalf("control.pcs_watchdog = %v, want %v", c.Control.PCSWatchdog, tc.want)
			}
		})
	}
}
