// Package station is the runtime that wires a plant together: it builds
// one poller per device, keeps the process image, runs the control loop
// that turns each snapshot into unit setpoints, hands those to one PCS
// writer per unit (package writer), reports to systemd, and ramps every
// unit to 0 kW on shutdown.
package station

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station/writer"
)

// Controller turns one view of the plant into one setpoint per unit.
// It is called from the control loop only, never concurrently.
type Controller interface {
	Step(v *plant.View, out []plant.Setpoint)
}

// Standby is the controller that holds every unit at 0 kW.
type Standby struct{}

// Step sets every unit to 0.
func (Standby) Step(_ *plant.View, out []plant.Setpoint) {
	for i := range out {
		out[i] = plant.Setpoint{}
	}
}

// Notifier reports service state to the supervisor (systemd).
type Notifier interface {
	Ready()
	Watchdog()
	Stopping()
}

// Station is a running plant.
type Station struct {
	cfg   Config
	log   *zap.Logger
	img   *procimg.Image
	meter *devices.Device
	units []*unit
	all   []*devices.Device
	vm    *viewMap
	ctl   Controller
	ntf   Notifier

	lat     *latency
	onCycle func(v *plant.View, k plant.CycleKind)
	ready   atomic.Bool // the first full poll is complete
	gate    func() bool

	mu   sync.Mutex
	view plant.View // last view, for Latest
}

// Options are the optional parts of a station.
type Options struct {
	// Controller decides unit setpoints; nil holds all units at 0.
	Controller Controller
	// Notifier reports to systemd; nil reports nowhere.
	Notifier Notifier
	// Observer receives every Modbus transaction, for metrics.
	Observer devices.Observer
	// FastLatency, if set, receives for each fast-path cycle the time from
	// the frequency reading's arrival to the last PCS acknowledgement.
	FastLatency func(time.Duration)
	// OnCycle, if set, is called from the control loop with each cycle's
	// view (valid only during the call) and what started the cycle. It
	// must be quick and not block.
	OnCycle func(v *plant.View, k plant.CycleKind)
	// Gate, if set, is asked before every PCS write (see writer.Options):
	// a hot-standby pair's fence, open only on the leader within its
	// lease. The control loop runs either way, keeping the standby warm.
	Gate func() bool
	// OnUnitEvent, if set, receives each unit's PCS run-state events
	// (restart, not running, running again) from its writer; it must
	// not block.
	OnUnitEvent func(unit string, e writer.Event)
}

