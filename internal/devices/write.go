package devices

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MaxWriteRegs is the Modbus limit on registers in one FC16 write.
const MaxWriteRegs = 123

// writeRun is one write request: contiguous registers from start (FC16),
// or one register (FC06) or coil (FC05).
type writeRun struct {
	start, count uint16
	fc           byte
	off          int // byte offset of the run's data in writeReq.data
}

// Write request states.
const (
	wPending int32 = iota
	wTaken
	wAbandoned
)

// writeReq is a write queued for the device goroutine.
type writeReq struct {
	runs  []writeRun
	data  []byte
	regs  []uint16
	items []writeItem
	state atomic.Int32
	done  chan error
}

type writeItem struct {
	addr  uint16
	words uint16
	fc    byte
	off   int // register offset in regs
}

var writePool = sync.Pool{New: func() any { return &writeReq{done: make(chan error, 1)} }}

// Write encodes the values with the codec and writes them, ahead of any
// queued read: it is served as soon as the transaction in flight (if any)
// completes. Contiguous points are merged into one FC16 request. Points
// with a SunSpec scale factor use its last read value; a write before
// that value is known is an error. It returns the time from the call to
// the device's acknowledgement of the last request.
//
// Every point must be writable, named once, and not overlap another. When
// the values need more than one request and one fails, the earlier ones
// stay written. A device waiting out its reconnect backoff refuses the
// write with ErrOffline; after Run returns, Write returns ErrStopped;
// before Run starts, the write waits in the queue, bounded by ctx. If ctx
// ends while the write is on the wire, Write returns ctx's error, though
// the device may still apply the values.
//
// Writes are served one after another ahead of all reads, so the caller
// bounds their rate: a continuous stream of writes would starve reads.
func (d *Device) Write(ctx context.Context, vals ...PointValue) (time.Duration, error) {
	t0 := time.Now()
	if len(vals) == 0 {
		return 0, nil
	}
	w := writePool.Get().(*writeReq)
	if err := d.encode(w, vals); err != nil {
		writePool.Put(w)
		return 0, fmt.Errorf("%s: write: %w", d.o.Name, err)
	}
	w.state.Store(wPending)
	select {
	case d.writes <- w:
	case <-d.done:
		writePool.Put(w)
		return 0, fmt.Errorf("%s: write: %w", d.o.Name, ErrStopped)
	case <-ctx.Done():
		writePool.Put(w)
		return 0, fmt.Errorf("%s: write: %w", d.o.Name, ctx.Err())
	}
	var err error
	select {
	case err = <-w.done:
	case <-d.done:
		if w.state.CompareAndSwap(wPending, wAbandoned) {
			return 0, fmt.Errorf("%s: write: %w", d.o.Name, ErrStopped)
		}
		// Taken before Run returned: its result is on the way.
		err = <-w.done
	case <-ctx.Done():
		// The device goroutine may still hold w: never reuse it.
		w.state.CompareAndSwap(wPending, wAbandoned)
		return 0, fmt.Errorf("%s: write: %w", d.o.Name, ctx.Err())
	}
	ack := time.Since(t0)
	writePool.Put(w)
	if err != nil {
		return ack, fmt.Errorf("%s: write: %w", d.o.Name, err)
	}
	return ack, nil
}

