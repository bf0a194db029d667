package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/devices"
)

func TestDemoConfigLoads(t *testing.T) {
	c, err := Load("../../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Units) != 4 || len(c.Units[0].BMS) != 2 {
		t.Fatalf("want 4 units of 2 BMS, got %d units", len(c.Units))
	}
	if c.Units[0].RatedSKVA != 2750 {
		t.Errorf("rated_s_kva default: want 1.1 × rated P = 2750, got %v", c.Units[0].RatedSKVA)
	}
	p, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckProfiles(p); err != nil {
		t.Fatal(err)
	}
}

const small = `site:
  name: shop
  rated_p_kw: 100
  rated_e_kwh: 215
  poi:
    meter: {address: 10.0.0.2:502}
units:
  - id: pcs1
    rated_p_kw: 100
    pcs: {address: 10.0.0.3:502}
    bms:
      - {address: 10.0.0.4:502, capacity_kwh: 215}
`

func TestSmallSiteConfig(t *testing.T) {
	c, err := Parse([]byte(small), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Site.POI.ImportLimitKW != 100 || c.Devices.Timeout == 0 || c.Control.SOCMaxPct != 95 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	c, err = Parse([]byte(small+"control: {summary_period: 0}\n"), "shop.yaml")
	if err != nil || *c.Control.SummaryPeriod != 0 {
		t.Fatalf("a bare 0 must turn the summary off: %v", err)
	}
}

// errorsOf returns every *Error joined in err.
func errorsOf(t *testing.T, err error) []*Error {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var ce *Error
		if errors.As(e, &ce) {
			out = append(out, ce)
		}
	}
	walk(err)
	return out
}

func TestUnknownKeyNamesFileLineAndPath(t *testing.T) {
	doc := strings.Replace(small, "    pcs: {address: 10.0.0.3:502}", "    pcs: {adress: 10.0.0.3:502}", 1)
	_, err := Parse([]byte(doc), "shop.yaml")
	errs := errorsOf(t, err)
	if len(errs) != 1 {
		t.Fatalf("want 1 error, got %v", err)
	}
	e := errs[0]
	if e.File != "shop.yaml" || e.Line != 10 || e.Path != "units[0].pcs.adress" {
		t.Fatalf("got file %q line %d path %q", e.File, e.Line, e.Path)
	}
	if !strings.Contains(err.Error(), `shop.yaml:10: units[0].pcs.adress: unknown key "adress"`) {
		t.Errorf("message: %v", err)
	}
}

func TestOutOfRangeValuesNamePath(t *testing.T) {
	cases := []struct{ from, to, path string }{
		{"rated_p_kw: 100\n    pcs", "rated_p_kw: -5\n    pcs", "units[0].rated_p_kw"},
		{"capacity_kwh: 215", "capacity_kwh: 0", "units[0].bms[0].capacity_kwh"},
		{"10.0.0.3:502", "10.0.0.3:99999", "units[0].pcs.address"},
		{"10.0.0.3:502", "10.0.0.4:502", "units[0].bms[0].address"},
		{"name: shop", "name: \"\"", "site.name"},
	}
	for _, tc := range cases {
		doc := strings.Replace(small, tc.from, tc.to, 1)
		if doc == small {
			t.Fatalf("case %s did not change the document", tc.path)
		}
		_, err := Parse([]byte(doc), "shop.yaml")
		errs := errorsOf(t, err)
		found := false
		for _, e := range errs {
			found = found || e.Path == tc.path
		}
		if !found {
			t.Errorf("%s: want an error at that path, got %v", tc.path, err)
		}
	}
}

func TestSimulatorNeedsLoopback(t *testing.T) {
	_, err := Parse([]byte(small+"simulator: {enabled: true}\n"), "shop.yaml")
	errs := errorsOf(t, err)
	if len(errs) != 3 {
		t.Fatalf("want 3 non-loopback errors, got %v", err)
	}
}

