package influx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// dropLogInterval is the least time between two log lines about drops of one
// reason (the first drop of each reason is logged at once).
const dropLogInterval = 10 * time.Second

// recordWriter is the part of the client's blocking write API the Writer uses.
type recordWriter interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// batch is a run of encoded points: n lines of line protocol in buf.
type batch struct {
	buf []byte
	n   int
}

// Writer sends points to InfluxDB in batches, keeping a disk backlog while the
// server is unreachable. Write is safe for concurrent use and never blocks.
type Writer struct {
	cfg    Config
	log    *zap.Logger
	client influxdb2.Client
	api    recordWriter

	mu     sync.RWMutex // guards closed and the closing of in
	closed bool
	in     chan Point

	batches chan *batch
	pool    sync.Pool
	bl      *backlog
	c       counters
	closing atomic.Bool
	invalid atomic.Value // string: the last encoding error

	sendCtx    context.Context
	cancelSend context.CancelFunc
	done       chan struct{}
	closeOnce  sync.Once
	closeErr   error

	// Owned by the sender goroutine.
	backoff  time.Duration
	retryAt  time.Time
	eof      bool
	loggedN  [len(dropReasons)]uint64
	loggedAt [len(dropReasons)]time.Time
}

// New opens (or creates) the backlog under cfg.StateDir and starts the Writer.
// A backlog left by an earlier Writer is replayed first, oldest point first.
func New(cfg Config) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	bl, err := openBacklog(filepath.Join(cfg.StateDir, BacklogDirName), cfg.BacklogMaxBytes, cfg.SegmentPoints, cfg.Sync)
	if err != nil {
		return nil, fmt.Errorf("influx: %w", err)
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetUseGZip(cfg.GZip).
		SetHTTPRequestTimeout(uint(math.Ceil(cfg.WriteTimeout.Seconds())) + 1).
		SetLogLevel(0)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	w := &Writer{
		cfg:     cfg,
		log:     cfg.Logger.With(zap.String("component", "influx"), zap.String("url", cfg.URL), zap.String("bucket", cfg.Bucket)),
		client:  client,
		api:     client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		in:      make(chan Point, cfg.QueueSize),
		batches: make(chan *batch, 2),
		bl:      bl,
		done:    make(chan struct{}),
	}
	w.pool.New = func() any { return &batch{} }
	w.sendCtx, w.cancelSend = context.WithCancel(context.Background())
	w.updateBacklogGauges()
	if !bl.empty() {
		w.log.Info("replaying InfluxDB backlog from an earlier run",
			zap.Int64("points", bl.points), zap.Int64("bytes", bl.bytes), zap.Int("segments", len(bl.segs)))
	}
	go w.batchLoop()
	go w.sendLoop()
	return w, nil
}

// Write queues p for writing and reports whether it was queued. It never
// blocks: when the in-memory queue is full, or after Close, the point is
// dropped and counted. A zero p.Time is set to the current time.
func (w *Writer) Write(p Point) bool {
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.c.drop(DropClosed, 1)
		return false
	}
	select {
	case w.in <- p:
		return true
	default:
		w.c.drop(DropQueueFull, 1)
		return false
	}
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() Stats {
	s := Stats{
		Written:          w.c.written.Load(),
		Dropped:          make(map[DropReason]uint64, len(dropReasons)),
		WriteErrors:      w.c.writeErrors.Load(),
		QueuedPoints:     len(w.in),
		BacklogPoints:    w.c.backlogPoints.Load(),
		BacklogBytes:     w.c.backlogBytes.Load(),
		LastWriteLatency: time.Duration(w.c.lastLatency.Load()),
		Connected:        w.c.connected.Load(),
	}
	for i, r := range dropReasons {
		s.Dropped[r] = w.c.dropped[i].Load()
	}
	return s
}

// Register registers the Writer's metrics (emsd_influx_*) with reg.
func (w *Writer) Register(reg prometheus.Registerer) error {
	return reg.Register(collector{w})
}