// encode validates and encodes vals into w's runs.
func (d *Device) encode(w *writeReq, vals []PointValue) error {
	w.items = w.items[:0]
	w.regs = w.regs[:0]
	w.runs = w.runs[:0]
	w.data = w.data[:0]
	pts := d.prof.Points
	for _, pv := range vals {
		i := d.prof.Point(pv.Point)
		if i < 0 {
			return fmt.Errorf("profile %s has no point %q", d.prof.Name, pv.Point)
		}
		pt := &pts[i]
		if !pt.Writable {
			return fmt.Errorf("point %s is not writable", pt.Name)
		}
		var sf int16
		if j := d.sfIdx[i]; j >= 0 {
			x := d.sf[j].Load()
			if x>>16 == 0 {
				return fmt.Errorf("point %s: scale factor %s not read yet", pt.Name, pt.ScalePoint)
			}
			sf = int16(uint16(x))
		}
		off := len(w.regs)
		n := pt.Words()
		for range n {
			w.regs = append(w.regs, 0)
		}
		if err := pt.Encode(pv.Value, sf, w.regs[off:off+n]); err != nil {
			return err
		}
		w.items = append(w.items, writeItem{addr: pt.Address, words: uint16(n), fc: byte(pt.WriteFC), off: off})
	}
	it := w.items
	slices.SortFunc(it, func(a, b writeItem) int { return cmp.Compare(a.addr, b.addr) })
	for i, x := range it {
		end := int(x.addr) + int(x.words)
		if i+1 < len(it) && int(it[i+1].addr) < end && (it[i+1].fc == FC05) == (x.fc == FC05) {
			return fmt.Errorf("points at registers %d and %d overlap (a point named twice?)", x.addr, it[i+1].addr)
		}
		if n := len(w.runs); n > 0 && x.fc == FC16 {
			r := &w.runs[n-1]
			if r.fc == FC16 && int(r.start)+int(r.count) == int(x.addr) && int(r.count)+int(x.words) <= MaxWriteRegs {
				r.count += x.words
				w.data = RegsToBytes(w.regs[x.off:x.off+int(x.words)], w.data)
				continue
			}
		}
		fc := x.fc
		if fc == 0 {
			fc = FC16 // a profile not validated by Validate
		}
		w.runs = append(w.runs, writeRun{start: x.addr, count: x.words, fc: fc, off: len(w.data)})
		w.data = RegsToBytes(w.regs[x.off:x.off+int(x.words)], w.data)
	}
	return nil
}

// serveWrite performs a queued write on the device goroutine.
func (d *Device) serveWrite(w *writeReq) {
	if !w.state.CompareAndSwap(wPending, wTaken) {
		return // the caller gave up
	}
	if !d.conn && time.Now().Before(d.retryAt) {
		w.done <- ErrOffline
		return
	}
	for _, r := range w.runs {
		t0 := time.Now()
		if err := d.ensureConn(Write, t0); err != nil {
			w.done <- err
			return
		}
		if d.o.WriteGate != nil && !d.o.WriteGate() {
			w.done <- ErrFenced
			return
		}
		data := w.data[r.off : r.off+2*int(r.count)]
		var err error
		switch r.fc {
		case FC05:
			v := uint16(0)
			if data[0] != 0 || data[1] != 0 {
				v = 0xFF00
			}
			_, err = d.client.WriteSingleCoil(r.start, v)
		case FC06:
			_, err = d.client.WriteSingleRegister(r.start, uint16(data[0])<<8|uint16(data[1]))
		default:
			_, err = d.client.WriteMultipleRegisters(r.start, r.count, data)
		}
		at := time.Now()
		if err != nil {
			err = checkFunction(err, r.fc)
			err = fmt.Errorf("write (FC%02d) %d+%d: %w", r.fc, r.start, r.count, err)
			if exception(err, r.fc) != nil {
				// The device answered: the link is fine.
				d.refused(Write, at, at.Sub(t0), err)
			} else {
				d.failed(Write, at, at.Sub(t0), err)
			}
			w.done <- err
			return
		}
		d.hmu.Lock()
		d.h.Writes++
		d.h.LastOK = at
		d.hmu.Unlock()
		d.ok(at)
		if d.o.Observer != nil {
			d.o.Observer.Transaction(d.o.Name, Write, at.Sub(t0), nil)
		}
	}
	w.done <- nil
}

// failQueued refuses every queued write; called when Run returns.
func (d *Device) failQueued(err error) {
	for {
		select {
		case w := <-d.writes:
			if w.state.CompareAndSwap(wPending, wTaken) {
				w.done <- err
			}
		default:
			return
		}
	}
}