// TestParseErrorsNameLineAndKeyOnce: each broken value gives exactly one
// error, on the line and key the user wrote, and none on keys derived
// from it.
func TestParseErrorsNameLineAndKeyOnce(t *testing.T) {
	cases := []struct {
		from, to string
		line     int
		path     string
		msg      string
	}{
		{"rated_e_kwh: 215", "rated_e_kwh: lots", 4, "site.rated_e_kwh", `"lots" is not a number`},
		{"rated_e_kwh: 215", "rated_e_kwh: .nan", 4, "site.rated_e_kwh", "must be a finite number (got .nan)"},
		{"rated_e_kwh: 215", "rated_e_kwh: -.inf", 4, "site.rated_e_kwh", "must be a finite number (got -.inf)"},
		{"rated_e_kwh: 215", "rated_e_kwh: [1]", 4, "site.rated_e_kwh", "a list, where a single value is expected"},
		{"pcs: {address: 10.0.0.3:502}", "pcs: {address: 10.0.0.3:502, unit_id: x}", 10, "units[0].pcs.unit_id", `"x" is not a whole number in range`},
		{small, small + "mqtt: {enabled: maybe}\n", 13, "mqtt.enabled", `"maybe" is not true or false`},
		{"pcs: {address: 10.0.0.3:502}", "pcs: {address: 10.0.0.3:502, timeout: 2}", 10, "units[0].pcs.timeout", "2 has no unit; write a duration such as 2ms or 5s"},
		{"pcs: {address: 10.0.0.3:502}", "pcs: {address: 10.0.0.3:502, timeout: soon}", 10, "units[0].pcs.timeout", `"soon" is not a duration such as 500ms or 5s`},
		{"pcs: {address: 10.0.0.3:502}", "pcs: {address: 10.0.0.3:502, poll: {fast: 1.5}}", 10, "units[0].pcs.poll.fast", "1.5 has no unit; write a duration such as 1.5ms or 5s"},
		{small, small + "control: {summary_period: 0, pcs_watchdog: 0}\n", 0, "", ""},
		{small, small + "mqtt:\ncontrol: ~\n", 0, "", ""}, // empty values keep the defaults
		{small[strings.Index(small, "units:"):], "units: []\n", 7, "units", "at least one unit"},
		{"  name: shop\n", "  name: shop\n  name: shop\n", 3, "site.name", "set twice (first on line 2)"},
		{"  name: shop\n", "  name: shop\n  lines: {}\n", 3, "site.lines", `unknown key "lines" in site`},
		{"  rated_p_kw: 100\n  rated_e", "  rated_e", 1, "site.rated_p_kw", "missing (plant rated active power, kW)"},
		{", capacity_kwh: 215}", "}", 12, "units[0].bms[0].capacity_kwh", "missing (usable energy, kWh)"},
		{"    rated_p_kw: 100\n", "", 8, "units[0].rated_p_kw", "missing (PCS rated active power, kW)"},
		{"    rated_p_kw: 100\n", "    rated_p_kw: -5\n", 9, "units[0].rated_p_kw", "must be greater than 0 (got -5)"},
		{"    rated_p_kw: 100\n", "    rated_p_kw: 100\n    rated_s_kva: 90\n", 10, "units[0].rated_s_kva", "must be at least rated_p_kw (100), got 90"},
		{small, small + "  - {id: pcs1, rated_p_kw: 100, pcs: {address: 10.0.0.5:502}, bms: [{address: 10.0.0.6:502, capacity_kwh: 1}]}\n",
			13, "units[1].id", `"pcs1" is already the id of units[0]`},
		{small, small + "control: {soc_min_pct: 92}\n", 13, "control.soc_min_pct",
			"with this value, the default of dispatch.soc_soft_max_pct fails: must be greater than soc_soft_min (97), got 90"},
		{small, small + "dispatch: {soc_soft_min_pct: 93}\n", 13, "dispatch.soc_soft_min_pct",
			"with this value, the default of dispatch.soc_soft_max_pct fails: must be greater than soc_soft_min (93), got 90"},
		{small, small + "control: {soc_max_pct: 92}\ndispatch: {soc_soft_max_pct: 93}\n", 13, "control.soc_max_pct", "must be >= soc_soft_max (93), got 92"},
		{small, small + "---\nsite: {}\n", 14, "site", "in a second YAML document; a configuration is one document, and the rest would be ignored"},
		{small, small + "---\n{}\n", 14, "", "a second YAML document; a configuration is one document, and the rest would be ignored"},
		{small, small + "---\n- 1\n", 14, "", "a second YAML document; a configuration is one document, and the rest would be ignored"},
		{small, small + "http: {addr: \"10.0.0.3:502\"}\nsimulator: {control_addr: \":8080\"}\n", 14, "simulator.control_addr", "set, but the simulator is not enabled"},
		{small, small + "http: {addr: \":8080\"}\nmqtt: {embedded_broker: \"localhost:8080\"}\n", 13, "http.addr", ":8080 is already used by mqtt.embedded_broker"},
		{small, small + "mqtt: {enabled: true, brokers: [\"tcp://[::1]:9110\"]}\n", 14, "mqtt.brokers[0]", ""},
	}
	for _, tc := range cases {
		doc := strings.Replace(small, tc.from, tc.to, 1)
		if doc == small {
			t.Fatalf("case %s did not change the document", tc.path)
		}
		wantOneError(t, doc, tc.line, tc.path, tc.msg)
	}
}

