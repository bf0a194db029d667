package record

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/telemetry/influx"
)

// Sink takes points without blocking; false means the point was dropped.
// *influx.Writer is a Sink.
type Sink interface {
	Write(influx.Point) bool
}

// HealthSource is a device whose communication health is recorded;
// *devices.Device is one.
type HealthSource interface {
	Name() string
	Health() devices.Health
}

// DefaultInterval is the flush interval Run uses when given none.
const DefaultInterval = time.Second

// Options configure a Recorder. Only Site is required.
type Options struct {
	// Site is the value of the site tag on every point.
	Site string
	// Decimation overrides the decimation of float fields, keyed
	// "measurement.field", e.g. {"plant.p_kw": record.Mean}. Only fields
	// whose Configurable is true may be overridden.
	Decimation map[string]Agg
	// States, if set, is called at each flush for every unit's protection
	// state, indexed like the view's units (Dispatcher.States).
	States func() []dispatch.State
	// Setpoints, if set, is called at each flush for every unit's last
	// acknowledged setpoint and when it was acknowledged (Station.Acked).
	Setpoints func() ([]plant.Setpoint, []time.Time)
	// Devices, if set, are written to the device measurement at each
	// flush, and their communication state changes as comm events.
	Devices []HealthSource
	// Controller, if set, is this controller's name in a hot-standby pair
	// (ha.name): every point then also carries the tags controller and
	// role, the latter from Role (leader or standby) when it is written.
	Controller string
	Role       func() string
}

// binding ties a declared field to its accumulator slot.
type binding struct {
	name string
	src  int
	agg  Agg
	typ  Type
}

// Stats count the points a Recorder handed to its Sink.
type Stats struct {
	Points  uint64 // accepted by the sink
	Dropped uint64 // refused by the sink (queue full)
}

// Recorder turns control cycles into telemetry points. Observe is called
// from the control loop only; Flush from one ticker goroutine; the event
// methods from anywhere.
type Recorder struct {
	sink Sink
	o    Options
	site string

	plantB, meterB, pcsB, bmsB []binding

	lastMode dispatch.Mode // control loop only

	mu  sync.Mutex // guards cur
	cur *frame

	flushMu sync.Mutex // serialises Flush; guards spare and comm
	spare   *frame
	comm    map[string]devices.State

	evMu   sync.Mutex
	lastEv time.Time

	latMu sync.RWMutex
	lat   map[string]*latAcc

	points, dropped atomic.Uint64
}

// New returns a Recorder writing to sink.
func New(sink Sink, o Options) (*Recorder, error) {
	if sink == nil {
		return nil, errors.New("record: nil sink")
	}
	if o.Site == "" {
		return nil, errors.New("record: Options.Site is required")
	}
	for key, agg := range o.Decimation {
		mn, fn, _ := strings.Cut(key, ".")
		m := Default.Measurement(mn)
		if m == nil || m.Field(fn) == nil {
			return nil, fmt.Errorf("record: decimation %q: no such field", key)
		}
		if !m.Field(fn).Configurable() || agg >= Sampled {
			return nil, fmt.Errorf("record: decimation %q: %v cannot be set on this field", key, agg)
		}
	}
	r := &Recorder{sink: sink, o: o, site: o.Site, cur: &frame{}, spare: &frame{},
		comm: map[string]devices.State{}, lat: map[string]*latAcc{}}
	r.plantB = bind(MPlant, plantSrc, o.Decimation)
	r.meterB = bind(MMeter, meterSrc, o.Decimation)
	r.pcsB = bind(MPCS, pcsSrc, o.Decimation)
	r.bmsB = bind(MBMS, bmsSrc, o.Decimation)
	for _, d := range o.Devices {
		r.lat[d.Name()] = &latAcc{}
	}
	return r, nil
}

func bind(measurement string, src map[string]int, dec map[string]Agg) []binding {
	m := Default.Measurement(measurement)
	var out []binding
	for _, fd := range m.Fields {
		i, ok := src[fd.Name]
		if !ok {
			continue
		}
		agg := fd.Agg
		if a, ok := dec[measurement+"."+fd.Name]; ok {
			agg = a
		}
		out = append(out, binding{name: fd.Name, src: i, agg: agg, typ: fd.Type})
	}
	return out
}

