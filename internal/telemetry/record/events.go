package record

import (
	"time"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/telemetry/influx"
)

// Event is one point of the event measurement.
type Event struct {
	Time    time.Time // zero means now
	Unit    string    // unit ID, dispatch.PlantID, or a device name (comm)
	Kind    string    // KindProtection, KindMode, KindCommand, KindComm, KindPCS
	From    string    // from_state
	To      string    // to_state
	Cause   string
	Message string
	Source  string
}

// Event writes e at once and reports whether the sink took it. Events of
// the same instant get distinct timestamps (1 ns apart), so InfluxDB,
// which keeps one point per series and time, keeps them all.
func (r *Recorder) Event(e Event) bool {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	r.evMu.Lock()
	if !t.After(r.lastEv) {
		t = r.lastEv.Add(time.Nanosecond)
	}
	r.lastEv = t
	r.evMu.Unlock()
	fields := map[string]any{"from_state": e.From, "to_state": e.To}
	for k, v := range map[string]string{"cause": e.Cause, "message": e.Message, "source": e.Source} {
		if v != "" {
			fields[k] = v
		}
	}
	return r.write(influx.Point{Measurement: MEvent, Tags: r.tags("unit", e.Unit, "kind", e.Kind), Fields: fields, Time: t}) == 1
}

// Protection writes a cycle's protection transitions; its signature fits
// station.NewDispatcher's onEvents callback.
func (r *Recorder) Protection(evs []dispatch.Event) {
	for _, e := range evs {
		r.Event(Event{Time: e.Time, Unit: e.Unit, Kind: KindProtection,
			From: e.From.String(), To: e.To.String(), Cause: string(e.Cause)})
	}
}

// Audit writes an operator command, accepted or refused, as a command
// event; it makes the Recorder a command.AuditSink. It never fails.
func (r *Recorder) Audit(rec command.Record) error {
	t := rec.Time
	if rec.AppliedAt != nil {
		t = *rec.AppliedAt
	}
	msg := rec.Reason
	if msg == "" {
		msg = rec.Payload
	}
	if rec.ID != "" {
		msg = "[" + rec.ID + "] " + msg
	}
	src := rec.Transport
	if rec.Client != "" {
		src += ":" + rec.Client
	}
	r.Event(Event{Time: t, Unit: dispatch.PlantID, Kind: KindCommand, To: string(rec.Result),
		Cause: rec.Name, Message: msg, Source: src})
	return nil
}