// wantOneError parses doc as shop.yaml and wants exactly one error, at
// line (any line but 0 when line is -1) and path, its message starting
// with msg; or no error when msg is empty.
func wantOneError(t *testing.T, doc string, line int, path, msg string) {
	t.Helper()
	_, err := Parse([]byte(doc), "shop.yaml")
	if msg == "" {
		if err != nil {
			t.Errorf("want no error, got %v", err)
		}
		return
	}
	errs := errorsOf(t, err)
	if len(errs) != 1 {
		t.Errorf("%s: want one error, got %d:\n%v", path, len(errs), err)
		return
	}
	e := errs[0]
	if line == -1 && e.Line != 0 {
		line = e.Line
	}
	if e.Line != line || e.Path != path || !strings.HasPrefix(e.Msg, msg) {
		t.Errorf("want shop.yaml:%d: %s: %s\ngot  %v", line, path, msg, e)
	}
}

// TestListenersDoNotShareAPort: the daemon's own listeners may share no
// port with each other, a device on this host or a local broker; a clash
// with a default is reported on the key the user wrote.
func TestListenersDoNotShareAPort(t *testing.T) {
	sim := strings.NewReplacer("10.0.0.2", "127.0.0.1", "10.0.0.3", "127.0.0.1", "10.0.0.4", "127.0.0.1").Replace(small)
	sim = strings.Replace(sim, "127.0.0.1:502}\n", "127.0.0.1:503}\n", 1)     // the meter
	sim = strings.Replace(sim, "127.0.0.1:502, cap", "127.0.0.1:504, cap", 1) // the BMS
	cases := []struct{ extra, path, msg string }{
		{"simulator: {enabled: true, control_addr: \"localhost:502\"}\n", "simulator.control_addr", "localhost:502 is already used by units[0].pcs.address"},
		{"simulator: {enabled: true, control_addr: \"127.0.0.1:9110\"}\n", "simulator.control_addr", "127.0.0.1:9110 is already used by http.addr (default 127.0.0.1:9110)"},
		{"http: {addr: \"[::]:503\"}\n", "http.addr", "[::]:503 is already used by site.poi.meter.address"},
		{"mqtt: {embedded_broker: \"127.0.0.1:504\"}\n", "mqtt.embedded_broker", "127.0.0.1:504 is already used by units[0].bms[0].address"},
		{"mqtt: {enabled: true, brokers: [\"tcp://127.0.0.1:9110\"]}\n", "mqtt.brokers[0]", "127.0.0.1:9110 is already used by http.addr (default 127.0.0.1:9110)"},
		{"mqtt: {enabled: true, embedded_broker: \"127.0.0.1:1883\"}\nhttp: {addr: \"127.0.0.2:1883\"}\n", "", ""},
		{"http: {addr: \"127.0.0.1:0\"}\nsimulator: {enabled: true, control_addr: \"127.0.0.1:0\"}\n", "", ""},
	}
	for _, tc := range cases {
		wantOneError(t, sim+tc.extra, -1, tc.path, tc.msg)
	}
}

