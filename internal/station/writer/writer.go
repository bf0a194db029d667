// Package writer owns the writes to one PCS: the latest ordered setpoint
// (a one-slot mailbox where a newer order replaces one not yet sent), the
// run command, the heartbeat and the record of what the PCS acknowledged.
// One goroutine per PCS writes, so a slow PCS delays only itself.
//
// The writer watches the PCS's run state and alive counter (the standard
// points state and alive, when its profile has them): a PCS that should
// run but is stopped, faulted or stopped at its panel is sent start again,
// at most StartAttempts times with doubling waits, then it raises an
// alarm naming the state and fault code and keeps retrying every
// StartRetryMax. An alive counter that goes backwards is a restart: one
// event, and everything the PCS forgot (run, setpoint, heartbeat) is
// written again. An order counts as acknowledged only when the PCS
// accepted it and is in a state to deliver it.
package writer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
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
	// first acknowledges an order that was set with a non-zero cycle (not
	// again when a heartbeat rewrites it).
	OnAck func(cycle uint64, at time.Time)
	// Gate, if set, is asked immediately before every write (order, run
	// command, heartbeat); while it says no, nothing is written, not even
	// the heartbeat, so the PCS's own watchdog takes over. A hot-standby
	// pair's lease fence is one (package ha).
	Gate func() bool
	// OnEvent, if set, is called from the writer's goroutine with each
	// event about the PCS's run state (it must not block).
	OnEvent func(Event)
}

// gatePoll is how often a writer held by its gate looks again; Kick
// makes it look at once.
const gatePoll = 100 * time.Millisecond

// EventKind classifies writer events.
type EventKind string

// Event kinds.
const (
	// EventRestart: the PCS's alive counter went backwards.
	EventRestart EventKind = "pcs_restart"
	// EventNotRunning: the PCS did not run after StartAttempts starts.
	EventNotRunning EventKind = "pcs_not_running"
	// EventRunning: a PCS that was alarmed not running runs again.
	EventRunning EventKind = "pcs_running"
)

// Event is one thing the writer noticed about its PCS.
type Event struct {
	At      time.Time
	Kind    EventKind
	Message string
}

// Start command retries: up to StartAttempts starts, StartBackoff apart
// and doubling, before the alarm; then one every StartRetryMax.
const (
	StartAttempts = 3
	StartBackoff  = time.Second
	StartRetryMax = 30 * time.Second
)

// Writer writes one PCS's orders and heartbeat. Its methods are safe for
// concurrent use; Run is its one writing goroutine.
type Writer struct {
	pcs       *devices.Device
	heartbeat time.Duration
	log       *zap.Logger
	onAck     func(cycle uint64, at time.Time)
	gate      func() bool
	onEvent   func(Event)

	hasQ, hasRun, hasHB bool
	stateIdx, faultIdx  int // -1 when the profile lacks the point
	aliveIdx            int
	run                 runWatch // owned by Run
	pend                accepted // owned by Run: an order accepted, not yet acknowledged

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
		pcs: o.PCS, heartbeat: o.Heartbeat, log: o.Log, onAck: o.OnAck, onEvent: o.OnEvent, gate: o.Gate,
		hasQ:     p.Point(plant.PointQSet) >= 0,
		hasRun:   p.Point(plant.PointRun) >= 0,
		hasHB:    p.Point(plant.PointHeartbeat) >= 0,
		stateIdx: p.Point(plant.PointState),
		faultIdx: p.Point(plant.PointFault),
		aliveIdx: p.Point(plant.PointAlive),
		wake:     make(chan struct{}, 1),
	}
}

// state is the PCS's run state now: plant.Missing when the profile has no
// state point.
func (w *Writer) state(now time.Time) procimg.Value {
	if w.stateIdx < 0 {
		return plant.Missing
	}
	return w.pcs.Value(w.stateIdx, now)
}

// runWatch is what the writer remembers of the PCS's run state.
type runWatch struct {
	alive     float64 // last good alive count
	aliveOK   bool
	attempts  int       // start commands sent since the PCS last ran
	nextStart time.Time // no start before
	alarmed   bool      // EventNotRunning raised in this episode
	reapply   bool      // write everything at the next chance
	sentRun   bool      // a run command was written once
}

// watch reads the PCS's run state and alive counter at now and reports
// whether the next write must carry a start command. It detects a
// restart, and raises the alarm when starts are exhausted.
func (w *Writer) watch(now time.Time) (start bool) {
	r := &w.run
	if w.aliveIdx >= 0 {
		if a := w.pcs.Value(w.aliveIdx, now); a.Good() {
			// A counter that goes backwards, other than wrapping past
			// the top of a 16-bit register, restarted with its device.
			if r.aliveOK && a.V < r.alive && (r.alive < 0xff00 || a.V > 0xff) {
				r.reapply, r.attempts, r.nextStart = true, 0, time.Time{}
				w.event(now, EventRestart, fmt.Sprintf("PCS restarted (alive counter %g → %g); writing run, setpoint and heartbeat again", r.alive, a.V))
			}
			r.alive, r.aliveOK = a.V, true
		}
	}
	st := w.state(now)
	if !st.Good() {
		return false // unknown: neither start nor judge it
	}
	switch st.V {
	case plant.RunRunning:
		r.attempts, r.nextStart = 0, time.Time{}
		if r.alarmed {
			r.alarmed = false
			w.event(now, EventRunning, "PCS runs again")
		}
		return false
	case plant.RunStarting:
		return false
	}
	if !w.hasRun || now.Before(r.nextStart) {
		return false
	}
	if r.attempts >= StartAttempts && !r.alarmed {
		r.alarmed = true
		w.event(now, EventNotRunning, fmt.Sprintf("PCS does not run after %d start commands: %s; its share goes to the other units", r.attempts, w.cause(now, st)))
	}
	r.attempts++
	wait := StartBackoff << min(r.attempts-1, 5)
	r.nextStart = now.Add(min(wait, StartRetryMax))
	return true
}

