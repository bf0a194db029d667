package config

import (
	"strings"
	"testing"
	"time"
)

// TestHADefaultsAndErrors: ha: left out is a single controller; enabled,
// it gets its defaults; each bad value is refused naming file, line and key.
func TestHADefaultsAndErrors(t *testing.T) {
	c, err := Parse([]byte(small), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HA.Enabled || c.HA.Prefix != "" {
		t.Fatalf("without ha: %+v, want it off", c.HA)
	}
	c, err = Parse([]byte(small+"ha: {enabled: true, name: a, etcd: [\"http://127.0.0.1:2379\"]}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HA.Prefix != "/emsd/"+c.Site.Name || c.HA.LeaseTTL != 2*time.Second || c.HA.FenceMargin != 300*time.Millisecond {
		t.Fatalf("defaults %+v", c.HA)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"ha: {name: a}\n", "ha.name: set, but ha.enabled is false"},
		{"ha: {enabled: true, name: a}\n", "ha.etcd: at least one etcd client URL"},
		{"ha: {enabled: true, name: a, etcd: [\"127.0.0.1:2379\"]}\n", "ha.etcd[0]: \"127.0.0.1:2379\" is not an http:// or https:// URL"},
		{"ha: {enabled: true, name: a, etcd: [\"http://e:2379\"], lease_ttl: 1500ms}\n", "ha.lease_ttl"},
		{"ha: {enabled: true, name: a, etcd: [\"http://e:2379\"], lease_ttl: 2500ms}\n", "ha.lease_ttl: must be whole seconds"},
		{"ha: {enabled: true, name: a, etcd: [\"http://e:2379\"], fence_margin: 1s}\n", "ha.fence_margin"},
		{"ha: {enabled: true, name: a, etcd: [\"http://e:2379\"], prefix: emsd}\n", "ha.prefix"},
	} {
		_, err := Parse([]byte(small+tc.yaml), "shop.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "shop.yaml:") {
			t.Errorf("%s: error %v, want one naming shop.yaml:LINE and %q", strings.TrimSpace(tc.yaml), err, tc.want)
		}
	}
}