// TestFileSizeIsCapped: MaxFileSize bytes load, one more is refused, by
// Load before reading and by Parse.
func TestFileSizeIsCapped(t *testing.T) {
	pad := func(n int) string { return small + "#" + strings.Repeat("x", n-len(small)-2) + "\n" }
	dir := t.TempDir()
	for _, n := range []int{MaxFileSize, MaxFileSize + 1} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(pad(n)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errLoad := Load(path)
		_, errParse := Parse([]byte(pad(n)), path)
		if n == MaxFileSize {
			if errLoad != nil || errParse != nil {
				t.Fatalf("%d bytes: %v / %v", n, errLoad, errParse)
			}
			continue
		}
		want := fmt.Sprintf("%s: the file is %d bytes; a configuration may have at most 1 MiB", path, n)
		for _, err := range []error{errLoad, errParse} {
			if err == nil || err.Error() != want {
				t.Errorf("%d bytes: got %v, want %s", n, err, want)
			}
		}
	}
}

func TestUnknownProfile(t *testing.T) {
	doc := strings.Replace(small, "pcs: {address: 10.0.0.3:502}", "pcs: {address: 10.0.0.3:502, profile: nope}", 1)
	c, err := Parse([]byte(doc), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := devices.LoadProfiles("")
	err = c.CheckProfiles(p)
	if err == nil || !strings.Contains(err.Error(), "units[0].pcs.profile") || !strings.Contains(err.Error(), "shop.yaml:10") {
		t.Fatalf("got %v", err)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v", err)
	}
}

func TestDispatchSettingsMapAndBadOnesNameTheKey(t *testing.T) {
	c, err := Parse([]byte(small+"dispatch:\n  mode: agc\n  frequency_response: {enabled: true, droop_pct: 4}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dc := c.DispatchConfig()
	if dc.PFR.DroopPct != 4 || dc.PFR.DeadBand != 0.033 || *dc.POIImportLimit != 100 || dc.SOCMin != 5 || dc.SOCSoftMin != 10 {
		t.Fatalf("dispatch config: %+v", dc)
	}
	_, err = Parse([]byte(small+"dispatch:\n  frequency_response: {droop_pct: 9}\n"), "shop.yaml")
	errs := errorsOf(t, err)
	if len(errs) != 1 || errs[0].Path != "dispatch.frequency_response.droop_pct" || errs[0].Line != 14 {
		t.Fatalf("want one error at dispatch.frequency_response.droop_pct line 14, got %v", err)
	}
	_, err = Parse([]byte(small+"dispatch: {mode: turbo}\n"), "shop.yaml")
	if errs := errorsOf(t, err); errs[0].Path != "dispatch.mode" {
		t.Fatalf("got %v", err)
	}
}

func TestTelemetrySections(t *testing.T) {
	c, err := Parse([]byte(small+"mqtt: {enabled: true, brokers: [tcp://127.0.0.1:1883]}\ninflux: {enabled: true, database: emsd}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.ClientID != "emsd-shop" || !*c.MQTT.RemoteControl || c.Influx.BucketName() != "emsd/" || c.HTTPAddr() != "127.0.0.1:9110" {
		t.Fatalf("defaults: %+v %+v %v", c.MQTT, c.Influx, c.HTTPAddr())
	}
	bad := []struct{ doc, path string }{
		{"mqtt: {enabled: true}\n", "mqtt.brokers"},
		{"mqtt: {enabled: true, brokers: [\"http://x:1\"]}\n", "mqtt.brokers[0]"},
		{"mqtt: {enabled: true, brokers: [tcp://x:1], tls: {cert_file: /nonexistent}}\n", "mqtt.tls.key_file"},
		{"influx: {enabled: true}\n", "influx.bucket"},
		{"influx: {enabled: true, bucket: b, database: d}\n", "influx.database"},
		{"influx: {enabled: true, bucket: b, url: \"ftp://x\"}\n", "influx.url"},
		{"http: {addr: nope}\n", "http.addr"},
	}
	for _, b := range bad {
		_, err := Parse([]byte(small+b.doc), "shop.yaml")
		found := false
		for _, e := range errorsOf(t, err) {
			found = found || e.Path == b.path
		}
		if !found {
			t.Errorf("%s: want an error at %s, got %v", strings.TrimSpace(b.doc), b.path, err)
		}
	}
}

// TestDefaultsAreTheDocumentedOnes: the defaults docs/configuration.md's
// table gives.
func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	c, err := Parse([]byte(small+"simulator: {enabled: false}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := &c.Simulator
	for _, d := range []struct {
		name      string
		got, want any
	}{
		{"control.summary_period", *c.Control.SummaryPeriod, 5 * time.Second},
		{"state_dir", c.StateDir, "/var/lib/emsd"},
		{"simulator.pcs.tau", s.PCS.Tau, 50 * time.Millisecond},
		{"simulator.pcs.delay", s.PCS.Delay, 10 * time.Millisecond},
		{"simulator.pcs.heartbeat_timeout", *s.PCS.HeartbeatTimeout, 5 * time.Second},
		{"mqtt.prefix", c.MQTT.Prefix, "emsd"},
		{"units[0].rated_s_kva", c.Units[0].RatedSKVA, 110.00000000000001},
	} {
		if d.got != d.want {
			t.Errorf("%s: default %v, want %v", d.name, d.got, d.want)
		}
	}
}

// TestRangeBoundaries: each range accepts its bounds and refuses just
// beyond them, with one error on that key.
func TestRangeBoundaries(t *testing.T) {
	two := strings.Replace(small, "  rated_p_kw: 100\n", "  rated_p_kw: 200\n", 1) +
		"  - {id: pcs2, rated_p_kw: 100, pcs: {address: 10.0.0.5:502}, bms: [{address: 10.0.0.6:502, capacity_kwh: 1}]}\n"
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ doc, path, msg string }{
		{strings.Replace(small, "name: shop", "name: shop\n  nominal_hz: 60", 1), "", ""},
		{strings.Replace(small, "name: shop", "name: shop\n  nominal_hz: 55", 1), "site.nominal_hz", "must be 50 or 60"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, unit_id: 0}", 1), "", ""},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, unit_id: 255}", 1), "", ""},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, unit_id: 256}", 1), "units[0].pcs.unit_id", "must be within 0..255"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, unit_id: -1}", 1), "units[0].pcs.unit_id", "must be within 0..255"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:65535}", 1), "", ""},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:1}", 1), "", ""},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:0}", 1), "units[0].pcs.address", `port "0" is not 1..65535`},
		{small + "    rated_s_kva: 100\n", "", ""},
		{strings.Replace(small, "  rated_p_kw: 100\n", "  rated_p_kw: 100.05\n", 1), "", ""},
		{strings.Replace(small, "  rated_p_kw: 100\n", "  rated_p_kw: 100.2\n", 1), "site.rated_p_kw", "100.2 kW is more than the units' total of 100 kW"},
		// Exactly 0.1 % above the units' total is still accepted.
		{strings.Replace(strings.Replace(small, "    rated_p_kw: 100\n", "    rated_p_kw: 999\n", 1), "  rated_p_kw: 100\n", "  rated_p_kw: 1000\n", 1), "", ""},
		{two, "", ""},
		{strings.Replace(two, "rated_p_kw: 100, pcs", "rated_p_kw: 0, pcs", 1), "units[1].rated_p_kw", "must be greater than 0"},
		{small + "control: {soc_min_pct: 50, soc_max_pct: 50}\n", "control.soc_min_pct", "must be below soc_max_pct"},
		{small + "control: {soc_min_pct: 0, soc_max_pct: 100, heartbeat_period: 10ms, shutdown_timeout: 100ms}\ndispatch: {soc_soft_min_pct: 5, soc_soft_max_pct: 95}\n", "", ""},
		{small + "control: {soc_max_pct: 100.5}\n", "control.soc_max_pct", "must be within 0..100"},
		{small + "control: {heartbeat_period: 9ms}\n", "control.heartbeat_period", "must be within 10ms..1m0s"},
		{small + "control: {shutdown_timeout: 99ms}\n", "control.shutdown_timeout", "must be within 100ms..5m0s"},
		{small + "control: {shutdown_timeout: 5m1s}\n", "control.shutdown_timeout", "must be within 100ms..5m0s"},
		{small + "devices: {lost_after: 10ms}\n", "", ""},
		{small + "devices: {lost_after: 9ms}\n", "devices.lost_after", "must be within 10ms..1h0m0s"},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], state_period: 100ms, password: p}\n", "", ""},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], state_period: 99ms}\n", "mqtt.state_period", "must be within 100ms..1h0m0s"},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], password_file: " + file + "}\n", "", ""},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], password: p, password_file: " + file + "}\n", "mqtt.password_file", "set either password or password_file"},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], tls: {ca_file: " + file + "}}\n", "", ""},
		{small + "mqtt: {enabled: true, brokers: [tcp://x:1], tls: {ca_file: " + file + "-none}}\n", "mqtt.tls.ca_file", "stat "},
		{small + "influx: {enabled: true, bucket: b, token: t, interval: 100ms}\n", "", ""},
		{small + "influx: {enabled: true, database: d, username: u}\n", "", ""},
		{small + "influx: {enabled: true, bucket: b, token: t, username: u}\n", "influx.username", "set token (2.x) or username/password (1.8), not both"},
		{small + "influx: {enabled: true, bucket: b, interval: 99ms}\n", "influx.interval", "must be within 100ms..1h0m0s"},
	}
	units := small[strings.Index(small, "units:"):]
	cases = append(cases, []struct{ doc, path, msg string }{
		{strings.Replace(small, units, "units: []\n", 1), "units", "at least one unit is needed"},
		{strings.Replace(small, "  - id: pcs1\n", "  - id: \"\"\n", 1), "units[0].id", "missing"},
		{strings.Replace(small, "pcs: {address: 10.0.0.3:502}", "pcs: {unit_id: 2}", 1), "units[0].pcs.address", "missing (host:port)"},
		{strings.Replace(small, "\n      - {address: 10.0.0.4:502, capacity_kwh: 215}", " []", 1), "units[0].bms", "at least one BMS is needed"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, timeout: 1ms, poll: {fast: 1h}}", 1), "", ""},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, timeout: 1m1s}", 1), "units[0].pcs.timeout", "must be within 1ms..1m0s"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, poll: {fast: 900us}}", 1), "units[0].pcs.poll.fast", "must be within 1ms..1h0m0s"},
		{strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, poll: {fast: 1h1s}}", 1), "units[0].pcs.poll.fast", "must be within 1ms..1h0m0s"},
	}...)
	sim := strings.NewReplacer("10.0.0.2:", "127.0.0.1:1", "10.0.0.3:", "127.0.0.1:2", "10.0.0.4:", "127.0.0.1:3").Replace(small)
	cases = append(cases, []struct{ doc, path, msg string }{
		{sim + "simulator: {enabled: true, step: 100us, grid: {frequency_steps: [{at: 0s, hz: 49.8}, {at: 1s, hz: 50}]}}\n", "", ""},
		{sim + "simulator: {enabled: true, step: 99us}\n", "simulator.step", "must be within 100µs..1s"},
		{sim + "simulator: {enabled: true, grid: {frequency_steps: [{at: 0s, hz: 49.8}, {at: 0s, hz: 50}]}}\n",
			"simulator.grid.frequency_steps[1].at", "steps must be in increasing time order"},
	}...)
	for _, tc := range cases {
		wantOneError(t, tc.doc, -1, tc.path, tc.msg)
	}
}

