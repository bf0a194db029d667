package metrics

import "github.com/prometheus/client_golang/prometheus"

// NorthboundStats is what the dispatch-link collector reads;
// *northbound.Link is one.
type NorthboundStats interface {
	Connections() int
	Fallbacks() uint64
}

var (
	dNorthConns     = desc("emsd_northbound_connections", "Dispatch masters connected over IEC 104.")
	dNorthFallbacks = desc("emsd_northbound_fallbacks_total", "Times the dispatch-link fallback was applied (every master lost, or no setpoint within the timeout).")
)

// RegisterNorthbound registers the dispatch link's connection count and
// fallbacks (emsd_northbound_*), read at scrape time. Setpoints and
// commands from dispatch are counted with every other command in
// emsd_commands_total.
func (m *Metrics) RegisterNorthbound(s NorthboundStats) error {
	return m.reg.Register(northCollector{s})
}

type northCollector struct{ s NorthboundStats }

func (nc northCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dNorthConns
	ch <- dNorthFallbacks
}

func (nc northCollector) Collect(ch chan<- prometheus.Metric) {
	gauge(ch, dNorthConns, float64(nc.s.Connections()))
	counter(ch, dNorthFallbacks, nc.s.Fallbacks())
}
