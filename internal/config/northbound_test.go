package config

import (
	"testing"
	"time"

	"github.com/emsd/emsd/internal/northbound/points"
)

// TestNorthboundDefaults: an absent northbound section is off, with the
// documented defaults and the default points table.
func TestNorthboundDefaults(t *testing.T) {
	c, err := Parse([]byte(small), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := c.Northbound
	if n.IEC104.Enabled || n.Modbus.Enabled || n.Fallback != "zero" || n.SetpointTimeout != 0 {
		t.Errorf("northbound defaults: %+v", n)
	}
	i := n.IEC104
	if i.Listen != "127.0.0.1:2404" || i.CommonAddress != 1 || i.K != 12 || i.W != 8 || i.T0 != 30*time.Second ||
		i.T1 != 15*time.Second || i.T2 != 10*time.Second || i.T3 != 20*time.Second || *i.Cycle != 30*time.Second {
		t.Errorf("iec104 defaults: %+v", i)
	}
	if len(i.Points) != len(points.DefaultPoints()) {
		t.Errorf("default table has %d points, want %d", len(i.Points), len(points.DefaultPoints()))
	}
}

// TestNorthboundPointsTable: a table written replaces the default; an
// unwritten scale is 1; each bad entry is named by file, line and key.
func TestNorthboundPointsTable(t *testing.T) {
	doc := small + `northbound:
  iec104:
    points:
      - {ioa: 100, type: measurand, quantity: p_kw, unit: kW}
      - {ioa: 200, type: setpoint, quantity: agc_target, unit: MW, scale: 0.001}
`
	c, err := Parse([]byte(doc), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := c.Northbound.IEC104.Points
	if len(ps) != 2 || ps[0].Scale != 1 || ps[1].Scale != 0.001 || ps[1].Quantity != points.QAGCTarget {
		t.Fatalf("points %+v", ps)
	}
	head := small + "northbound:\n  iec104:\n    points:\n"
	line := 16 // the first entry
	wantOneError(t, head+"      - {ioa: 100, type: measurand, quantity: agc_target}\n", line,
		"northbound.iec104.points[0].quantity", `"agc_target" is not a measurand quantity`)
	wantOneError(t, head+"      - {ioa: 100, type: analog, quantity: p_kw}\n", line,
		"northbound.iec104.points[0].type", `"analog" is not one of`)
	wantOneError(t, head+"      - {ioa: 100, type: measurand, quantity: p_kw, scale: 0}\n", line,
		"northbound.iec104.points[0].scale", "must be a finite number other than 0")
	wantOneError(t, head+"      - {ioa: 100, type: measurand, quantity: p_kw}\n      - {ioa: 100, type: single, quantity: remote}\n", line+1,
		"northbound.iec104.points[1].ioa", "100 is also entry [0]")
	wantOneError(t, head+"      - {ioa: 0, type: single, quantity: remote}\n", line,
		"northbound.iec104.points[0].ioa", "0 is not in 1..16777215")
	wantOneError(t, head+"      - {ioa: 1, type: single, quantity: \"unit_trip:pcs9\"}\n", line,
		"northbound.iec104.points[0].quantity", `"unit_trip:pcs9" names no unit`)
	wantOneError(t, head+"      - {ioa: 1, type: single, quantity: \"unit_trip:pcs1\"}\n", line, "", "")
	wantOneError(t, head+"      - {ioa: 1, type: single, quantity: remote, scal: 1}\n", line,
		"northbound.iec104.points[0].scal", `unknown key "scal"`)
}

// TestNorthboundBadValuesNameTheKey: timers, windows, addresses and the
// fallback are checked on the key written.
func TestNorthboundBadValuesNameTheKey(t *testing.T) {
	cases := []struct{ extra, path, msg string }{
		{"northbound: {fallback: ramp}\n", "northbound.fallback", `"ramp" is not hold, zero or schedule`},
		{"northbound: {fallback: schedule}\n", "", ""},
		{"northbound: {iec104: {w: 13}}\n", "northbound.iec104.w", "13 must not exceed k (12)"},
		{"northbound: {iec104: {t2: 20s}}\n", "northbound.iec104.t2", "20s must be shorter than t1"},
		{"northbound: {iec104: {t1: 300s, t3: 400s}}\n", "northbound.iec104.t1", "must be within"},
		{"northbound: {iec104: {t3: 15s}}\n", "northbound.iec104.t3", "15s must be longer than t1"},
		{"northbound: {iec104: {k: 1, w: 1}}\n", "northbound.iec104.k", "must be within"},
		{"northbound: {iec104: {common_address: 65535}}\n", "northbound.iec104.common_address", "must be within"},
		{"northbound: {iec104: {allow: [dispatch.example]}}\n", "northbound.iec104.allow[0]", `"dispatch.example" is not an IP address`},
		{"northbound: {modbus: {unit_id: 300}}\n", "northbound.modbus.unit_id", "must be within"},
		{"northbound: {iec104: {enabled: true, listen: \"127.0.0.1:9110\"}}\n", "northbound.iec104.listen", "127.0.0.1:9110 is already used by http.addr"},
		{"northbound: {iec104: {enabled: true}, modbus: {enabled: true, listen: \"127.0.0.1:2404\"}}\n", "northbound.modbus.listen", "127.0.0.1:2404 is already used by northbound.iec104.listen"},
		{"northbound: {iec104: {enabled: true, cycle: 0}, setpoint_timeout: 30s, fallback: hold}\n", "", ""},
	}
	for _, tc := range cases {
		wantOneError(t, small+tc.extra, -1, tc.path, tc.msg)
	}
}