// TestProfilesAndAccessors: a device's profile must be of its kind and its
// poll overrides name the profile's groups; the accessors give defaults.
func TestProfilesAndAccessors(t *testing.T) {
	p, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ to, path, msg string }{
		{"pcs: {address: 10.0.0.3:502, profile: sim-bms}", "units[0].pcs.profile", `"sim-bms" is a bms profile, a pcs is expected here`},
		{"pcs: {address: 10.0.0.3:502, poll: {nope: 1s}}", "units[0].pcs.poll.nope", `profile "sim-pcs" has no read group "nope"`},
	} {
		c, err := Parse([]byte(strings.Replace(small, "pcs: {address: 10.0.0.3:502}", tc.to, 1)), "shop.yaml")
		if err != nil {
			t.Fatal(err)
		}
		errs := errorsOf(t, c.CheckProfiles(p))
		if len(errs) != 1 || errs[0].Path != tc.path || errs[0].Msg != tc.msg || errs[0].Line != 10 {
			t.Errorf("want shop.yaml:10: %s: %s, got %v", tc.path, tc.msg, c.CheckProfiles(p))
		}
	}
	c, err := Parse([]byte(strings.Replace(small, "10.0.0.3:502}", "10.0.0.3:502, unit_id: 7, timeout: 2s}", 1)), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pcs, bms := c.Units[0].PCS, c.Units[0].BMS[0].Device
	if pcs.UnitIDOf() != 7 || bms.UnitIDOf() != 1 || pcs.TimeoutOr(time.Second) != 2*time.Second || bms.TimeoutOr(time.Second) != time.Second {
		t.Errorf("accessors: unit ids %d %d, timeouts %v %v", pcs.UnitIDOf(), bms.UnitIDOf(), pcs.TimeoutOr(time.Second), bms.TimeoutOr(time.Second))
	}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    MQTT
		want string
	}{{MQTT{Password: "a"}, "a"}, {MQTT{PasswordFile: file}, "s3cret"}} {
		if got, err := tc.m.MQTTPassword(); err != nil || got != tc.want {
			t.Errorf("MQTTPassword: %q, %v; want %q", got, err, tc.want)
		}
	}
	if _, err := (&MQTT{PasswordFile: file + "-none"}).MQTTPassword(); err == nil {
		t.Error("MQTTPassword: a missing file gave no error")
	}
	for _, tc := range []struct {
		i    Influx
		want string
	}{{Influx{Token: "t"}, "t"}, {Influx{Username: "u", Password: "p"}, "u:p"}, {Influx{}, ""}} {
		if got := tc.i.AuthToken(); got != tc.want {
			t.Errorf("AuthToken: %q, want %q", got, tc.want)
		}
	}
}

