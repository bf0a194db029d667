package config

import (
	"slices"
	"strings"
	"testing"
)

// TestNorthboundEdges: the northbound timing rules at their edges, both
// ways, and the Modbus allow list's default and override.
func TestNorthboundEdges(t *testing.T) {
	for _, tc := range []struct{ yaml, path string }{ // path "" = valid
		{"northbound: {iec104: {t1: 15s, t2: 14s}}\n", ""},
		{"northbound: {iec104: {t1: 15s, t2: 15s}}\n", "northbound.iec104.t2"},
		{"northbound: {iec104: {scan: 10ms}}\n", ""},
		{"northbound: {iec104: {scan: 9ms}}\n", "northbound.iec104.scan"},
		{"northbound: {iec104: {select_timeout: 100ms}}\n", ""},
		{"northbound: {iec104: {select_timeout: 99ms}}\n", "northbound.iec104.select_timeout"},
	} {
		parsesOrFailsAt(t, strings.TrimSpace(tc.yaml), small+tc.yaml, tc.path)
	}
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"", []string{"127.0.0.1"}},
		{"northbound: {modbus: {allow: [10.0.0.9]}}\n", []string{"10.0.0.9"}},
	} {
		c, err := Parse([]byte(small+tc.yaml), "shop.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Northbound.Modbus.Allow, tc.want) {
			t.Errorf("%q: modbus allow %v, want %v", tc.yaml, c.Northbound.Modbus.Allow, tc.want)
		}
	}
}
