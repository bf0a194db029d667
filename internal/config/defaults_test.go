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
	for _, tc := range []struct {
		doc string
		ok  bool
	}{
		{"devices: {stale_periods: 1}\n", true},
		{"devices: {stale_periods: 1000}\n", true},
		{"devices: {stale_periods: 0.99}\n", false},
		{"devices: {stale_periods: 1000.5}\n", false},
	} {
		_, err := Parse([]byte(small+tc.doc), "shop.yaml")
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", strings.TrimSpace(tc.doc), err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "devices.stale_periods")) {
			t.Errorf("%s: want an error at devices.stale_periods, got %v", strings.TrimSpace(tc.doc), err)
		}
	}
}
