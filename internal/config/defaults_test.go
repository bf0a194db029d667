package config

import (
	"strings"
	"testing"
	"time"
)

// The defaults the README's configuration table promises are the ones a
// minimal file gets, and a value that is set is kept.
func TestDocumentedDefaultsApply(t *testing.T) {
	c, err := Parse([]byte(small), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		key       string
		got, want any
	}{
		{"control.summary_period", *c.Control.SummaryPeriod, 5 * time.Second},
		{"state_dir", c.StateDir, "/var/lib/emsd"},
		{"simulator.pcs.tau", c.Simulator.PCS.Tau, 50 * time.Millisecond},
		{"simulator.pcs.delay", c.Simulator.PCS.Delay, 10 * time.Millisecond},
		{"simulator.pcs.heartbeat_timeout", *c.Simulator.PCS.HeartbeatTimeout, 5 * time.Second},
	} {
		if d.got != d.want {
			t.Errorf("%s: default %v, want %v", d.key, d.got, d.want)
		}
	}
	c, err = Parse([]byte(small+"state_dir: /srv/emsd\ncontrol: {summary_period: 0s}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/srv/emsd" || *c.Control.SummaryPeriod != 0 {
		t.Errorf("set values not kept: state_dir %q, summary_period %v (0 is off)", c.StateDir, *c.Control.SummaryPeriod)
	}
}

// A range check accepts both of its edges and refuses just beyond them.
func TestRangeEdges(t *testing.T) {
	const pcs = "pcs: {address: 10.0.0.3:502}"
	for _, tc := range []struct {
		from, to string // small with from replaced by to ("" appends to)
		path     string // "" = valid
	}{
		{"", "devices: {stale_periods: 1}\n", ""},
		{"", "devices: {stale_periods: 1000}\n", ""},
		{"", "devices: {stale_periods: 0.99}\n", "devices.stale_periods"},
		{"", "devices: {stale_periods: 1000.5}\n", "devices.stale_periods"},
		{"", "devices: {lost_after: 10ms}\n", ""},
		{"", "devices: {lost_after: 5ms}\n", "devices.lost_after"},
		{"", "devices: {lost_after: 1h}\n", ""},
		{"", "devices: {lost_after: 61m}\n", "devices.lost_after"},
		{"", "control: {heartbeat_period: 10ms}\n", ""},
		{"", "control: {heartbeat_period: 5ms}\n", "control.heartbeat_period"},
		{"", "control: {shutdown_timeout: 100ms}\n", ""},
		{"", "control: {shutdown_timeout: 50ms}\n", "control.shutdown_timeout"},
		{"", "control: {soc_min_pct: 40, soc_max_pct: 40}\n", "control.soc_min_pct"},
		{"", "control: {soc_min_pct: 40, soc_max_pct: 50.5}\n", ""},
		{"rated_e_kwh: 215", "rated_e_kwh: 215\n  nominal_hz: 60", ""},
		{"rated_e_kwh: 215", "rated_e_kwh: 215\n  nominal_hz: 55", "site.nominal_hz"},
		{pcs, "pcs: {address: 10.0.0.3:1}", ""},
		{pcs, "pcs: {address: 10.0.0.3:65535}", ""},
		{pcs, "pcs: {address: 10.0.0.3:0}", "units[0].pcs.address"},
		{pcs, "pcs: {address: 10.0.0.3:65536}", "units[0].pcs.address"},
		{pcs, "pcs: {address: 10.0.0.3:502, unit_id: 0}", ""},
		{pcs, "pcs: {address: 10.0.0.3:502, unit_id: 255}", ""},
		{pcs, "pcs: {address: 10.0.0.3:502, unit_id: -1}", "units[0].pcs.unit_id"},
		{pcs, "pcs: {address: 10.0.0.3:502, unit_id: 256}", "units[0].pcs.unit_id"},
	} {
		doc := small + tc.to
		if tc.from != "" {
			doc = strings.Replace(small, tc.from, tc.to, 1)
		}
		parsesOrFailsAt(t, tc.to, doc, tc.path)
	}
}

// parsesOrFailsAt parses doc and checks the outcome: with path "" it must
// be accepted, otherwise refused with an error at path. what names the case.
func parsesOrFailsAt(t *testing.T, what, doc, path string) {
	t.Helper()
	_, err := Parse([]byte(doc), "shop.yaml")
	if path == "" {
		if err != nil {
			t.Errorf("%s: refused: %v", what, err)
		}
		return
	}
	for _, e := range errorsOf(t, err) {
		if e.Path == path {
			return
		}
	}
	t.Errorf("%s: want an error at %s, got %v", what, path, err)
}
