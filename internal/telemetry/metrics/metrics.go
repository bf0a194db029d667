package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// Histogram buckets, in seconds.
var (
	// DefaultDeviceBuckets suit Modbus TCP transactions on a station LAN.
	DefaultDeviceBuckets = []float64{.002, .005, .01, .02, .05, .1, .25, .5}
	// CycleBuckets suit one control cycle (snapshot, dispatch, orders).
	CycleBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
	// FastLatencyBuckets suit the fast path, reading to acknowledged write.
	FastLatencyBuckets = []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .3, .5, 1}
)

// Cycle kinds, the kind label of emsd_control_cycles_total.
const (
	KindTick = "tick" // a periodic cycle
	KindFast = "fast" // a cycle triggered by a new frequency reading
)

// Options are the optional parts of Metrics.
type Options struct {
	// DeviceBuckets are the transaction latency buckets (s); nil means
	// DefaultDeviceBuckets.
	DeviceBuckets []float64
}

// Metrics holds the daemon's collectors and their registry. Its hook
// methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	txn        *prometheus.HistogramVec
	obs        atomic.Pointer[map[obsKey]prometheus.Observer]
	obsMu      sync.Mutex // serialises copy-on-write of obs
	cycleDur   prometheus.Histogram
	fastLat    prometheus.Histogram
	cycleTick  prometheus.Counter
	cycleFast  prometheus.Counter
	commands   *prometheus.CounterVec
	lastCycle  atomic.Int64 // unix ns of the end of the last cycle, 0 if none
	attachOnce sync.Once
}

type obsKey struct {
	device string
	op     devices.Op
}

// New builds the collectors and a registry holding them and the Go and
// process collectors.
func New(o Options) *Metrics {
	buckets := o.DeviceBuckets
	if buckets == nil {
		buckets = DefaultDeviceBuckets
	}
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.txn = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "emsd_device_transaction_duration_seconds",
		Help:    "Duration of successful Modbus transactions, by device and op (read, write).",
		Buckets: buckets,
	}, []string{"device", "op"})
	m.cycleDur = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "emsd_control_cycle_duration_seconds",
		Help:    "Control cycle duration, from the cycle's snapshot time (tick or fast trigger) to its published view.",
		Buckets: CycleBuckets,
	})
	m.fastLat = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "emsd_fast_path_latency_seconds",
		Help:    "Fast path latency: frequency reading's arrival to the last PCS acknowledgement of the orders it changed.",
		Buckets: FastLatencyBuckets,
	})
	cycles := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "emsd_control_cycles_total",
		Help: "Control cycles run, by kind (tick, fast).",
	}, []string{"kind"})
	m.cycleTick = cycles.WithLabelValues(KindTick)
	m.cycleFast = cycles.WithLabelValues(KindFast)
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "emsd_commands_total",
		Help: "Operator commands handled, by command name and result.",
	}, []string{"command", "result"})
	initCommands(m.commands)
	empty := map[obsKey]prometheus.Observer{}
	m.obs.Store(&empty)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.txn, m.cycleDur, m.fastLat, cycles, m.commands,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "emsd_control_last_cycle_timestamp_seconds",
			Help: "Unix time at which the last control cycle ended; 0 before the first.",
		}, func() float64 {
			if t := m.LastCycle(); !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		}),
	)
	return m
}

// Registry is the registry to serve (promhttp.HandlerFor) and to register
// further collectors with, such as the InfluxDB writer's.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Transaction implements devices.Observer: it records the duration of a
// successful transaction in the device's histogram. Failed transactions
// are counted from Device.Health at scrape time (with failed dials), so
// that timeouts do not pose as latency. It does not allocate once a
// device and op have been seen (Attach pre-resolves them).
func (m *Metrics) Transaction(device string, op devices.Op, took time.Duration, err error) {
	if err != nil {
		return
	}
	o, ok := (*m.obs.Load())[obsKey{device, op}]
	if !ok {
		o = m.resolve([]obsKey{{device, op}})
	}
	o.Observe(took.Seconds())
}

// resolve adds the observers of keys to the map and returns the last one.
func (m *Metrics) resolve(keys []obsKey) prometheus.Observer {
	m.obsMu.Lock()
	defer m.obsMu.Unlock()
	cur := *m.obs.Load()
	next := make(map[obsKey]prometheus.Observer, len(cur)+len(keys))
	maps.Copy(next, cur)
	var o prometheus.Observer
	for _, k := range keys {
		if o = next[k]; o == nil {
			o = m.txn.WithLabelValues(k.device, k.op.String())
			next[k] = o
		}
	}
	m.obs.Store(&next)
	return o
}

// FastLatency records one fast-path latency; it fits
// station.Options.FastLatency.
func (m *Metrics) FastLatency(d time.Duration) { m.fastLat.Observe(d.Seconds()) }

// OnCycle records one control cycle of kind k; it fits
// station.Options.OnCycle.
func (m *Metrics) OnCycle(v *plant.View, k plant.CycleKind) {
	now := time.Now()
	if !v.At.IsZero() {
		m.cycleDur.Observe(now.Sub(v.At).Seconds())
	}
	if k == plant.CycleFast {
		m.cycleFast.Inc()
	} else {
		m.cycleTick.Inc()
	}
	m.lastCycle.Store(now.UnixNano())
}

// LastCycle is when the last control cycle ended (zero before the first).
func (m *Metrics) LastCycle() time.Time {
	if ns := m.lastCycle.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