// Observe folds one control cycle into the current interval. It is called
// from the control loop with the cycle's view and the dispatch report of
// the same cycle (a zero report, before dispatch runs, records no dispatch
// fields). It does not allocate in steady state and holds a lock only
// while it adds the cycle. A change of rep.Mode is written as a mode event.
func (r *Recorder) Observe(v *plant.View, rep dispatch.Report) {
	if rep.Mode != "" && rep.Mode != r.lastMode {
		r.Event(Event{Time: v.At, Unit: dispatch.PlantID, Kind: KindMode, From: string(r.lastMode), To: string(rep.Mode)})
		r.lastMode = rep.Mode
	}
	r.mu.Lock()
	r.cur.observe(v, &rep)
	r.mu.Unlock()
}

// Flush ends the interval: it writes one point per measurement and device
// for the cycles observed since the last Flush, stamped now, and returns
// how many points the sink accepted. Observe is blocked only while the
// accumulators are swapped.
func (r *Recorder) Flush(now time.Time) int {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	f := r.cur
	r.cur = r.spare
	r.mu.Unlock()
	n := r.emit(f, now)
	f.reset()
	r.spare = f
	return n
}

// Run flushes every interval (DefaultInterval if <= 0) until ctx is done,
// then flushes the last partial interval.
func (r *Recorder) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(time.Now())
			return
		case now := <-t.C:
			r.Flush(now)
		}
	}
}

// Stats returns the recorder's point counts.
func (r *Recorder) Stats() Stats {
	return Stats{Points: r.points.Load(), Dropped: r.dropped.Load()}
}

func (r *Recorder) write(p influx.Point) int {
	if r.sink.Write(p) {
		r.points.Add(1)
		return 1
	}
	r.dropped.Add(1)
	return 0
}

func (r *Recorder) tags(kv ...string) map[string]string {
	t := make(map[string]string, 3+len(kv)/2)
	t["site"] = r.site
	if r.o.Controller != "" && r.o.Role != nil {
		t["controller"], t["role"] = r.o.Controller, r.o.Role()
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t[kv[i]] = kv[i+1]
	}
	return t
}

func putAccs(fields map[string]any, bs []binding, accs []acc) {
	for i := range bs {
		b := &bs[i]
		x, ok := accs[b.src].get(b.agg)
		if !ok {
			continue
		}
		if b.typ == Integer {
			fields[b.name] = int64(math.Round(x))
		} else {
			fields[b.name] = x
		}
	}
}

// emit writes the points of frame f.
func (r *Recorder) emit(f *frame, now time.Time) int {
	n := 0
	var health []devices.Health
	online := 0
	if len(r.o.Devices) > 0 {
		health = make([]devices.Health, len(r.o.Devices))
		for i, d := range r.o.Devices {
			health[i] = d.Health()
			if health[i].State == devices.Online {
				online++
			}
		}
	}

	pf := make(map[string]any, 32)
	pf["cycles"] = int64(f.cycles)
	if health != nil {
		pf["devices_online"] = int64(online)
		pf["devices"] = int64(len(health))
	}
	if f.cycles > 0 {
		putAccs(pf, r.plantB, f.plant[:])
		if f.haveReport {
			pf["mode"] = string(f.mode)
			pf["binding"] = f.binding.String()
			pf["q_binding"] = cmp.Or(f.qBinding, "none")
			pf["available_units"] = int64(f.available)
			pf["tripped_units"] = int64(f.tripped)
			pf["estop"] = f.estop
		}
	}
	n += r.write(influx.Point{Measurement: MPlant, Tags: r.tags(), Fields: pf, Time: now})

	if f.cycles > 0 {
		mf := make(map[string]any, 12)
		putAccs(mf, r.meterB, f.meter[:])
		mf["quality"] = f.meterQ.String()
		n += r.write(influx.Point{Measurement: MMeter, Tags: r.tags("device", plant.Meter), Fields: mf, Time: now})

		var states []dispatch.State
		if r.o.States != nil {
			states = r.o.States()
		}
		var sps []plant.Setpoint
		var spAt []time.Time
		if r.o.Setpoints != nil {
			sps, spAt = r.o.Setpoints()
		}
		for i := range f.units {
			u := &f.units[i]
			uf := make(map[string]any, 8)
			putAccs(uf, r.pcsB, u.v[:])
			uf["quality"] = u.q.String()
			if i < len(states) {
				uf["protection"] = states[i].String()
			}
			if i < len(sps) && i < len(spAt) && !spAt[i].IsZero() {
				uf["setpoint_p_kw"] = sps[i].P
				uf["setpoint_q_kvar"] = sps[i].Q
			}
			n += r.write(influx.Point{Measurement: MPCS, Tags: r.tags("unit", u.id), Fields: uf, Time: now})
			for j := range u.bms {
				b := &u.bms[j]
				bf := make(map[string]any, 13)
				putAccs(bf, r.bmsB, b.v[:])
				bf["quality"] = b.q.String()
				n += r.write(influx.Point{Measurement: MBMS, Tags: r.tags("unit", u.id, "bms", strconv.Itoa(j)), Fields: bf, Time: now})
			}
		}
	}

	for i, d := range r.o.Devices {
		n += r.device(d.Name(), &health[i], now)
	}
	return n
}

