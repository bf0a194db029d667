package northbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/reactive"
)

// Commander takes commands by name and JSON payload, as MQTT hands them
// over; *command.Handler is one.
type Commander interface {
	Handle(ctx context.Context, name string, payload []byte, src command.Source) command.Reply
}

// Dispatch turns the protocol servers' writes into commands: every write
// becomes a command with its own id and goes through the Commander, so
// that it is validated, authorized, audited and counted like an MQTT one.
// It is safe for concurrent use.
type Dispatch struct {
	cmd   Commander
	link  *Link
	pfr   func() dispatch.PFRParams // the parameters pfr_enable turns on with
	react func() reactive.Params    // the reactive parameters the AVC setpoints start from
	epoch string                    // distinguishes this run's command ids from earlier runs'
	seq   atomic.Uint64
}

// NewDispatch returns a Dispatch that submits to cmd and reports accepted
// setpoints to link (which may be nil).
func NewDispatch(cmd Commander, link *Link) *Dispatch {
	return &Dispatch{cmd: cmd, link: link, epoch: strconv.FormatInt(time.Now().UnixNano(), 36)}
}

// WithPFR gives the primary frequency response parameters that the
// pfr_enable command switches on with (the ones in force); without them
// pfr_enable on is refused. It returns d.
func (d *Dispatch) WithPFR(params func() dispatch.PFRParams) *Dispatch {
	d.pfr = params
	return d
}

// WithReactive gives the reactive-power parameters in force, which the
// AVC setpoints keep (limits, priority, gains) while setting the mode and
// its target; without them the AVC setpoints are refused. It returns d.
func (d *Dispatch) WithReactive(params func() reactive.Params) *Dispatch {
	d.react = params
	return d
}

// Origin says which dispatch connection a write came from.
type Origin struct {
	Transport string // "iec104" or "modbus"
	Client    string // remote address
}

// ErrNotWritable refuses a write to a point that is not a setpoint or command.
var ErrNotWritable = errors.New("point is not a setpoint or a command")

// Set applies the wire value wire written to setpoint p. It returns nil
// once the control loop accepted it, or the reason it was refused.
func (d *Dispatch) Set(ctx context.Context, p points.Point, wire float64, o Origin) error {
	if p.Type != points.Setpoint {
		return fmt.Errorf("ioa %d (%s): %w", p.IOA, p.Quantity, ErrNotWritable)
	}
	// A value that is not a finite number is written as it is (NaN,
	// +Inf): the command parser refuses it as malformed, and the audit
	// shows what dispatch sent.
	v := strconv.FormatFloat(wire/p.Scale, 'g', -1, 64)
	switch p.Quantity {
	case points.QAGCTarget:
		err := d.submit(ctx, command.NameAGCTarget, `"p":`+v, p, o)
		if err == nil || strings.Contains(err.Error(), dispatch.ErrWithinDeadBand.Error()) {
			// A refresh within the command dead band leaves the target
			// where it is: accepted, and a refresh all the same.
			d.link.refreshed()
			return nil
		}
		return err
	case points.QAVCQTarget, points.QAVCVTarget:
		if d.react == nil {
			return fmt.Errorf("ioa %d: no reactive parameters to set %s with", p.IOA, p.Quantity)
		}
		// The target sets the mode and its value; limits, gains and
		// priority stay. The value goes in as written (so that a NaN is
		// refused as malformed and audited): Q and VRef are zeroed, which
		// omits them from the marshalled parameters.
		r := d.react()
		r.Q, r.VRef, r.Mode = 0, 0, reactive.ModeVoltage
		key := "v_ref"
		if p.Quantity == points.QAVCQTarget {
			r.Mode, key = reactive.ModeFixedQ, "q"
		}
		b, err := json.Marshal(dispatch.SetReactive{Params: r})
		if err != nil {
			return err
		}
		return d.submit(ctx, command.NameReactive, string(b[1:len(b)-1])+`,"`+key+`":`+v, p, o)
	}
	return fmt.Errorf("ioa %d: setpoint quantity %q has no command", p.IOA, p.Quantity)
}

// Switch executes command p with state on: agc_enable on switches to
// AGC mode; plant_run on clears latched trips and the emergency stop
// (power flows again only on a new target); either off goes to standby.
// pfr_enable switches primary frequency response on, with the parameters
// in force, or off.
func (d *Dispatch) Switch(ctx context.Context, p points.Point, on bool, o Origin) error {
	if p.Type != points.Command {
		return fmt.Errorf("ioa %d (%s): %w", p.IOA, p.Quantity, ErrNotWritable)
	}
	switch {
	case !on && (p.Quantity == points.QAGCEnable || p.Quantity == points.QPlantRun):
		return d.submit(ctx, command.NameMode, `"mode":"`+string(dispatch.ModeStandby)+`"`, p, o)
	case p.Quantity == points.QAGCEnable:
		return d.submit(ctx, command.NameMode, `"mode":"`+string(dispatch.ModeAGC)+`"`, p, o)
	case p.Quantity == points.QPlantRun:
		return d.submit(ctx, command.NameReset, "", p, o)
	case p.Quantity == points.QPFREnable && !on:
		return d.submit(ctx, command.NameFrequencyResp, `"enable":false`, p, o)
	case p.Quantity == points.QPFREnable:
		if d.pfr == nil {
			return fmt.Errorf("ioa %d: no frequency response parameters to switch on with", p.IOA)
		}
		b, err := json.Marshal(dispatch.SetPFR{Enable: true, PFRParams: d.pfr()})
		if err != nil {
			return err
		}
		return d.submit(ctx, command.NameFrequencyResp, string(b[1:len(b)-1]), p, o)
	}
	return fmt.Errorf("ioa %d: command quantity %q has no command", p.IOA, p.Quantity)
}

// submit hands one command, its fields given as JSON, to the Commander.
func (d *Dispatch) submit(ctx context.Context, name, fields string, p points.Point, o Origin) error {
	id := fmt.Sprintf(`"id":"%s-%s-%d"`, o.Transport, d.epoch, d.seq.Add(1))
	if fields != "" {
		id += ","
	}
	payload := []byte("{" + id + fields + "}")
	rep := d.cmd.Handle(ctx, name, payload, command.Source{Transport: o.Transport, Client: o.Client,
		Topic: fmt.Sprintf("ioa %d %s", p.IOA, p.Quantity)})
	if !rep.OK {
		return errors.New(rep.Error)
	}
	return nil
}
