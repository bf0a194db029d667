package config

import (
	"fmt"
	"net/url"
	"os"
	"time"
)

// HA runs this controller as one half of a hot-standby pair: the two
// elect a leader through etcd and only the leader writes to the plant
// (docs/deployment.md#running-a-redundant-pair). Without ha.enabled the
// daemon runs alone and needs no etcd.
type HA struct {
	// Enabled makes this controller one of a pair. Default false.
	Enabled bool `yaml:"enabled"`
	// Name identifies this controller to its partner and the operator;
	// the two must differ. Default: the host name.
	Name string `yaml:"name"`
	// Etcd are the etcd client URLs (http://host:2379). Required when enabled.
	Etcd []string `yaml:"etcd"`
	// Prefix roots the pair's keys in etcd; both must use the same.
	// Default /emsd/<site>.
	Prefix string `yaml:"prefix"`
	// LeaseTTL is the leader's lease: whole seconds, 2s..60s. A standby
	// takes over within about this long of the leader's last renewal.
	// Default 2s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	// FenceMargin is taken off the lease for the leader's local write
	// deadline; below lease_ttl/2. Default 300ms.
	FenceMargin time.Duration `yaml:"fence_margin"`
}

func (c *Config) haDefaults() {
	h := &c.HA
	if !h.Enabled {
		return
	}
	if h.Name == "" {
		h.Name, _ = os.Hostname()
	}
	if h.Prefix == "" {
		h.Prefix = "/emsd/" + c.Site.Name
	}
	if h.LeaseTTL == 0 {
		h.LeaseTTL = 2 * time.Second
	}
	if h.FenceMargin == 0 {
		h.FenceMargin = 300 * time.Millisecond
	}
}

func (c *Config) validateHA(k *checker) {
	h := &c.HA
	if !h.Enabled {
		for _, key := range []string{"name", "etcd", "prefix", "lease_ttl", "fence_margin"} {
			if k.written("ha." + key) {
				k.bad("ha."+key, "set, but ha.enabled is false")
			}
		}
		return
	}
	if h.Name == "" {
		k.bad("ha.name", "missing, and the host name is unknown")
	}
	if len(h.Etcd) == 0 {
		k.bad("ha.etcd", "at least one etcd client URL is needed (http://host:2379)")
	}
	for i, e := range h.Etcd {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			k.bad(fmt.Sprintf("ha.etcd[%d]", i), "%q is not an http:// or https:// URL", e)
		}
	}
	if len(h.Prefix) < 2 || h.Prefix[0] != '/' {
		k.bad("ha.prefix", "%q must start with / and name something", h.Prefix)
	}
	k.duration("ha.lease_ttl", h.LeaseTTL, 2*time.Second, time.Minute)
	if h.LeaseTTL%time.Second != 0 {
		k.bad("ha.lease_ttl", "must be whole seconds (got %v): etcd leases count seconds", h.LeaseTTL)
	}
	k.duration("ha.fence_margin", h.FenceMargin, time.Millisecond, h.LeaseTTL/2-time.Millisecond)
}