// Close stops accepting points, writes what is queued while ctx allows, and
// appends everything it could not write to the backlog for the next Writer on
// the same StateDir. It does not replay the backlog. It returns when all queued
// points are written or persisted (or dropped and counted, if the disk fails).
func (w *Writer) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.closing.Store(true)
		w.mu.Lock()
		w.closed = true
		close(w.in)
		w.mu.Unlock()

		stop := context.AfterFunc(ctx, w.cancelSend)
		<-w.done
		stop()
		w.cancelSend()
		w.client.Close()
		w.closeErr = w.bl.close()
		if n := w.c.backlogPoints.Load(); n > 0 {
			w.log.Info("InfluxDB writer closed with a backlog", zap.Int64("points", n),
				zap.String("dir", w.bl.dir))
		}
	})
	return w.closeErr
}

// batchLoop encodes queued points into batches of BatchSize, handing a batch to
// the sender when it is full or FlushInterval has passed.
func (w *Writer) batchLoop() {
	defer close(w.batches)
	var enc encoder
	b := w.newBatch()
	flush := func() {
		if b.n > 0 {
			w.batches <- b
			b = w.newBatch()
		}
	}
	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case p, ok := <-w.in:
			if !ok {
				flush()
				return
			}
			var err error
			if b.buf, err = enc.appendPoint(b.buf, &p); err != nil {
				w.c.drop(DropInvalid, 1)
				w.invalid.Store(fmt.Sprintf("measurement %q: %v", p.Measurement, err))
				continue
			}
			b.n++
			if b.n >= w.cfg.BatchSize {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

func (w *Writer) newBatch() *batch {
	b := w.pool.Get().(*batch)
	b.buf, b.n = b.buf[:0], 0
	return b
}

func (w *Writer) freeBatch(b *batch) {
	if cap(b.buf) <= 16<<20 {
		w.pool.Put(b)
	}
}

// sendLoop writes batches in order: while the backlog holds points, new batches
// are appended behind them and the backlog is replayed oldest first; when it is
// empty and the server healthy, batches are written directly.
func (w *Writer) sendLoop() {
	defer close(w.done)
	tick := time.NewTicker(dropLogInterval)
	defer tick.Stop()
	for {
		w.logDrops(false)
		if w.eof {
			w.logDrops(true)
			return
		}
		replay := !w.bl.empty() && !w.closing.Load()
		if replay && !time.Now().Before(w.retryAt) {
			w.takeAvailable()
			w.replayOldest()
			continue
		}
		var wake <-chan time.Time
		var timer *time.Timer
		if replay {
			timer = time.NewTimer(time.Until(w.retryAt))
			wake = timer.C
		}
		select {
		case b, ok := <-w.batches:
			if !ok {
				w.eof = true
				continue
			}
			if w.bl.empty() && !time.Now().Before(w.retryAt) {
				if w.post(b.buf, b.n) == outcomeRetry {
					w.toBacklog(b)
				}
			} else {
				w.toBacklog(b)
			}
			w.freeBatch(b)
		case <-wake:
		case <-tick.C:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// takeAvailable appends the batches already waiting behind the backlog, so the
// batcher is not held up during a long replay.
func (w *Writer) takeAvailable() {
	for {
		select {
		case b, ok := <-w.batches:
			if !ok {
				w.eof = true
				return
			}
			w.toBacklog(b)
			w.freeBatch(b)
		default:
			return
		}
	}
}

func (w *Writer) toBacklog(b *batch) {
	dropped, err := w.bl.append(b.buf, b.n)
	w.c.drop(DropBacklogOverflow, dropped)
	if err != nil {
		w.c.drop(DropBacklogError, b.n)
		w.log.Error("cannot store batch in the InfluxDB backlog; batch dropped",
			zap.Int("points", b.n), zap.Error(err))
	}
	w.updateBacklogGauges()
}

func (w *Writer) replayOldest() {
	seg, data, err := w.bl.oldest()
	switch {
	case err != nil:
		w.c.drop(DropBacklogError, seg.points)
		w.log.Error("cannot read InfluxDB backlog segment; segment dropped",
			zap.Uint64("segment", seg.id), zap.Int("points", seg.points), zap.Error(err))
	case seg.points > 0 && w.post(data, seg.points) == outcomeRetry:
		return
	}
	if err := w.bl.remove(seg.id); err != nil {
		w.log.Warn("cannot delete replayed InfluxDB backlog segment; it will be replayed again after a restart",
			zap.Uint64("segment", seg.id), zap.Error(err))
	}
	w.updateBacklogGauges()
	if w.bl.empty() {
		w.log.Info("InfluxDB backlog replayed")
	}
}

func (w *Writer) updateBacklogGauges() {
	w.c.backlogPoints.Store(w.bl.points)
	w.c.backlogBytes.Store(w.bl.bytes)
}

type outcome int

const (
	outcomeWritten outcome = iota
	outcomeRejected
	outcomeRetry
)

var droppedRE = regexp.MustCompile(`dropped=(\d+)`)

// post writes one body of n points and accounts for the result. On a retryable
// failure it schedules the next attempt with exponential backoff.
func (w *Writer) post(body []byte, n int) outcome {
	ctx, cancel := context.WithTimeout(w.sendCtx, w.cfg.WriteTimeout)
	start := time.Now()
	err := w.api.WriteRecord(ctx, string(body))
	latency := time.Since(start)
	cancel()
	if err == nil {
		w.c.written.Add(uint64(n))
		w.c.lastLatency.Store(int64(latency))
		w.recovered()
		return outcomeWritten
	}
	w.c.writeErrors.Add(1)
	status, retryAfter := 0, time.Duration(0)
	var herr *ihttp.Error
	if errors.As(err, &herr) {
		status = herr.StatusCode
		retryAfter = time.Duration(herr.RetryAfter) * time.Second
	}
	if permanent(status) {
		// The server answered: it is up, but this batch will never succeed.
		dropped := n
		if m := droppedRE.FindStringSubmatch(err.Error()); m != nil {
			if d, perr := strconv.Atoi(m[1]); perr == nil && d <= n {
				dropped = d
				w.c.written.Add(uint64(n - d))
			}
		}
		w.c.drop(DropRejected, dropped)
		w.log.Error("InfluxDB rejected a batch; dropped it",
			zap.Int("status", status), zap.Int("points", n), zap.Int("dropped", dropped), zap.Error(err))
		w.recovered()
		return outcomeRejected
	}
	w.c.connected.Store(false)
	if w.backoff == 0 {
		w.backoff = w.cfg.RetryInterval
		w.log.Warn("InfluxDB write failed; keeping points in the disk backlog",
			zap.Int("status", status), zap.Error(err))
	} else {
		w.backoff = min(2*w.backoff, w.cfg.MaxRetryInterval)
		lvl := zap.DebugLevel
		if w.backoff == w.cfg.MaxRetryInterval {
			lvl = zap.WarnLevel
		}
		w.log.Log(lvl, "InfluxDB still unreachable", zap.Int("status", status),
			zap.Int64("backlog_points", w.bl.points), zap.Error(err))
	}
	w.retryAt = time.Now().Add(max(w.backoff, retryAfter))
	return outcomeRetry
}

func (w *Writer) recovered() {
	w.c.connected.Store(true)
	if w.backoff != 0 {
		w.log.Info("InfluxDB reachable again; replaying backlog", zap.Int64("backlog_points", w.bl.points))
	}
	w.backoff = 0
	w.retryAt = time.Time{}
}

// permanent reports whether an HTTP status means the batch itself is bad and
// would fail forever. Authentication (401, 403), a missing database or bucket
// (404), timeouts (408), rate limits (429) and server errors are retried: they
// are fixed on the server side, and the points wait in the backlog meanwhile.
func permanent(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// logDrops logs drops per reason: the first at once, then at most one summary
// per dropLogInterval (or whenever force is set).
func (w *Writer) logDrops(force bool) {
	now := time.Now()
	for i, r := range dropReasons {
		n := w.c.dropped[i].Load()
		if n == w.loggedN[i] {
			continue
		}
		if !force && w.loggedN[i] != 0 && now.Sub(w.loggedAt[i]) < dropLogInterval {
			continue
		}
		fields := []zap.Field{zap.String("reason", string(r)),
			zap.Uint64("points", n-w.loggedN[i]), zap.Uint64("total", n)}
		if r == DropInvalid {
			if s, ok := w.invalid.Load().(string); ok {
				fields = append(fields, zap.String("last_error", s))
			}
		}
		w.log.Warn("InfluxDB writer dropped points", fields...)
		w.loggedN[i], w.loggedAt[i] = n, now
	}
}
