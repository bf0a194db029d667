package dispatch

import (
	"strings"
	"testing"
)

// Limits given as "at most" accept their edge value; orderings given as
// "greater than" refuse equality; every field refuses a negative where it
// must be >= 0.
func TestConfigAndParamsAtTheirEdges(t *testing.T) {
	const rated = 1000
	for _, tc := range []struct {
		name  string
		mod   func(c *Config)
		field string // "" = accepted
	}{
		{"agc dead band at 10 % of rated", func(c *Config) { c.AGC.DeadBand = 0.1 * rated }, ""},
		{"agc dead band above 10 %", func(c *Config) { c.AGC.DeadBand = 0.1*rated + 0.01 }, "agc.dead_band"},
		{"agc integral limit at 50 % of rated", func(c *Config) { c.AGC.IntegralLimit = 0.5 * rated }, ""},
		{"agc integral limit negative", func(c *Config) { c.AGC.IntegralLimit = -1 }, "agc.integral_limit"},
		{"poi export limit 0", func(c *Config) { c.POIExportLimit = ptr(0) }, ""},
		{"poi export limit negative", func(c *Config) { c.POIExportLimit = ptr(-1) }, "poi_export_limit"},
		{"soc soft window empty", func(c *Config) { c.SOCSoftMin, c.SOCSoftMax = 50, 50 }, "soc_soft_max"},
		{"cell low soft at high soft", func(c *Config) { c.CellVLowSoft, c.CellVHighSoft = 3.4, 3.4 }, "cell_v_high_soft"},
		{"temp low soft at high soft", func(c *Config) { c.TempLowSoft, c.TempHighSoft = 40, 40 }, "temp_high_soft"},
	} {
		c := DefaultConfig(rated)
		tc.mod(&c)
		err := c.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
			t.Errorf("%s: %v, want a refusal on %s", tc.name, err, tc.field)
		}
	}
}

// The defaults DefaultConfig gives the run-time parameters are ones an
// operator could also send as commands to that plant.
func TestDefaultParamsAreAcceptedAsCommands(t *testing.T) {
	for _, rated := range []float64{100, 1000, 250000} {
		cfg := DefaultConfig(rated)
		c := mustNew(t, cfg)
		for _, cmd := range []Command{SetPeakShaving{cfg.Peak}, SetAGCParams{cfg.AGC}, SetPFR{Enable: true, PFRParams: cfg.PFR}} {
			if err := c.Apply(cmd, t0); err != nil {
				t.Errorf("rated %v: default %T refused: %v", rated, cmd, err)
			}
		}
	}
}

// A PFR limit under 20 % of rated is refused with the minimum it needs.
func TestPFRLimitRefusalNamesTheMinimum(t *testing.T) {
	p := PFRParams{DroopPct: 2, Limit: 100}
	err := p.validate(1000)
	if err == nil || !strings.Contains(err.Error(), "(200 kW)") {
		t.Errorf("limit 100 kW of 1000: %v, want a refusal naming the 200 kW minimum", err)
	}
}