// device writes one device's health and, when its communication state
// changed since the last flush, a comm event.
func (r *Recorder) device(name string, h *devices.Health, now time.Time) int {
	df := map[string]any{
		"state":      h.State.String(),
		"connected":  h.Connected,
		"reads":      clampInt(h.Reads),
		"writes":     clampInt(h.Writes),
		"errors":     clampInt(h.Errors),
		"reconnects": clampInt(h.Reconnects),
		"overruns":   clampInt(h.Overruns),
	}
	if !h.LastOK.IsZero() {
		df["last_ok_age_s"] = now.Sub(h.LastOK).Seconds()
	}
	if la := r.latency(name); la != nil {
		if mean, max, ok := la.take(); ok {
			df["latency_ms_mean"] = mean
			df["latency_ms_max"] = max
		}
	}
	n := r.write(influx.Point{Measurement: MDevice, Tags: r.tags("device", name), Fields: df, Time: now})
	if prev, seen := r.comm[name]; seen && prev != h.State {
		r.Event(Event{Time: now, Unit: name, Kind: KindComm, From: prev.String(), To: h.State.String(), Message: h.LastErr})
	}
	r.comm[name] = h.State
	return n
}

func clampInt(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// latAcc accumulates transaction durations of one device between flushes.
type latAcc struct {
	sum, n, max atomic.Int64 // nanoseconds, count, nanoseconds
}

// take returns the interval's mean and max in ms and starts a new one.
func (l *latAcc) take() (mean, max float64, ok bool) {
	n := l.n.Swap(0)
	sum := l.sum.Swap(0)
	mx := l.max.Swap(0)
	if n == 0 {
		return 0, 0, false
	}
	return float64(sum) / float64(n) / 1e6, float64(mx) / 1e6, true
}

func (r *Recorder) latency(name string) *latAcc {
	r.latMu.RLock()
	defer r.latMu.RUnlock()
	return r.lat[name]
}

// Transaction records the duration of a successful Modbus transaction for
// the device's latency fields; it makes the Recorder a devices.Observer.
// Failed transactions are counted by the device's own health counters.
func (r *Recorder) Transaction(device string, _ devices.Op, took time.Duration, err error) {
	if err != nil {
		return
	}
	l := r.latency(device)
	if l == nil {
		r.latMu.Lock()
		if l = r.lat[device]; l == nil {
			l = &latAcc{}
			r.lat[device] = l
		}
		r.latMu.Unlock()
	}
	ns := int64(took)
	l.sum.Add(ns)
	l.n.Add(1)
	for {
		m := l.max.Load()
		if ns <= m || l.max.CompareAndSwap(m, ns) {
			return
		}
	}
}
