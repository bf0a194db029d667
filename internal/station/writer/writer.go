// Package writer owns the writes to one PCS: the latest ordered setpoint
// (a one-slot mailbox where a newer order replaces one not yet sent), the
// run command, the heartbeat and the record of what the PCS acknowledged.
// One goroutine per PCS writes, so a slow PCS delays only itself.
package writer

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// Options configure a Writer.
type Options struct {
	// PCS is the device written to.
	PCS *devices.Device
	// Heartbeat is the longest time between two writes.
	Heartbeat time.Duration
	// Log receives write failures, at most one every 5 s.
	Log *zap.Logger
	// OnAck, if set, is called from the writer's goroutine when the PCS
	// acknowledges an order that was set with a non-zero cycle.
	OnAck func(cycle uint64, at time.Time)
	// Gate, if set, is asked immediately before every write (order, run
	// command, heartbeat); while it says no, nothing is written, not even
	// the heartbeat, so the PCS's own watchdog takes over. A hot-standby
	// pair's lease fence is one (package ha).
	Gate func() bool
}

// gatePoll is how often a writer held by its gate looks again; Kick
// makes it look at once.
const gatePoll = 100 * time.Millisecond

// Writer writes one PCS's orders and heartbeat. Its methods are safe for
// concurrent use; Run is its one writing goroutine.
type Writer struct {
	pcs       *devices.Device
	heartbeat time.Duration
	log       *zap.Logger
	onAck     func(cycle uint64, at time.Time)
	gate      func() bool

	hasQ, hasRun, hasHB bool

	wake chan struct{}

	mu        sync.Mutex
	want      plant.Setpoint // the latest order
	acked     plant.Setpoint // the last order the PCS acknowledged
	ackedAt   time.Time      // when
	ackedSeq  uint64         // order sequence number acknowledged
	seq       uint64         // order sequence number of want
	cycle     uint64         // fast cycle that ordered want, 0 if none
	lastAck   time.Duration
	hbAt      time.Time // when the PCS last acknowledged a heartbeat
	writeErrs uint64
}

// New returns a writer for o.PCS; it writes once Run runs.
func New(o Options) *Writer {
	p := o.PCS.Profile()
	return &Writer{
		pcs: o.PCS, heartbeat: o.Heartbeat, log: o.Log, onAck: o.OnAck, gate: o.Gate,
		hasQ:   p.Point(plant.PointQSet) >= 0,
		hasRun: p.Point(plant.PointRun) >= 0,
		hasHB:  p.Point(plant.PointHeartbeat) >= 0,
		wake:   make(chan struct{}, 1),
	}
}

// Set orders a new setpoint; the writer sends it as soon as it can. cycle
// is the fast cycle that ordered it, or 0. It reports whether the order
// changed (an unchanged order is not sent again).
func (w *Writer) Set(sp plant.Setpoint, cycle uint64) bool {
	w.mu.Lock()
	if sp == w.want && w.seq > 0 {
		w.mu.Unlock()
		return false
	}
	w.want = sp
	w.seq++
	w.cycle = cycle
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

// Kick makes the writer look at its gate and its order at once, e.g.
// when the gate has just opened.
func (w *Writer) Kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Ordered returns the latest order.
func (w *Writer) Ordered() plant.Setpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.want
}

// Acked returns the last setpoint the PCS acknowledged and when.
func (w *Writer) Acked() (plant.Setpoint, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.ackedAt
}

// AckState returns the last acknowledged setpoint and when, and when the
// PCS last confirmed that the EMS is alive: its last acknowledged heartbeat,
// or, for a profile without one, its last acknowledged write. The PCS's own
// watchdog counts from there.
func (w *Writer) AckState() (sp plant.Setpoint, at, alive time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	alive = w.ackedAt
	if w.hasHB {
		alive = w.hbAt
	}
	return w.acked, w.ackedAt, alive
}

// Confirmed reports whether the PCS has acknowledged the latest order.
func (w *Writer) Confirmed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq > 0 && w.ackedSeq == w.seq
}

// Run writes orders as they come, each with the next heartbeat count, and
// at least every heartbeat period, until ctx is cancelled.
func (w *Writer) Run(ctx context.Context) {
	hb := time.NewTicker(w.heartbeat)
	defer hb.Stop()
	var counter uint16
	started := false
	vals := make([]devices.PointValue, 0, 4)
	lastErrLog := time.Time{}
	var held <-chan time.Time // while the gate holds an order back
	for {
		beat := false
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-held:
		case <-hb.C:
			beat = true
		}
		held = nil
		w.mu.Lock()
		sp, seq, cycle := w.want, w.seq, w.cycle
		pending := w.ackedSeq != w.seq
		w.mu.Unlock()
		if !beat && !pending {
			continue
		}
		if !w.open() {
			if pending {
				held = time.After(gatePoll)
			}
			continue
		}
		if seq == 0 {
			// Nothing ordered yet: keep the heartbeat alive without touching power.
			if !beat || !w.hasHB {
				continue
			}
			counter++
			if _, err := w.pcs.Write(ctx, devices.PointValue{Point: plant.PointHeartbeat, Value: float64(counter)}); err != nil {
				w.noteErr(err, &lastErrLog)
			} else {
				w.mu.Lock()
				w.hbAt = time.Now()
				w.mu.Unlock()
			}
			continue
		}
		vals = vals[:0]
		vals = append(vals, devices.PointValue{Point: plant.PointPSet, Value: sp.P})
		if w.hasQ {
			vals = append(vals, devices.PointValue{Point: plant.PointQSet, Value: sp.Q})
		}
		if w.hasRun && !started {
			vals = append(vals, devices.PointValue{Point: plant.PointRun, Value: 1})
		}
		if w.hasHB {
			// The heartbeat goes with every order, not only on the beat: a
			// converter whose watchdog stopped it resumes with its first order.
			counter++
			vals = append(vals, devices.PointValue{Point: plant.PointHeartbeat, Value: float64(counter)})
		}
		ack, err := w.pcs.Write(ctx, vals...)
		if err != nil {
			w.noteErr(err, &lastErrLog)
			continue
		}
		started = true
		now := time.Now()
		w.mu.Lock()
		w.acked, w.ackedAt, w.ackedSeq, w.lastAck = sp, now, seq, ack
		if w.hasHB {
			w.hbAt = now
		}
		w.mu.Unlock()
		if cycle != 0 && w.onAck != nil {
			w.onAck(cycle, now)
		}
	}
}

// open reports whether the gate lets a write through now.
func (w *Writer) open() bool { return w.gate == nil || w.gate() }

func (w *Writer) noteErr(err error, last *time.Time) {
	w.mu.Lock()
	w.writeErrs++
	w.mu.Unlock()
	if time.Since(*last) > 5*time.Second {
		*last = time.Now()
		w.log.Warn("PCS write failed", zap.Error(err))
	}
}
