package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestWrongTypeIsAnError(t *testing.T) {
	doc := strings.Replace(small, "rated_e_kwh: 215", "rated_e_kwh: lots", 1)
	_, err := Parse([]byte(doc), "shop.yaml")
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("want a type error on line 4, got %v", err)
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
