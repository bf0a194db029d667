package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/emsd/emsd/internal/ingress/mqtt"
)

// MQTTStats is what the MQTT collector reads; *mqtt.Client is one.
type MQTTStats interface {
	Stats() mqtt.Stats
}

var (
	dMQTTConnected  = desc("emsd_mqtt_connected", "1 while the connection to the MQTT broker is up.")
	dMQTTReconnects = desc("emsd_mqtt_reconnects_total", "Successful broker connections after the first.")
	dMQTTPublished  = desc("emsd_mqtt_published_total", "Messages the broker accepted (QoS 0: written).")
	dMQTTDropped    = desc("emsd_mqtt_dropped_total", "Messages dropped: queue full or broker unreachable.")
	dMQTTFailed     = desc("emsd_mqtt_publish_failures_total", "Publishes that failed or timed out, and encoding errors.")
	dMQTTCommands   = desc("emsd_mqtt_commands_total", "Commands received over MQTT, by reply: ok, failed, busy (command queue full; also counted in failed), superseded (a newer command of the same name was applied instead).", "result")
)

// RegisterMQTT registers the MQTT client's connection state and counters
// (emsd_mqtt_*), read at scrape time.
func (m *Metrics) RegisterMQTT(c MQTTStats) error {
	return m.reg.Register(mqttCollector{c})
}

type mqttCollector struct{ c MQTTStats }

func (mc mqttCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dMQTTConnected, dMQTTReconnects, dMQTTPublished, dMQTTDropped, dMQTTFailed, dMQTTCommands} {
		ch <- d
	}
}

func (mc mqttCollector) Collect(ch chan<- prometheus.Metric) {
	s := mc.c.Stats()
	gauge(ch, dMQTTConnected, b2f(s.Connected))
	counter(ch, dMQTTReconnects, s.Reconnects)
	counter(ch, dMQTTPublished, s.Published)
	counter(ch, dMQTTDropped, s.Dropped)
	counter(ch, dMQTTFailed, s.Failed)
	counter(ch, dMQTTCommands, s.CommandsOK, "ok")
	counter(ch, dMQTTCommands, s.CommandsFailed, "failed")
	counter(ch, dMQTTCommands, s.CommandsBusy, "busy")
	counter(ch, dMQTTCommands, s.Superseded, "superseded")
}
