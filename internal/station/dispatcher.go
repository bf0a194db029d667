package station

import (
	"context"
	"math"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/reactive"
)

// Dispatcher runs the dispatch controller as the station's controller and
// takes operator commands for it. Commands and control steps are
// serialised by one lock, so a command lands between two cycles; a
// command gives up waiting for it when its ctx ends.
type Dispatcher struct {
	log *zap.Logger

	mu       ctxMutex
	ctl      *dispatch.Controller
	in       dispatch.Input
	report   dispatch.Report
	events   []dispatch.Event // recent events, newest last, bounded
	lastPFR  float64
	pending  bool // a command was applied since the last cycle
	onEvents func([]dispatch.Event)
	hold     time.Duration
}

// SetPCSWatchdog tells the dispatcher how long a PCS keeps running on its
// last setpoint after its heartbeats stop (the watchdog configured in the
// converters). A PCS that stops answering is counted as still delivering
// its last acknowledged setpoint until that time has passed since its last
// acknowledged heartbeat, so its share is not ordered from other units twice.
// 0 hands its share over at once.
func (d *Dispatcher) SetPCSWatchdog(w time.Duration) {
	d.mu.Lock()
	d.hold = w
	d.mu.Unlock()
}

// maxEvents bounds the events kept for Events.
const maxEvents = 256

// NewDispatcher wraps a controller. onEvents, if not nil, receives each
// cycle's protection events (from the control loop; it must not block).
func NewDispatcher(ctl *dispatch.Controller, log *zap.Logger, onEvents func([]dispatch.Event)) *Dispatcher {
	return &Dispatcher{mu: newCtxMutex(), ctl: ctl, log: log, onEvents: onEvents}
}

// Submit applies an operator command between control cycles. The
// controller refuses invalid commands with a reason; nothing is clamped.
// Submit returns ctx's error, without applying the command, as soon as
// ctx ends while it waits for the cycle in progress (its expires_at
// passed, or the caller gave up).
func (d *Dispatcher) Submit(ctx context.Context, cmd dispatch.Command) (time.Time, error) {
	if err := d.mu.LockCtx(ctx); err != nil {
		return time.Time{}, err
	}
	defer d.mu.Unlock()
	now := time.Now()
	if err := d.ctl.Apply(cmd, now); err != nil {
		return time.Time{}, err
	}
	d.pending = true
	return now, nil
}

// Rebase makes the next cycle start from the plant as measured (see
// dispatch.Controller.Rebase): for a standby that becomes the leader.
func (d *Dispatcher) Rebase() {
	d.mu.Lock()
	d.ctl.Rebase()
	d.mu.Unlock()
}

// Report returns the last cycle's report (its Events are not included).
func (d *Dispatcher) Report() dispatch.Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.report
	r.Events = nil
	return r
}

// Mode is the active base mode.
func (d *Dispatcher) Mode() dispatch.Mode {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctl.Mode()
}

// AGCTarget returns the AGC target at the POI, kW, and whether one was set.
func (d *Dispatcher) AGCTarget() (float64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctl.AGCTarget()
}

// PFR returns the primary frequency response parameters and whether it is on.
func (d *Dispatcher) PFR() (dispatch.PFRParams, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctl.PFR()
}

// Reactive returns the reactive-power parameters in force.
func (d *Dispatcher) Reactive() reactive.Params {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ctl.Reactive()
}

// States returns each unit's protection state.
func (d *Dispatcher) States() []dispatch.State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dispatch.State(nil), d.ctl.States()...)
}

// Events returns the most recent protection events, oldest first.
func (d *Dispatcher) Events() []dispatch.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]dispatch.Event(nil), d.events...)
}

// FastTrigger reports whether a control cycle should run at once, without
// waiting for the next tick: a command was applied since the last cycle,
// or a new frequency reading changes the primary frequency response enough.
func (d *Dispatcher) FastTrigger(f procimg.Value) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending {
		return true
	}
	if !f.Good() {
		return false
	}
	p, on := d.ctl.DroopParams()
	if !on {
		return false
	}
	dp := dispatch.Droop(f.V, p)
	threshold := math.Max(1, 0.001*d.ctl.Config().RatedP)
	return math.Abs(dp-d.lastPFR) >= threshold
}

// Step maps the view to the controller's input, runs one cycle and hands
// out the unit setpoints.
func (d *Dispatcher) Step(v *plant.View, out []plant.Setpoint) {
	d.mu.Lock()
	defer d.mu.Unlock()
	toInput(v, &d.in, d.hold)
	d.report = d.ctl.Step(&d.in, out)
	d.lastPFR, d.pending = d.report.PFR, false
	if len(d.report.Events) == 0 {
		return
	}
	for _, e := range d.report.Events {
		fields := []zap.Field{zap.String("unit", e.Unit), zap.Stringer("from", e.From), zap.Stringer("to", e.To), zap.String("cause", string(e.Cause))}
		if e.To == dispatch.StateTrip {
			d.log.Error("protection trip: unit to 0 kW", fields...)
		} else {
			d.log.Warn("protection state change", fields...)
		}
	}
	d.events = append(d.events, d.report.Events...)
	if n := len(d.events); n > maxEvents {
		d.events = append(d.events[:0], d.events[n-maxEvents:]...)
	}
	if d.onEvents != nil {
		d.onEvents(d.report.Events)
	}
}

// toInput condenses the view into the controller's input. A unit with
// several batteries is seen as one, by plant.Condense.
//
// A unit whose PCS data is not good, but whose last acknowledged heartbeat
// is younger than hold (the PCS's own watchdog), is held at its last
// acknowledged power.
func toInput(v *plant.View, in *dispatch.Input, hold time.Duration) {
	now := v.At
	in.Now = now
	in.F, in.FOK = v.POI.F.V, v.POI.F.Good()
	in.POIP, in.POIQ = v.POI.P.V, v.POI.Q.V
	in.POIOK = v.POI.P.Good()
	in.V, in.VOK = v.POI.V.V, v.POI.V.Good()
	if len(in.Units) != len(v.Units) {
		in.Units = make([]dispatch.Unit, len(v.Units))
	}
	for i := range v.Units {
		uv, u := &v.Units[i], &in.Units[i]
		*u = dispatch.Unit{ID: uv.ID, RatedP: uv.RatedP, RatedS: uv.RatedS, P: uv.P.V, Q: uv.Q.V}
		// A PCS that answers but is not running (or starting), or whose
		// power reading is invalid or refused, is not OK, and not held:
		// only one that stopped answering may be.
		dataOK := uv.P.Good() && plant.OptionalGood(uv.Fault) && plant.OptionalGood(uv.State)
		u.PCSOK = dataOK && plant.Delivering(uv.State)
		u.PCSFault = uv.Fault.Good() && uv.Fault.V != 0
		answered := uv.P.Q == procimg.Invalid || uv.P.Q == procimg.Refused
		if !dataOK && !answered && hold > 0 && !uv.AliveAt.IsZero() && now.Sub(uv.AliveAt) < hold {
			u.Held, u.HeldP = true, uv.Acked.P
		}
		p := plant.Condense(uv.BMS, now)
		u.BMSOK, u.BMSAge, u.Contactor = p.OK, p.SOCAge, p.Contactor
		u.SOC, u.ChargeMax, u.DischargeMax, u.AlarmLevel = p.SOC, p.ChargeMax, p.DischargeMax, p.AlarmLevel
		u.CellVMax, u.CellVMin, u.CellTMax, u.CellTMin = p.CellVMax, p.CellVMin, p.CellTMax, p.CellTMin
	}
}
