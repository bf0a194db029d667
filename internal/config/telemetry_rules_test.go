package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each telemetry rule both ways: the document that breaks it is refused at
// the key, and its nearest valid neighbour is accepted.
func TestTelemetryRulesBothWays(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const mq = "mqtt: {enabled: true, brokers: [tcp://127.0.0.1:1883]"
	const in = "influx: {enabled: true, database: emsd"
	for _, tc := range []struct{ doc, path string }{ // path "" = valid
		{mq + ", password: pw}\n", ""},
		{mq + ", password_file: " + secret + "}\n", ""},
		{mq + ", password: pw, password_file: " + secret + "}\n", "mqtt.password_file"},
		{mq + ", password_file: " + secret + ".missing}\n", "mqtt.password_file"},
		{mq + ", state_period: 100ms}\n", ""},
		{mq + ", state_period: 50ms}\n", "mqtt.state_period"},
		{mq + ", reconnect_max: 100ms}\n", ""},
		{mq + ", reconnect_max: 99ms}\n", "mqtt.reconnect_max"},
		{mq + ", reconnect_max: 5m}\n", ""},
		{mq + ", reconnect_max: 5m1s}\n", "mqtt.reconnect_max"},
		{in + ", token: tk}\n", ""},
		{in + ", username: u}\n", ""},
		{in + ", token: tk, username: u}\n", "influx.username"},
		{in + ", interval: 100ms}\n", ""},
		{in + ", interval: 50ms}\n", "influx.interval"},
	} {
		parsesOrFailsAt(t, strings.TrimSpace(tc.doc), small+tc.doc, tc.path)
	}
}

// The topic prefix defaults to emsd, and one that is set is kept.
func TestMQTTPrefixDefaultAndOverride(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"mqtt: {enabled: true, brokers: [tcp://127.0.0.1:1883]}\n", "emsd"},
		{"mqtt: {enabled: true, brokers: [tcp://127.0.0.1:1883], prefix: plant7}\n", "plant7"},
	} {
		c, err := Parse([]byte(small+tc.doc), "shop.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if c.MQTT.Prefix != tc.want {
			t.Errorf("%s: prefix %q, want %q", strings.TrimSpace(tc.doc), c.MQTT.Prefix, tc.want)
		}
	}
}

// An error without a line prints FILE: PATH: problem, with no ":0".
func TestErrorWithoutLineHasNoLineNumber(t *testing.T) {
	e := &Error{File: "shop.yaml", Path: "units", Msg: "at least one unit"}
	if got, want := e.Error(), "shop.yaml: units: at least one unit"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	e.Line = 7
	if got, want := e.Error(), "shop.yaml:7: units: at least one unit"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