// New builds a station of c. Profiles must hold every profile c names,
// already checked against the configuration (config.CheckProfiles).
func New(c Config, profiles devices.Profiles, log *zap.Logger, o Options) (*Station, error) {
	s := &Station{cfg: c, log: log, img: procimg.New(), ctl: o.Controller, ntf: o.Notifier, lat: &latency{report: o.FastLatency}, onCycle: o.OnCycle, gate: o.Gate}
	if s.ctl == nil {
		s.ctl = Standby{}
	}
	if s.ntf == nil {
		s.ntf = nopNotifier{}
	}
	mk := func(name string, d *Device, r plant.Ratings) (*devices.Device, error) {
		dev, err := devices.New(devices.Options{
			Name:         name,
			Address:      d.Address,
			UnitID:       d.UnitID,
			Profile:      profiles[d.Profile],
			Periods:      d.Poll,
			Timeout:      d.Timeout,
			BackoffMin:   c.Comms.BackoffMin,
			BackoffMax:   c.Comms.BackoffMax,
			StalePeriods: c.Comms.StalePeriods,
			LostAfter:    c.Comms.LostAfter,
			Observer:     o.Observer,
			WriteGate:    o.Gate,
			Ratings:      r,
		}, s.img, log.Named(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.all = append(s.all, dev)
		return dev, nil
	}
	var err error
	if s.meter, err = mk(plant.Meter, &c.Meter, plant.Ratings{}); err != nil {
		return nil, err
	}
	for i := range c.Units {
		cu := &c.Units[i]
		ratings := plant.Ratings{P: cu.RatedPKW, S: cu.RatedSKVA}
		pcs, err := mk(plant.DeviceName(cu.ID, plant.KindPCS, 0), &cu.PCS, ratings)
		if err != nil {
			return nil, err
		}
		var onEvent func(writer.Event)
		if o.OnUnitEvent != nil {
			id := cu.ID
			onEvent = func(e writer.Event) { o.OnUnitEvent(id, e) }
		}
		u := &unit{id: cu.ID, ratedP: cu.RatedPKW, ratedS: cu.RatedSKVA, pcs: pcs,
			w: writer.New(writer.Options{PCS: pcs, Heartbeat: c.HeartbeatPeriod, Log: log.Named(cu.ID), OnAck: s.lat.acked, Gate: o.Gate, OnEvent: onEvent})}
		for j := range cu.BMS {
			b, err := mk(plant.DeviceName(cu.ID, plant.KindBMS, j), &cu.BMS[j].Device, ratings)
			if err != nil {
				return nil, err
			}
			u.bms = append(u.bms, b)
			u.capacity = append(u.capacity, cu.BMS[j].CapacityKWh)
		}
		s.units = append(s.units, u)
	}
	s.vm = newViewMap(s.meter, s.units)
	return s, nil
}

// Image is the station's process image.
func (s *Station) Image() *procimg.Image { return s.img }

// Devices lists every device, the meter first.
func (s *Station) Devices() []*devices.Device { return s.all }

// Meter is the POI meter's device.
func (s *Station) Meter() *devices.Device { return s.meter }

// Latest returns a copy of the view the control loop saw last.
func (s *Station) Latest() plant.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v plant.View
	s.view.CopyTo(&v)
	return v
}

// Acked returns the last setpoint each unit's PCS acknowledged and when.
func (s *Station) Acked() ([]plant.Setpoint, []time.Time) {
	sp := make([]plant.Setpoint, len(s.units))
	at := make([]time.Time, len(s.units))
	for i, u := range s.units {
		sp[i], at[i] = u.w.Acked()
	}
	return sp, at
}

// Run polls the plant and runs the control loop until ctx is cancelled,
// then ramps every unit to 0 kW, waits (bounded) for the PCS to
// acknowledge, and returns. A nil error means every unit confirmed 0 kW.
func (s *Station) Run(ctx context.Context) error {
	pollCtx, stopPolls := context.WithCancel(context.Background())
	var polls sync.WaitGroup
	for _, d := range s.all {
		polls.Add(1)
		go func() { defer polls.Done(); d.Run(pollCtx) }()
	}
	writeCtx, stopWriters := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	for _, u := range s.units {
		writers.Add(1)
		go func() { defer writers.Done(); u.w.Run(writeCtx) }()
	}
	defer func() {
		stopWriters()
		writers.Wait()
		stopPolls()
		polls.Wait()
	}()

	go s.waitReady(ctx)
	s.loop(ctx)

	s.ntf.Stopping()
	return s.shutdown()
}

// FastController is a Controller that also wants a cycle as soon as a new
// frequency reading arrives, when that reading changes its output enough:
// the event-driven fast path of frequency response.
type FastController interface {
	Controller
	FastTrigger(f procimg.Value) bool
}

// loop is the control loop: one snapshot, one controller step and one set
// of unit orders per period, plus an immediate cycle for each frequency
// reading a FastController asks for, and a watchdog ping per cycle.
func (s *Station) loop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Period)
	defer tick.Stop()
	c := &cycler{s: s, out: make([]plant.Setpoint, len(s.units))}
	var fast <-chan struct{}
	fc, isFast := s.ctl.(FastController)
	fref := ref(s.meter, plant.PointF)
	if isFast && fref.idx >= 0 {
		fast = s.meter.Subscribe(s.meter.Profile().Points[fref.idx].Group)
	}
	summaryEvery := s.cfg.SummaryPeriod
	lastSummary := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			c.run(now, time.Time{})
			if summaryEvery > 0 && now.Sub(lastSummary) >= summaryEvery {
				lastSummary = now
				s.logSummary(&c.view)
			}
		case <-fast:
			now := time.Now()
			f := s.img.Get(fref.dev, fref.idx, now)
			if fc.FastTrigger(f) {
				c.run(now, f.At)
			}
		}
	}
}

