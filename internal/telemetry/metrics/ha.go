package metrics

import "github.com/prometheus/client_golang/prometheus"

// HAStats is what the hot-standby collector reads; *ha.Node is one.
type HAStats interface {
	Leading() bool
	Writable() bool
	Takeovers() uint64
}

var (
	dHARole      = desc("emsd_ha_role", "This controller's role in a hot-standby pair: 1 on the leader, 0 on the standby (the role label says which).", "role")
	dHAWritable  = desc("emsd_ha_writable", "1 while the leader's lease fence lets it write to the plant.")
	dHATakeovers = desc("emsd_ha_takeovers_total", "Times this controller became the active one.")
)

// RegisterHA registers the hot-standby role, fence and takeover count
// (emsd_ha_*), read at scrape time.
func (m *Metrics) RegisterHA(s HAStats) error { return m.reg.Register(haCollector{s}) }

type haCollector struct{ s HAStats }

func (c haCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dHARole, dHAWritable, dHATakeovers} {
		ch <- d
	}
}

func (c haCollector) Collect(ch chan<- prometheus.Metric) {
	role := "standby"
	if c.s.Leading() {
		role = "leader"
	}
	gauge(ch, dHARole, b2f(c.s.Leading()), role)
	gauge(ch, dHAWritable, b2f(c.s.Writable()))
	counter(ch, dHATakeovers, c.s.Takeovers())
}
