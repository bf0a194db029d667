package devices

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/goburrow/modbus"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/procimg"
)

// Run is the device's one goroutine: it polls the read groups at their
// rates and serves writes, until ctx is done, then closes the connection.
// An in-flight transaction is finished (or times out) before Run returns.
// Run must be called once.
func (d *Device) Run(ctx context.Context) {
	if !d.running.CompareAndSwap(false, true) {
		d.log.Error("Run called twice")
		return
	}
	h := modbus.NewTCPClientHandler(d.o.Address)
	h.Timeout = d.o.Timeout
	h.IdleTimeout = 0 // never close behind our back; we manage the connection
	h.SlaveId = d.o.UnitID
	d.handler = h
	d.client = modbus.NewClient(h)
	d.timer = time.NewTimer(time.Hour)
	defer func() {
		d.timer.Stop()
		d.disconnect()
		close(d.done)
		d.failQueued(ErrStopped)
	}()

	// Start each group at a random phase (within its period, at most
	// 100 ms) so that hundreds of devices started together do not poll
	// in lockstep.
	now := time.Now()
	for _, g := range d.groups {
		g.due = now.Add(time.Duration(rand.Int64N(int64(min(g.period, maxPhase)))))
	}
	for ctx.Err() == nil {
		now = time.Now()
		next := d.evalState(now)

		// Writes jump the read queue.
		select {
		case w := <-d.writes:
			d.serveWrite(w)
			continue
		default:
		}

		if !d.conn && now.Before(d.retryAt) {
			d.wait(ctx, earliest(d.retryAt, next), now)
			continue
		}
		g := d.nextGroup()
		if g == nil {
			// Nothing to poll: serve writes only.
			d.wait(ctx, earliest(now.Add(time.Second), next), now)
			continue
		}
		if g.due.After(now) {
			d.wait(ctx, earliest(g.due, next), now)
			continue
		}
		d.poll(g, now)
	}
}

// maxPhase bounds the random start phase of a read group.
const maxPhase = 100 * time.Millisecond

