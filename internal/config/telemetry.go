package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// MQTT connects the daemon to the operators' broker.
type MQTT struct {
	// Enabled turns the MQTT client on. Default false.
	Enabled bool `yaml:"enabled"`
	// Brokers are broker URLs, tried in order: tcp://host:1883, ssl://host:8883.
	Brokers []string `yaml:"brokers"`
	// ClientID must be unique on the broker. Default emsd-<site>.
	ClientID string `yaml:"client_id"`
	// Username and Password authenticate; PasswordFile reads the password
	// from a file instead (mode 0600 advised).
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS for ssl:// brokers.
	TLS TLS `yaml:"tls"`
	// KeepAlive is the MQTT keepalive. Default 30s.
	KeepAlive time.Duration `yaml:"keepalive"`
	// ReconnectMax caps the reconnect backoff after the broker is lost. Default 2s.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// Prefix roots every topic at <prefix>/<site>/. Default emsd.
	Prefix string `yaml:"prefix"`
	// StatePeriod is how often plant state is published. Default 1s.
	StatePeriod time.Duration `yaml:"state_period"`
	// RemoteControl is the remote/local switch (远方/就地) at start: with it
	// off, operator commands are refused. Default true.
	RemoteControl *bool `yaml:"remote_control"`
	// EmbeddedBroker starts a built-in broker on this loopback address,
	// for demos and commissioning without an outside broker; it admits
	// every client. With no brokers given, the daemon connects to it.
	EmbeddedBroker string `yaml:"embedded_broker"`
}

// TLS holds certificate files.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Influx streams telemetry to InfluxDB 2.x or 1.8+.
type Influx struct {
	// Enabled turns the writer on. Default false.
	Enabled bool `yaml:"enabled"`
	// URL of the server. Default http://127.0.0.1:8086.
	URL string `yaml:"url"`
	// Token, Org and Bucket address InfluxDB 2.x.
	Token  string `yaml:"token"`
	Org    string `yaml:"org"`
	Bucket string `yaml:"bucket"`
	// Database and RetentionPolicy address InfluxDB 1.8 (instead of Bucket);
	// Username and Password authenticate there.
	Database        string `yaml:"database"`
	RetentionPolicy string `yaml:"retention_policy"`
	Username        string `yaml:"username"`
	Password        string `yaml:"password"`
	// Interval is the resolution of plant data. Default 1s.
	Interval time.Duration `yaml:"interval"`
	// BacklogMB bounds the disk backlog kept while the server is away. Default 1024.
	BacklogMB int `yaml:"backlog_mb"`
}

// HTTP serves /metrics, /healthz, /readyz and /api/state.
type HTTP struct {
	// Addr is the listen address; empty turns the server off. Default 127.0.0.1:9110.
	Addr *string `yaml:"addr"`
}

// BucketName is the InfluxDB bucket, or database/retention-policy for 1.8.
func (i *Influx) BucketName() string {
	if i.Bucket != "" {
		return i.Bucket
	}
	return i.Database + "/" + i.RetentionPolicy
}

// AuthToken is the 2.x token, or user:password for 1.8.
func (i *Influx) AuthToken() string {
	if i.Token != "" || i.Username == "" {
		return i.Token
	}
	return i.Username + ":" + i.Password
}

