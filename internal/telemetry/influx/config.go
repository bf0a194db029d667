package influx

import (
	"errors"
	"time"

	"go.uber.org/zap"
)

// SyncPolicy says when backlog segment files are fsynced.
type SyncPolicy int

const (
	// SyncEveryBatch fsyncs the segment after every batch appended to the backlog,
	// and the directory after a segment is created. A batch in the backlog then
	// survives a power loss. During an outage this is one fsync per flush interval.
	SyncEveryBatch SyncPolicy = iota
	// SyncNever leaves flushing to the operating system: the backlog survives a
	// crash of the process but not necessarily a power loss.
	SyncNever
)

// Config configures a Writer. Zero values take the defaults listed per field.
type Config struct {
	// URL of the InfluxDB server, e.g. "http://127.0.0.1:8086". Required.
	URL string
	// Token is the API token (2.x) or "user:password" (1.8 with auth), or empty.
	Token string
	// Org is the organization (2.x only; ignored by 1.8).
	Org string
	// Bucket is the bucket (2.x) or "database/retention-policy" (1.8). Required.
	Bucket string
	// StateDir is the daemon's state directory; the backlog lives in
	// StateDir/influx-backlog. Required.
	StateDir string

	// BatchSize is the maximum number of points per write request (default 5000).
	BatchSize int
	// FlushInterval is the longest time a point waits for its batch to fill
	// (default 1s).
	FlushInterval time.Duration
	// QueueSize is the capacity in points of the in-memory queue between Write
	// and the batcher (default 100000). Points that do not fit are dropped.
	QueueSize int
	// WriteTimeout bounds one write request (default 10s).
	WriteTimeout time.Duration
	// RetryInterval is the first wait after a failed write (default 1s); it
	// doubles after each further failure up to MaxRetryInterval (default 30s).
	// A Retry-After header from the server lengthens it.
	RetryInterval    time.Duration
	MaxRetryInterval time.Duration

	// BacklogMaxBytes bounds the disk backlog (default 1 GiB).
	BacklogMaxBytes int64
	// SegmentPoints is the maximum number of points per backlog segment; a
	// segment is replayed as one write request and dropped as a whole on overflow
	// (default BatchSize).
	SegmentPoints int
	// Sync is the fsync policy of the backlog (default SyncEveryBatch).
	Sync SyncPolicy

	// GZip compresses write requests.
	GZip bool
	// Logger receives warnings and errors (default: no logging).
	Logger *zap.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("influx: Config.URL is required")
	}
	if c.Bucket == "" {
		return c, errors.New("influx: Config.Bucket is required")
	}
	if c.StateDir == "" {
		return c, errors.New("influx: Config.StateDir is required")
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 100000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.MaxRetryInterval <= 0 {
		c.MaxRetryInterval = 30 * time.Second
	}
	if c.MaxRetryInterval < c.RetryInterval {
		c.MaxRetryInterval = c.RetryInterval
	}
	if c.BacklogMaxBytes <= 0 {
		c.BacklogMaxBytes = 1 << 30
	}
	if c.SegmentPoints <= 0 {
		c.SegmentPoints = c.BatchSize
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c, nil
}