func earliest(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// wait blocks until the time until, a write, or ctx. A write that arrives
// is served at once (or refused when offline).
func (d *Device) wait(ctx context.Context, until, now time.Time) {
	d.timer.Reset(until.Sub(now))
	select {
	case <-ctx.Done():
	case <-d.timer.C:
	case w := <-d.writes:
		d.serveWrite(w)
	}
}

// nextGroup is the group due first.
func (d *Device) nextGroup() *group {
	var best *group
	for _, g := range d.groups {
		if best == nil || g.due.Before(best.due) {
			best = g
		}
	}
	return best
}

// poll reads every block of a group, then decodes and stores them.
func (d *Device) poll(g *group, start time.Time) {
	// missed is how many whole periods the read starts late (poll runs
	// only once due). A read a period or more late is an overrun; the next
	// read is then due at the last grid slot already passed, so the missed
	// slots are skipped rather than read in a burst.
	missed := max(start.Sub(g.due), 0) / g.period
	g.due = g.due.Add(max(missed, 1) * g.period)
	d.hmu.Lock()
	d.h.Overruns += uint64(min(missed, 1))
	d.hmu.Unlock()
	for i := range g.blocks {
		// Writes jump the queue between the blocks of a group too.
		d.drainWrites()
		if !d.conn && time.Now().Before(d.retryAt) {
			return // a write failed and closed the connection
		}
		if err := d.read(&g.blocks[i]); err != nil {
			return
		}
	}
	d.store(g)
}

// exception returns the Modbus exception err carries when the device
// answered request fc with one: a device answer, not a link fault.
func exception(err error, fc byte) *modbus.ModbusError {
	var me *modbus.ModbusError
	if errors.As(err, &me) && me.FunctionCode == fc|0x80 {
		return me
	}
	return nil
}

// refused records an exception answer at: counted and named in Health,
// logged once per episode of the block; the connection stays.
func (d *Device) refused(op Op, at time.Time, took time.Duration, err error) {
	d.hmu.Lock()
	d.h.Exceptions++
	d.h.LastException = err.Error()
	d.h.LastOK = at
	d.hmu.Unlock()
	d.ok(at)
	if d.o.Observer != nil {
		d.o.Observer.Transaction(d.o.Name, op, took, err)
	}
}

// drainWrites serves every queued write without blocking.
func (d *Device) drainWrites() {
	for {
		select {
		case w := <-d.writes:
			d.serveWrite(w)
		default:
			return
		}
	}
}

// read performs one read transaction into b.regs.
func (d *Device) read(b *block) error {
	t0 := time.Now()
	if err := d.ensureConn(Read, t0); err != nil {
		return err
	}
	var res []byte
	var err error
	want := 2 * int(b.Count)
	switch b.fc {
	case modbus.FuncCodeReadInputRegisters:
		res, err = d.client.ReadInputRegisters(b.Start, b.Count)
	case modbus.FuncCodeReadCoils:
		res, err = d.client.ReadCoils(b.Start, b.Count)
		want = (int(b.Count) + 7) / 8
	case modbus.FuncCodeReadDiscreteInputs:
		res, err = d.client.ReadDiscreteInputs(b.Start, b.Count)
		want = (int(b.Count) + 7) / 8
	default:
		res, err = d.client.ReadHoldingRegisters(b.Start, b.Count)
	}
	at := time.Now()
	if err != nil {
		err = checkFunction(err, b.fc)
	}
	if err == nil && len(res) != want {
		err = fmt.Errorf("modbus: reply to read of %d %s at %d carries %d bytes", b.Count, b.Table, b.Start, len(res))
	}
	if err != nil {
		err = fmt.Errorf("read %s %d+%d: %w", b.Table, b.Start, b.Count, err)
		if exception(err, b.fc) != nil {
			if b.refused == nil {
				d.log.Warn("device refuses a read block; its points are marked refused", zap.Strings("points", d.names(b.Points)), zap.Error(err))
			}
			b.refused, b.at = err, at
			d.refused(Read, at, at.Sub(t0), err)
			return nil
		}
		d.failed(Read, at, at.Sub(t0), err)
		return err
	}
	if b.refused != nil {
		b.refused = nil
		d.log.Info("device answers a read block again", zap.Strings("points", d.names(b.Points)))
	}
	if b.Table.Bits() {
		BitsToRegs(res, b.regs)
	} else {
		BytesToRegs(res, b.regs)
	}
	b.at = at
	d.hmu.Lock()
	d.h.Reads++
	d.h.LastOK = at
	d.hmu.Unlock()
	d.ok(at)
	if d.o.Observer != nil {
		d.o.Observer.Transaction(d.o.Name, Read, at.Sub(t0), nil)
	}
	return nil
}

// store decodes a group's blocks into the image and signals subscribers.
// A refused block's points are stored refused; a value that does not
// decode, is a "not implemented" sentinel or lies outside its bounds is
// stored invalid.
func (d *Device) store(g *group) {
	pts := d.prof.Points
	// Scale factors first, so the values that use them see this read's.
	for i := range g.blocks {
		b := &g.blocks[i]
		if b.refused != nil {
			continue
		}
		for _, p := range b.Points {
			if d.isSF[p] {
				off := int(pts[p].Address) - int(b.Start)
				d.sf[p].Store(1<<16 | uint32(b.regs[off]))
			}
		}
	}
	var decodeErrs, invalid, noValue uint64
	for i := range g.blocks {
		b := &g.blocks[i]
		if b.refused != nil {
			d.img.Mark(d.id, b.Points, nil, procimg.Refused, b.at)
			continue
		}
		n := 0
		b.bad, b.badV = b.bad[:0], b.badV[:0]
		for _, p := range b.Points {
			pt := &pts[p]
			var sf int16
			if j := d.sfIdx[p]; j >= 0 {
				sf = int16(uint16(d.sf[j].Load()))
			}
			off := int(pt.Address) - int(b.Start)
			v, err := pt.Decode(b.regs[off:off+pt.Words()], sf)
			switch {
			case errors.Is(err, ErrNoValue):
				noValue++
				b.bad, b.badV = append(b.bad, p), append(b.badV, math.NaN())
				continue
			case err != nil:
				decodeErrs++
				d.episode(p, err.Error())
				b.bad, b.badV = append(b.bad, p), append(b.badV, math.NaN())
				continue
			case v < d.lo[p] || v > d.hi[p]:
				invalid++
				d.episode(p, fmt.Sprintf("%s = %g is outside its plausible range %g..%g", pt.Name, v, d.lo[p], d.hi[p]))
				b.bad, b.badV = append(b.bad, p), append(b.badV, v)
				continue
			}
			if d.invalid[p] && !d.settled(p, b.at) {
				// In range, but too soon after an invalid value to trust.
				b.bad, b.badV = append(b.bad, p), append(b.badV, v)
				continue
			}
			b.idx[n] = p
			b.vals[n] = v
			n++
		}
		d.img.Update(d.id, b.idx[:n], b.vals[:n], b.at)
		if len(b.bad) > 0 { // Update has cleared lost already; no second lock for nothing
			d.img.Mark(d.id, b.bad, b.badV, procimg.Invalid, b.at)
		}
	}
	g.lastOK = g.blocks[len(g.blocks)-1].at
	d.hmu.Lock()
	d.h.DecodeErrors += decodeErrs
	d.h.Invalid += invalid
	d.h.NoValue += noValue
	d.h.Refused = d.refusedPoints(d.h.Refused[:0])
	d.hmu.Unlock()
	for _, c := range *g.subs.Load() {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// InvalidHold is how long a point's values must stay valid before an
// episode of invalid values ends: until then they are graded invalid too,
// so that a misread value that happens to fall in range (a wrong word
// order, say) does not flip the point back to good.
const InvalidHold = 2 * time.Second

// episode opens point p's episode of invalid values, or extends it; the
// first invalid value of an episode is logged as a warning.
func (d *Device) episode(p int, why string) {
	d.validSince[p] = time.Time{}
	if d.invalid[p] {
		return
	}
	d.invalid[p] = true
	d.log.Warn("invalid value: not used for control until valid for "+InvalidHold.String(), zap.String("point", d.prof.Points[p].Name), zap.String("why", why))
}

// settled reports, for a point in an episode of invalid values that read
// a valid one at at, whether its values have been valid for InvalidHold;
// if so the episode ends (logged as info).
func (d *Device) settled(p int, at time.Time) bool {
	if d.validSince[p].IsZero() {
		d.validSince[p] = at
	}
	if at.Before(d.validSince[p].Add(InvalidHold)) {
		return false
	}
	d.invalid[p] = false
	d.log.Info("valid values again", zap.String("point", d.prof.Points[p].Name))
	return true
}

// refusedPoints appends the names of the points of every refused block.
func (d *Device) refusedPoints(dst []string) []string {
	for _, g := range d.groups {
		for i := range g.blocks {
			if g.blocks[i].refused != nil {
				dst = append(dst, d.names(g.blocks[i].Points)...)
			}
		}
	}
	return dst
}

// names returns the names of points.
func (d *Device) names(points []int) []string {
	out := make([]string, len(points))
	for k, p := range points {
		out[k] = d.prof.Points[p].Name
	}
	return out
}

// ensureConn dials when disconnected; the dial counts against the
// transaction's timeout.
func (d *Device) ensureConn(op Op, t0 time.Time) error {
	if d.conn {
		d.handler.Timeout = d.o.Timeout // after a dial's shortened one
		return nil
	}
	d.handler.Timeout = d.o.Timeout
	if err := d.handler.Connect(); err != nil {
		now := time.Now()
		d.failed(op, now, now.Sub(t0), fmt.Errorf("dial %s: %w", d.o.Address, err))
		return err
	}
	now := time.Now()
	d.handler.Timeout = max(d.o.Timeout-now.Sub(t0), time.Millisecond)
	d.conn = true
	d.hmu.Lock()
	if d.connected {
		d.h.Reconnects++
	}
	d.h.Connected = true
	d.hmu.Unlock()
	d.connected = true
	// Groups missed while disconnected are due now; do not count the
	// outage as overruns.
	for _, g := range d.groups {
		if g.due.Before(now) {
			g.due = now
		}
	}
	return nil
}

// disconnect closes the connection.
func (d *Device) disconnect() {
	if d.handler != nil {
		_ = d.handler.Close()
	}
	if d.conn {
		d.conn = false
		d.hmu.Lock()
		d.h.Connected = false
		d.hmu.Unlock()
	}
}

// failed handles any transaction or dial error: close the connection (so
// a late reply can never be taken as the answer to the next request),
// count, and schedule the redial. The first error after a good
// transaction redials at once; consecutive ones back off.
func (d *Device) failed(op Op, at time.Time, took time.Duration, err error) {
	d.disconnect()
	d.fails++
	if d.fails == 1 {
		d.retryAt = at
	} else {
		d.retryAt = at.Add(d.backoff(d.fails - 1))
	}
	d.hmu.Lock()
	d.h.Errors++
	d.h.LastErr = err.Error()
	d.h.LastErrAt = at
	d.hmu.Unlock()
	if !d.errLogged {
		d.errLogged = true
		d.log.Warn("modbus error; closing and redialling", zap.String("op", op.String()), zap.Error(err))
	}
	if d.o.Observer != nil {
		d.o.Observer.Transaction(d.o.Name, op, took, err)
	}
}

// ok records a successful transaction.
func (d *Device) ok(at time.Time) {
	d.lastOK = at
	d.fails = 0
	d.errLogged = false
}

// backoff is the wait before redial attempt n (n >= 1): BackoffMin doubled
// n-1 times, capped at BackoffMax, then jittered into [d/2, d].
func (d *Device) backoff(n int) time.Duration {
	b := d.o.BackoffMin
	for i := 1; i < n && b != d.o.BackoffMax; i++ {
		b = min(2*b, d.o.BackoffMax)
	}
	half := b / 2
	return half + time.Duration(rand.Int64N(int64(b-half)+1))
}

// evalState updates the device state at now and returns the next time the
// state may change by ageing alone (zero when none).
func (d *Device) evalState(now time.Time) time.Time {
	var next time.Time
	st := Online
	// Lost once the last good transaction is older than LostAfter, stale
	// once a group's last read is older than its limit; next is the
	// earliest deadline still ahead (reached exactly, it is evaluated
	// again at once and then passed).
	if lostAt := d.lastOK.Add(d.o.LostAfter); d.lastOK.IsZero() || now.After(lostAt) {
		st = Lost
	} else {
		next = lostAt
		for _, g := range d.groups {
			staleAt := g.lastOK.Add(g.staleAfter)
			if g.lastOK.IsZero() || now.After(staleAt) {
				st = Stale
				continue
			}
			next = earliest(next, staleAt)
		}
	}
	if st == d.state {
		return next
	}
	prev := d.state
	d.state = st
	d.hmu.Lock()
	d.h.State = st
	d.h.Since = now
	lastErr := d.h.LastErr
	d.hmu.Unlock()
	if st == Lost {
		d.img.SetLost(d.id)
		d.log.Warn("device lost", zap.Stringer("from", prev), zap.String("last_error", lastErr))
	} else {
		d.log.Info("device state", zap.Stringer("from", prev), zap.Stringer("to", st))
	}
	return next
}

// checkFunction rewords goburrow's report of a reply whose function code
// is neither the request's nor its exception: goburrow calls it an
// exception, which misleads.
func checkFunction(err error, fc byte) error {
	var me *modbus.ModbusError
	if errors.As(err, &me) && me.FunctionCode&0x7f != fc {
		return fmt.Errorf("modbus: reply has function code %d, request had %d", me.FunctionCode, fc)
	}
	return err
}