// TestFileSizeIsCappedOnAPipe: a stream with no size (a pipe) is read to
// one byte past the bound, not to its end.
func TestFileSizeIsCappedOnAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		defer w.Close()
		w.Write([]byte(small + "#" + strings.Repeat("x", 4*MaxFileSize) + "\n")) // ends with an error once r is closed
	}()
	path := fmt.Sprintf("/dev/fd/%d", r.Fd())
	_, err = Load(path)
	want := path + ": the file is more than 1048576 bytes; a configuration may have at most 1 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestProfilesDirIsRelativeToTheFileAndMustExist: profiles_dir resolves
// against the configuration file's directory; a missing one is an error
// naming the file, line and key.
func TestProfilesDirIsRelativeToTheFileAndMustExist(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	body := "profiles_dir: profiles\n" + small
	c, err := Parse([]byte(body), filepath.Join(dir, "emsd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "profiles"); c.ProfilesDir != want {
		t.Errorf("profiles_dir = %q, want %q", c.ProfilesDir, want)
	}
	_, err = Parse([]byte("profiles_dir: nowhere\n"+small), filepath.Join(dir, "emsd.yaml"))
	if err == nil || !strings.Contains(err.Error(), "emsd.yaml:1: profiles_dir:") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing profiles_dir: %v", err)
	}
}
