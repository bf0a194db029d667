package influx

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DropReason says why points were dropped.
type DropReason string

// The reasons for dropping points.
const (
	// DropQueueFull: the in-memory queue was full when Write was called.
	DropQueueFull DropReason = "queue_full"
	// DropClosed: Write was called after Close.
	DropClosed DropReason = "closed"
	// DropInvalid: the point cannot be encoded (no measurement, no storable
	// field, unsupported field type).
	DropInvalid DropReason = "invalid"
	// DropRejected: the server rejected the batch with a 4xx that retrying
	// cannot fix (malformed points, field type conflicts).
	DropRejected DropReason = "rejected"
	// DropBacklogOverflow: the oldest backlog segments were deleted to stay
	// within Config.BacklogMaxBytes.
	DropBacklogOverflow DropReason = "backlog_overflow"
	// DropBacklogError: the backlog could not store the batch (disk error).
	DropBacklogError DropReason = "backlog_error"
)

var dropReasons = [...]DropReason{DropQueueFull, DropClosed, DropInvalid, DropRejected, DropBacklogOverflow, DropBacklogError}

func reasonIndex(r DropReason) int {
	for i, x := range dropReasons {
		if x == r {
			return i
		}
	}
	panic("influx: unknown drop reason " + string(r))
}

// Stats is a snapshot of a Writer's counters.
type Stats struct {
	// Written counts points the server accepted.
	Written uint64
	// Dropped counts lost points by reason.
	Dropped map[DropReason]uint64
	// WriteErrors counts failed write requests (retried or rejected).
	WriteErrors uint64
	// QueuedPoints is the current length of the in-memory queue.
	QueuedPoints int
	// BacklogPoints and BacklogBytes are the current size of the disk backlog.
	BacklogPoints int64
	BacklogBytes  int64
	// LastWriteLatency is the duration of the last successful write request.
	LastWriteLatency time.Duration
	// Connected is true when the last write request succeeded.
	Connected bool
}

// DroppedTotal is the sum of Dropped over all reasons.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

type counters struct {
	written       atomic.Uint64
	dropped       [len(dropReasons)]atomic.Uint64
	writeErrors   atomic.Uint64
	backlogPoints atomic.Int64
	backlogBytes  atomic.Int64
	lastLatency   atomic.Int64 // ns
	connected     atomic.Bool
}

func (c *counters) drop(r DropReason, n int) {
	if n > 0 {
		c.dropped[reasonIndex(r)].Add(uint64(n))
	}
}

var (
	descWritten = prometheus.NewDesc("emsd_influx_points_written_total",
		"Points accepted by InfluxDB.", nil, nil)
	descDropped = prometheus.NewDesc("emsd_influx_points_dropped_total",
		"Points lost, by reason.", []string{"reason"}, nil)
	descWriteErrors = prometheus.NewDesc("emsd_influx_write_errors_total",
		"Failed InfluxDB write requests.", nil, nil)
	descQueued = prometheus.NewDesc("emsd_influx_queue_points",
		"Points in the in-memory queue.", nil, nil)
	descBacklogPoints = prometheus.NewDesc("emsd_influx_backlog_points",
		"Points in the disk backlog waiting for replay.", nil, nil)
	descBacklogBytes = prometheus.NewDesc("emsd_influx_backlog_bytes",
		"Size of the disk backlog.", nil, nil)
	descLatency = prometheus.NewDesc("emsd_influx_last_write_latency_seconds",
		"Duration of the last successful write request.", nil, nil)
	descConnected = prometheus.NewDesc("emsd_influx_connected",
		"1 if the last write request succeeded.", nil, nil)
)

// collector exposes a Writer's Stats as Prometheus metrics.
type collector struct{ w *Writer }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWritten, descDropped, descWriteErrors,
		descQueued, descBacklogPoints, descBacklogBytes, descLatency, descConnected} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.w.Stats()
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(s.Written))
	for _, r := range dropReasons {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped[r]), string(r))
	}
	ch <- prometheus.MustNewConstMetric(descWriteErrors, prometheus.CounterValue, float64(s.WriteErrors))
	ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(s.QueuedPoints))
	ch <- prometheus.MustNewConstMetric(descBacklogPoints, prometheus.GaugeValue, float64(s.BacklogPoints))
	ch <- prometheus.MustNewConstMetric(descBacklogBytes, prometheus.GaugeValue, float64(s.BacklogBytes))
	ch <- prometheus.MustNewConstMetric(descLatency, prometheus.GaugeValue, s.LastWriteLatency.Seconds())
	connected := 0.0
	if s.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected)
}