// cycler holds the control loop's reusable buffers.
type cycler struct {
	s    *Station
	snap procimg.Snapshot
	view plant.View
	out  []plant.Setpoint
}

// run is one control cycle at now; origin, if set, is when the reading
// that triggered it arrived, for the read-to-acknowledge latency, and
// makes it a fast cycle.
func (c *cycler) run(now, origin time.Time) {
	s := c.s
	kind := plant.CycleTick
	if !origin.IsZero() {
		kind = plant.CycleFast
	}
	s.img.Snapshot(now, &c.snap)
	s.vm.fill(&c.snap, s.units, &c.view)
	for i, u := range s.units {
		uv := &c.view.Units[i]
		uv.Acked, uv.AckedAt, uv.AliveAt = u.w.AckState()
	}
	if !s.ready.Load() {
		// Nothing is ordered before every point has been read once: the
		// controller would see missing data as lost and trip the units.
		s.publish(&c.view, kind)
		s.ntf.Watchdog()
		return
	}
	s.ctl.Step(&c.view, c.out)
	id := s.lat.begin(origin)
	for i, u := range s.units {
		if u.w.Set(c.out[i], id) {
			s.lat.expect(id)
		}
	}
	s.lat.sealed(id)
	s.publish(&c.view, kind)
	s.ntf.Watchdog()
}

// publish keeps a copy of the cycle's view for Latest and hands the view
// and the cycle's kind to the OnCycle hook.
func (s *Station) publish(v *plant.View, k plant.CycleKind) {
	s.mu.Lock()
	v.CopyTo(&s.view)
	s.mu.Unlock()
	if s.onCycle != nil {
		s.onCycle(v, k)
	}
}

// Kick makes every PCS writer look at its gate and its order at once:
// for a gate that has just opened (a standby that became the leader).
func (s *Station) Kick() {
	for _, u := range s.units {
		u.w.Kick()
	}
}

// Ready reports whether the first full poll is complete and control runs.
func (s *Station) Ready() bool { return s.ready.Load() }

func (s *Station) logSummary(v *plant.View) {
	sum := plant.Summarise(v)
	online := 0
	for _, d := range s.all {
		if d.Health().State == devices.Online {
			online++
		}
	}
	fields := []zap.Field{
		zap.String("poi_p_kw", fmtValue(sum.POIP, sum.POIOK, 1)),
		zap.String("units_p_kw", fmt.Sprintf("%.1f", sum.UnitP)),
		zap.String("soc_pct", fmtValue(sum.SOC, sum.SOCOK > 0, 1)),
		zap.String("f_hz", fmtValue(sum.F, sum.FOK, 3)),
		zap.String("online", fmt.Sprintf("%d/%d", online, len(s.all))),
	}
	s.log.Info("plant summary", fields...)
}

func fmtValue(v float64, ok bool, prec int) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

// waitReady tells the supervisor the daemon is ready once every readable
// point of every device has been answered (the first full poll): read, or
// refused with an exception, or read invalid. A point that is not good
// then keeps only what needs it out of control: dispatch counts a unit
// whose required PCS or BMS point is not good as unavailable. The required
// points that are not good are named in a warning.
func (s *Station) waitReady(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	nextNag := start.Add(5 * time.Second)
	var snap procimg.Snapshot
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.img.Snapshot(now, &snap)
			missing := s.unread(&snap)
			if len(missing) == 0 {
				s.log.Info("first full poll complete: all devices online",
					zap.Int("devices", len(s.all)), zap.Duration("after", now.Sub(start).Round(time.Millisecond)))
				if bad := s.requiredNotGood(&snap); len(bad) > 0 {
					s.log.Warn("required points not good: their units are unavailable until they are", zap.Strings("points", bad))
				}
				s.ready.Store(true)
				s.ntf.Ready()
				return
			}
			if now.After(nextNag) {
				nextNag = now.Add(10 * time.Second)
				s.log.Warn("waiting for the first full poll", zap.Strings("devices_not_read", missing))
			}
		}
	}
}