// MQTTPassword returns the password, read from PasswordFile when set.
func (m *MQTT) MQTTPassword() (string, error) {
	if m.PasswordFile == "" {
		return m.Password, nil
	}
	b, err := os.ReadFile(m.PasswordFile)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// HTTPAddr is the HTTP listen address, or "" when the server is off.
func (c *Config) HTTPAddr() string { return *c.HTTP.Addr }

func (c *Config) telemetryDefaults() {
	m := &c.MQTT
	if m.EmbeddedBroker != "" && len(m.Brokers) == 0 {
		m.Brokers = []string{"tcp://" + m.EmbeddedBroker}
	}
	if m.ClientID == "" {
		m.ClientID = "emsd-" + c.Site.Name
	}
	if m.KeepAlive == 0 {
		m.KeepAlive = 30 * time.Second
	}
	if m.ReconnectMax == 0 {
		m.ReconnectMax = 2 * time.Second
	}
	if m.Prefix == "" {
		m.Prefix = "emsd"
	}
	if m.StatePeriod == 0 {
		m.StatePeriod = time.Second
	}
	if m.RemoteControl == nil {
		on := true
		m.RemoteControl = &on
	}
	i := &c.Influx
	if i.URL == "" {
		i.URL = "http://127.0.0.1:8086"
	}
	if i.Interval == 0 {
		i.Interval = time.Second
	}
	if i.BacklogMB == 0 {
		i.BacklogMB = 1024
	}
	if c.HTTP.Addr == nil {
		a := "127.0.0.1:9110"
		c.HTTP.Addr = &a
	}
}

func (c *Config) validateTelemetry(k *checker) {
	m := &c.MQTT
	if m.Enabled {
		if len(m.Brokers) == 0 {
			k.bad("mqtt.brokers", "at least one broker URL is needed when mqtt is enabled")
		}
		for i, b := range m.Brokers {
			u, err := url.Parse(b)
			switch {
			case err != nil:
				k.bad(fmt.Sprintf("mqtt.brokers[%d]", i), "%q is not a URL: %v", b, err)
			case u.Host == "":
				k.bad(fmt.Sprintf("mqtt.brokers[%d]", i), "%q has no host (want tcp://host:1883 or ssl://host:8883)", b)
			case !oneOf(u.Scheme, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"):
				k.bad(fmt.Sprintf("mqtt.brokers[%d]", i), "scheme %q is not tcp, ssl, tls, mqtt, mqtts, ws or wss", u.Scheme)
			}
		}
		if m.Password != "" && m.PasswordFile != "" {
			k.bad("mqtt.password_file", "set either password or password_file, not both")
		}
		if (m.TLS.CertFile == "") != (m.TLS.KeyFile == "") {
			k.bad("mqtt.tls.key_file", "cert_file and key_file go together")
		}
		for path, f := range map[string]string{"mqtt.tls.ca_file": m.TLS.CAFile, "mqtt.tls.cert_file": m.TLS.CertFile,
			"mqtt.tls.key_file": m.TLS.KeyFile, "mqtt.password_file": m.PasswordFile} {
			if f != "" {
				if _, err := os.Stat(f); err != nil {
					k.bad(path, "%v", err)
				}
			}
		}
		k.duration("mqtt.keepalive", m.KeepAlive, time.Second, time.Hour)
		k.duration("mqtt.reconnect_max", m.ReconnectMax, 100*time.Millisecond, 5*time.Minute)
		k.duration("mqtt.state_period", m.StatePeriod, 100*time.Millisecond, time.Hour)
		if strings.ContainsAny(m.Prefix, "#+") || strings.ContainsAny(c.Site.Name, "#+/") {
			k.bad("mqtt.prefix", "the prefix and site name may not contain MQTT wildcards (# +) and the site name no /")
		}
	}
	i := &c.Influx
	if i.Enabled {
		if u, err := url.Parse(i.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			k.bad("influx.url", "%q is not an http(s) URL", i.URL)
		}
		switch {
		case i.Bucket == "" && i.Database == "":
			k.bad("influx.bucket", "set bucket (InfluxDB 2.x) or database (1.8)")
		case i.Bucket != "" && i.Database != "":
			k.bad("influx.database", "set bucket (InfluxDB 2.x) or database (1.8), not both")
		}
		if i.Token != "" && i.Username != "" {
			k.bad("influx.username", "set token (2.x) or username/password (1.8), not both")
		}
		k.duration("influx.interval", i.Interval, 100*time.Millisecond, time.Hour)
		k.within("influx.backlog_mb", float64(i.BacklogMB), 1, 1<<20)
	}
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
