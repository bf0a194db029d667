package station

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// unit owns the writes to one PCS: the latest ordered setpoint, the run
// command and the heartbeat. One goroutine per unit writes, so a slow PCS
// delays only itself, and a newer order replaces one not yet sent.
type unit struct {
	id             string
	ratedP, ratedS float64
	capacity       []float64
	pcs            *devices.Device
	bms            []*devices.Device
	heartbeat      time.Duration
	log            *zap.Logger

	hasQ, hasRun, hasHB bool

	wake chan struct{}
	lat  *latency

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

func newUnit(cu *config.Unit, pcs *devices.Device, hb time.Duration, log *zap.Logger, lat *latency) *unit {
	p := pcs.Profile()
	return &unit{
		id: cu.ID, ratedP: cu.RatedPKW, ratedS: cu.RatedSKVA,
		pcs: pcs, heartbeat: hb, log: log,
		hasQ:   p.Point(devices.PointQSet) >= 0,
		hasRun: p.Point(devices.PointRun) >= 0,
		hasHB:  p.Point(devices.PointHeartbeat) >= 0,
		wake:   make(chan struct{}, 1),
		lat:    lat,
	}
}

// set orders a new setpoint; the writer sends it as soon as it can. cycle
// is the fast cycle that ordered it, or 0. It reports whether the order
// changed (an unchanged order is not sent again).
func (u *unit) set(sp plant.Setpoint, cycle uint64) bool {
	u.mu.Lock()
	if sp == u.want && u.seq > 0 {
		u.mu.Unlock()
		return false
	}
	u.want = sp
	u.seq++
	u.cycle = cycle
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
	return true
}

func (u *unit) ordered() plant.Setpoint {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.want
}

func (u *unit) ackedSetpoint() (plant.Setpoint, time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.acked, u.ackedAt
}

// ackState returns the last acknowledged setpoint and when, and when the
// PCS last confirmed that the EMS is alive: its last acknowledged heartbeat,
// or, for a profile without one, its last acknowledged write. The PCS's own
// watchdog counts from there.
func (u *unit) ackState() (sp plant.Setpoint, at, alive time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	alive = u.ackedAt
	if u.hasHB {
		alive = u.hbAt
	}
	return u.acked, u.ackedAt, alive
}

// confirmed reports whether the PCS has acknowledged the latest order.
func (u *unit) confirmed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seq > 0 && u.ackedSeq == u.seq
}

// run writes orders as they come, each with the next heartbeat count, and
// at least every heartbeat period, until ctx is cancelled.
func (u *unit) run(ctx context.Context) {
	hb := time.NewTicker(u.heartbeat)
	defer hb.Stop()
	var counter uint16
	started := false
	vals := make([]devices.PointValue, 0, 4)
	lastErrLog := time.Time{}
	for {
		beat := false
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-hb.C:
			beat = true
		}
		u.mu.Lock()
		sp, seq, cycle := u.want, u.seq, u.cycle
		pending := u.ackedSeq != u.seq
		u.mu.Unlock()
		if !beat && !pending {
			continue
		}
		if seq == 0 {
			// Nothing ordered yet: keep the heartbeat alive without touching power.
			if !beat || !u.hasHB {
				continue
			}
			counter++
			if _, err := u.pcs.Write(ctx, devices.PointValue{Point: devices.PointHeartbeat, Value: float64(counter)}); err != nil {
				u.noteErr(err, &lastErrLog)
			} else {
				u.mu.Lock()
				u.hbAt = time.Now()
				u.mu.Unlock()
			}
			continue
		}
		vals = vals[:0]
		vals = append(vals, devices.PointValue{Point: devices.PointPSet, Value: sp.P})
		if u.hasQ {
			vals = append(vals, devices.PointValue{Point: devices.PointQSet, Value: sp.Q})
		}
		if u.hasRun && !started {
			vals = append(vals, devices.PointValue{Point: devices.PointRun, Value: 1})
		}
		if u.hasHB {
			// The heartbeat goes with every order, not only on the beat: a
			// converter whose watchdog stopped it resumes with its first order.
			counter++
			vals = append(vals, devices.PointValue{Point: devices.PointHeartbeat, Value: float64(counter)})
		}
		ack, err := u.pcs.Write(ctx, vals...)
		if err != nil {
			u.noteErr(err, &lastErrLog)
			continue
		}
		started = true
		now := time.Now()
		u.mu.Lock()
		u.acked, u.ackedAt, u.ackedSeq, u.lastAck = sp, now, seq, ack
		if u.hasHB {
			u.hbAt = now
		}
		u.mu.Unlock()
		if cycle != 0 {
			u.lat.acked(cycle, now)
		}
	}
}

func (u *unit) noteErr(err error, last *time.Time) {
	u.mu.Lock()
	u.writeErrs++
	u.mu.Unlock()
	if time.Since(*last) > 5*time.Second {
		*last = time.Now()
		u.log.Warn("PCS write failed", zap.Error(err))
	}
}
