package config

import (
	"os"
	"strings"
	"testing"
)

// TestHAEdges: each ha rule at its edge, both ways, and the name default.
func TestHAEdges(t *testing.T) {
	const on = "ha: {enabled: true, name: a, etcd: [\"http://e:2379\"]"
	for _, tc := range []struct{ yaml, path string }{ // path "" = valid
		{on + ", etcd: [\"https://e:2379\"]}\n", ""},
		{on + ", etcd: [\"ftp://e:2379\"]}\n", "ha.etcd[0]"},
		{on + ", etcd: [\"http://\"]}\n", "ha.etcd[0]"},
		{on + ", prefix: /a}\n", ""},
		{on + ", prefix: /}\n", "ha.prefix"},
		{on + ", lease_ttl: 2s}\n", ""},
		{on + ", lease_ttl: 1s}\n", "ha.lease_ttl"},
		{on + ", lease_ttl: 60s}\n", ""},
		{on + ", lease_ttl: 61s}\n", "ha.lease_ttl"},
		// fence_margin stays below lease_ttl/2: 999ms of a 2s lease.
		{on + ", fence_margin: 999ms}\n", ""},
		{on + ", fence_margin: 1s}\n", "ha.fence_margin"},
		{on + ", lease_ttl: 4s, fence_margin: 1999ms}\n", ""},
		{on + ", lease_ttl: 4s, fence_margin: 2s}\n", "ha.fence_margin"},
	} {
		parsesOrFailsAt(t, strings.TrimSpace(tc.yaml), small+strings.Replace(tc.yaml, on+", etcd:", "ha: {enabled: true, name: a, etcd:", 1), tc.path)
	}

	c, err := Parse([]byte(small+on+"}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HA.Name != "a" {
		t.Errorf("ha.name a became %q", c.HA.Name)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("no host name (%v): the default cannot be checked", err)
	}
	c, err = Parse([]byte(small+"ha: {enabled: true, etcd: [\"http://e:2379\"]}\n"), "shop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HA.Name != host {
		t.Errorf("ha.name left out = %q, want the host name %q", c.HA.Name, host)
	}
}