// unread names the devices with a readable point the device has not
// answered yet, or whose device is lost.
func (s *Station) unread(snap *procimg.Snapshot) []string {
	var out []string
	for _, d := range s.all {
		pts := d.Profile().Points
		for i := range pts {
			if v := snap.Value(d.ID(), i); pts[i].Group != "" && (v.At.IsZero() || v.Q == procimg.Lost) {
				out = append(out, d.Name())
				break
			}
		}
	}
	return out
}

// requiredNotGood names, as device.point (quality), the required points
// (plant.Standards) that are not good in snap.
func (s *Station) requiredNotGood(snap *procimg.Snapshot) []string {
	var out []string
	for _, d := range s.all {
		p := d.Profile()
		for _, std := range plant.StandardsOf(p.Kind) {
			i := p.Point(std.Name)
			if !std.Required || std.Write || i < 0 {
				continue
			}
			if v := snap.Value(d.ID(), i); !v.Good() {
				out = append(out, fmt.Sprintf("%s.%s (%s)", d.Name(), std.Name, v.Q))
			}
		}
	}
	return out
}

// shutdown ramps every unit's order to 0 kW and waits, within the
// configured bound, until each PCS has acknowledged 0.
//
// A station whose gate is closed (the standby of a pair, or a leader past
// its lease) does not ramp: it may not write, and the plant is the active
// controller's, or else its PCS watchdogs'.
func (s *Station) shutdown() error {
	if s.gate != nil && !s.gate() {
		s.log.Info("shutting down without ramping: this controller may not write (standby or fenced); the plant stays with the active controller or the PCS watchdogs")
		return nil
	}
	timeout := s.cfg.ShutdownTimeout
	deadline := time.Now().Add(timeout)
	s.log.Info("shutting down: ramping every unit to 0 kW", zap.Duration("bound", timeout))
	const step = 50 * time.Millisecond
	cur := make([]plant.Setpoint, len(s.units))
	for i, u := range s.units {
		cur[i] = u.w.Ordered()
	}
	for {
		done := true
		for i, u := range s.units {
			rate := s.cfg.ShutdownRampKWPerS
			if rate == 0 {
				rate = u.ratedP
			}
			d := rate * step.Seconds()
			cur[i].P = towardZero(cur[i].P, d)
			cur[i].Q = towardZero(cur[i].Q, d)
			u.w.Set(cur[i], 0)
			sp, _ := u.w.Acked()
			if cur[i] != (plant.Setpoint{}) || sp != (plant.Setpoint{}) || !u.w.Confirmed() {
				done = false
			}
		}
		if done {
			s.log.Info("all units confirmed 0 kW")
			return nil
		}
		if time.Now().After(deadline) {
			var open []string
			for _, u := range s.units {
				if sp, _ := u.w.Acked(); sp != (plant.Setpoint{}) || !u.w.Confirmed() {
					open = append(open, u.id)
				}
			}
			s.log.Error("shutdown bound reached: units did not confirm 0 kW; their PCS heartbeat watchdog will stop them",
				zap.Strings("units", open))
			return fmt.Errorf("units %v did not confirm 0 kW within %v", open, timeout)
		}
		time.Sleep(step)
	}
}

func towardZero(v, d float64) float64 {
	if math.Abs(v) <= d {
		return 0
	}
	return v - math.Copysign(d, v)
}

type nopNotifier struct{}

func (nopNotifier) Ready()    {}
func (nopNotifier) Watchdog() {}
func (nopNotifier) Stopping() {}
