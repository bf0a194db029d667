package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Options configure a Client. Only Brokers and Site are required.
type Options struct {
	// Brokers are broker URLs: tcp://host:1883, ssl://host:8883 (also
	// mqtt://, mqtts://, tls://). The client tries them in order.
	Brokers []string

	// TLS for ssl:// brokers: CAFile (PEM) replaces the system roots;
	// CertFile and KeyFile (PEM) give a client certificate. ServerName
	// overrides the name checked in the broker's certificate.
	CAFile, CertFile, KeyFile string
	ServerName                string
	// InsecureSkipVerify turns off broker certificate checks. Tests only.
	InsecureSkipVerify bool

	Username, Password string
	// ClientID defaults to "emsd-<site>". It must be unique on the broker.
	ClientID string

	KeepAlive            time.Duration // default 30 s
	ConnectTimeout       time.Duration // default 10 s
	WriteTimeout         time.Duration // default 5 s
	ConnectRetryInterval time.Duration // first retry after a failed connect, default 1 s
	MaxReconnectInterval time.Duration // reconnect backoff ceiling, default 2 s

	// QoS for state and unit-state messages (0 or 1, default 0).
	// Status, events, alarms and replies always use QoS 1.
	QoS byte

	// Prefix and Site root every topic at <Prefix>/<Site>/. Prefix
	// defaults to "emsd".
	Prefix, Site string

	// StateInterval is the state publishing period, default 1 s.
	StateInterval time.Duration
	// State returns, once per StateInterval, the plant state to publish
	// on .../state (nil publishes none) and the per-unit states by unit
	// id for .../units/<id>/state, both taken from one snapshot, so that
	// one round never mixes control cycles. nil publishes no state. It is
	// called from the client's own goroutine and must be safe for that;
	// its results are encoded with encoding/json.
	State func() (plant any, units map[string]any)

	// QueueSize bounds each outgoing queue (state, and events/alarms/
	// replies), default 1024 messages. CommandQueue bounds the commands
	// waiting for the handler, default 256; when it is full, a command
	// replaces the oldest waiting one of the same name (answered
	// "superseded"), and only a command that replaces none is refused busy.
	QueueSize    int
	CommandQueue int

	// Log receives connection events; nil logs nothing.
	Log *zap.Logger
}

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if len(o.Brokers) == 0 {
		return o, errors.New("mqtt: no broker URL")
	}
	for _, b := range o.Brokers {
		u, err := url.Parse(b)
		if err != nil {
			return o, fmt.Errorf("mqtt: broker %q: %w", b, err)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts":
		default:
			return o, fmt.Errorf("mqtt: broker %q: scheme must be tcp, mqtt, ssl, tls or mqtts", b)
		}
		if u.Host == "" {
			return o, fmt.Errorf("mqtt: broker %q: no host", b)
		}
	}
	if o.Prefix == "" {
		o.Prefix = "emsd"
	}
	if err := checkLevels("prefix", o.Prefix, true); err != nil {
		return o, err
	}
	if err := checkLevels("site", o.Site, false); err != nil {
		return o, err
	}
	if o.ClientID == "" {
		o.ClientID = "emsd-" + o.Site
	}
	if o.QoS > 1 {
		return o, fmt.Errorf("mqtt: qos must be 0 or 1, got %d", o.QoS)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return o, errors.New("mqtt: cert file and key file must be given together")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.KeepAlive, 30*time.Second)
	def(&o.ConnectTimeout, 10*time.Second)
	def(&o.WriteTimeout, 5*time.Second)
	def(&o.ConnectRetryInterval, time.Second)
	def(&o.MaxReconnectInterval, 2*time.Second)
	def(&o.StateInterval, time.Second)
	if o.QueueSize <= 0 {
		o.QueueSize = 1024
	}
	if o.CommandQueue <= 0 {
		o.CommandQueue = 256
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return o, nil
}

// checkLevels accepts a topic fragment without wildcards or empty levels;
// multi allows more than one level.
func checkLevels(field, s string, multi bool) error {
	if s == "" {
		return fmt.Errorf("mqtt: %s is empty", field)
	}
	if strings.ContainsAny(s, "+#\x00") {
		return fmt.Errorf("mqtt: %s %q contains a wildcard or NUL", field, s)
	}
	if !multi && strings.Contains(s, "/") {
		return fmt.Errorf("mqtt: %s %q contains '/'", field, s)
	}
	for _, l := range strings.Split(s, "/") {
		if l == "" {
			return fmt.Errorf("mqtt: %s %q has an empty topic level", field, s)
		}
	}
	return nil
}

// tlsConfig builds the TLS configuration, or nil when no broker needs TLS
// and no TLS option is set.
func (o *Options) tlsConfig() (*tls.Config, error) {
	need := o.CAFile != "" || o.CertFile != "" || o.InsecureSkipVerify || o.ServerName != ""
	for _, b := range o.Brokers {
		if s, _, _ := strings.Cut(b, "://"); s == "ssl" || s == "tls" || s == "mqtts" {
			need = true
		}
	}
	if !need {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // off unless configured
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: ca file %s: no PEM certificates", o.CAFile)
		}
		c.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// topics are the topic names of one site.
type topics struct {
	root      string // <prefix>/<site>/
	status    string
	state     string
	events    string
	alarms    string
	cmdFilter string // cmd/+
	cmdPrefix string // cmd/
	probe     string // the command worker's markers to itself
}

func newTopics(prefix, site string) topics {
	r := prefix + "/" + site + "/"
	return topics{root: r, status: r + "status", state: r + "state", events: r + "events",
		alarms: r + "alarms", cmdFilter: r + "cmd/+", cmdPrefix: r + "cmd/", probe: r + "cmd_probe"}
}

func (t topics) unitState(id string) string { return t.root + "units/" + id + "/state" }

func (t topics) reply(name string) string { return t.cmdPrefix + name + "/reply" }