// cause describes a PCS state that does not deliver: the state's name and
// the fault code, when read.
func (w *Writer) cause(now time.Time, st procimg.Value) string {
	name := fmt.Sprintf("state %g", st.V)
	if i := int(st.V); float64(i) == st.V && i >= 0 && i < len(plant.RunStates) {
		name = "state " + plant.RunStates[i]
	}
	if w.faultIdx >= 0 {
		if f := w.pcs.Value(w.faultIdx, now); f.Good() {
			name += fmt.Sprintf(", fault code %g", f.V)
		}
	}
	return name
}

func (w *Writer) event(now time.Time, k EventKind, msg string) {
	if k == EventRunning {
		w.log.Info(msg, zap.String("event", string(k)))
	} else {
		w.log.Warn(msg, zap.String("event", string(k)))
	}
	if w.onEvent != nil {
		w.onEvent(Event{At: now, Kind: k, Message: msg})
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

// Confirmed reports whether the PCS has acknowledged the latest order
// and is in a state to deliver it: not reading stopped, faulted or
// stopped locally, unless the order is 0.
func (w *Writer) Confirmed() bool {
	w.mu.Lock()
	ok := w.seq > 0 && w.ackedSeq == w.seq
	zero := w.want == (plant.Setpoint{})
	w.mu.Unlock()
	return ok && (zero || !w.stopped(time.Now()))
}

// stopped reports whether the PCS says, in a good reading, that it is in
// a state that does not deliver. A state not read lately is no news: the
// accepted order stands.
func (w *Writer) stopped(now time.Time) bool {
	st := w.state(now)
	return st.Good() && !plant.Delivering(st)
}

// Run writes orders as they come, each with the next heartbeat count, and
// at least every heartbeat period, until ctx is cancelled.
func (w *Writer) Run(ctx context.Context) {
	hb := time.NewTicker(w.heartbeat)
	defer hb.Stop()
	var counter uint16
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
		w.settle(time.Now())
		start := false
		if beat && w.open() {
			// A fenced writer (the standby of a pair) neither starts the
			// PCS nor judges it: that is the active controller's.
			start = w.watch(time.Now())
		}
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
			// Nothing ordered yet: keep the heartbeat alive, and start a
			// stopped PCS, without touching power.
			vals = vals[:0]
			if beat && w.hasHB {
				counter++
				vals = append(vals, devices.PointValue{Point: plant.PointHeartbeat, Value: float64(counter)})
			}
			if start {
				vals = append(vals, devices.PointValue{Point: plant.PointRun, Value: plant.RunStart})
			}
			if len(vals) == 0 {
				continue
			}
			if _, err := w.pcs.Write(ctx, vals...); err != nil {
				w.noteErr(err, &lastErrLog)
			} else if w.hasHB {
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
		if w.hasRun && (start || w.run.reapply || !w.run.sentRun) {
			vals = append(vals, devices.PointValue{Point: plant.PointRun, Value: plant.RunStart})
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
		w.run.sentRun, w.run.reapply = true, false
		w.accepted(accepted{sp: sp, seq: seq, cycle: cycle, took: ack, at: time.Now()})
	}
}

// accepted is an order the PCS accepted, not yet acknowledged.
type accepted struct {
	sp         plant.Setpoint
	seq, cycle uint64
	took       time.Duration
	at         time.Time
}

// accepted records an order the PCS accepted. It is acknowledged at once
// when the PCS can deliver it: an order of 0, a PCS without a state point,
// or one whose last reading says running or starting. Otherwise (never
// read, stopped, faulted: a start may be under way) the PCS delivers
// nothing for now, and the order waits for the first state read after
// the write (settle).
func (w *Writer) accepted(a accepted) {
	w.mu.Lock()
	if w.hasHB {
		w.hbAt = a.at
	}
	w.mu.Unlock()
	if a.sp == (plant.Setpoint{}) || w.stateIdx < 0 || delivers(w.state(a.at)) {
		w.pend = accepted{}
		w.ack(a)
		return
	}
	w.pend = a
	w.mu.Lock()
	w.acked, w.ackedAt = plant.Setpoint{}, a.at
	w.mu.Unlock()
}

// settle acknowledges the order waiting for a state read, once the PCS
// reads running or starting after it was written; a reading that says
// otherwise drops it (the next write of the order waits again).
func (w *Writer) settle(now time.Time) {
	if w.pend.seq == 0 {
		return
	}
	st := w.state(now)
	if !st.At.After(w.pend.at) {
		return
	}
	if delivers(st) {
		w.ack(w.pend)
	}
	w.pend = accepted{}
}

// delivers reports whether the PCS's last state reading (good or stale)
// says running or starting.
func delivers(st procimg.Value) bool {
	return !st.At.IsZero() && (st.Q == procimg.Good || st.Q == procimg.Stale) &&
		(st.V == plant.RunRunning || st.V == plant.RunStarting)
}

// ack records a as acknowledged and reports its cycle, once per order.
func (w *Writer) ack(a accepted) {
	w.mu.Lock()
	first := w.ackedSeq != a.seq
	w.acked, w.ackedAt, w.ackedSeq, w.lastAck = a.sp, a.at, a.seq, a.took
	w.mu.Unlock()
	if first && a.cycle != 0 && w.onAck != nil {
		w.onAck(a.cycle, a.at)
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
