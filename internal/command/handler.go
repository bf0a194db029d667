package command

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
)

// Source says where a command came from.
type Source struct {
	Transport string // "mqtt", or TransportLocal
	Client    string // client identity when the transport knows it
	Topic     string // topic or path the command arrived on
}

// TransportLocal marks commands from the local HMI. They are accepted
// whatever the authority switch says; every other transport is remote.
const TransportLocal = "local"

// Bus hands commands to the station's control loop, which applies them
// between cycles. Submit returns when the command has been applied (with
// the time it took effect) or refused (with dispatch's reason). It must
// return promptly once ctx is done; an error means the command was not
// applied.
type Bus interface {
	Submit(ctx context.Context, cmd dispatch.Command, src Source) (appliedAt time.Time, err error)
}

// Reply answers one command.
type Reply struct {
	ID        string     `json:"id"`
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// Result classifies the outcome of a command for audit and metrics.
type Result string

// Results.
const (
	ResultOK         Result = "ok"              // applied
	ResultMalformed  Result = "malformed"       // unknown name, oversize, bad JSON, bad id
	ResultInvalid    Result = "invalid"         // values refused by Validate
	ResultStale      Result = "stale"           // past expires_at
	ResultDenied     Result = "remote_disabled" // authority is local
	ResultRefused    Result = "refused"         // refused by the control loop
	ResultDuplicate  Result = "duplicate"       // id seen before: earlier reply repeated, or id reuse refused
	ResultError      Result = "error"           // timeout or internal failure
	ResultSuperseded Result = "superseded"      // a newer command of the same name arrived before it was applied
)

var results = []Result{ResultOK, ResultMalformed, ResultInvalid, ResultStale,
	ResultDenied, ResultRefused, ResultDuplicate, ResultError, ResultSuperseded}

// Results returns every Result a Handler gives.
func Results() []Result { return slices.Clone(results) }

// Reason given when remote control is disabled.
const reasonLocal = "remote control disabled (local mode)"

// HandlerOptions are the optional parts of a Handler.
type HandlerOptions struct {
	// Authority is the remote/local switch; nil means remote enabled.
	Authority *Authority
	// Audit receives a record of every command; nil audits nowhere.
	Audit AuditSink
	// MaxPayload bounds a payload in bytes; 0 means DefaultMaxPayload.
	MaxPayload int
	// SubmitTimeout bounds the wait for the control loop; 0 means 5 s.
	SubmitTimeout time.Duration
	// Dedup is how many recent ids are remembered; 0 means 1024, < 0 none.
	// A repeated id with the same payload (an MQTT redelivery) gets the
	// earlier reply without being applied again; with another payload it
	// is refused.
	Dedup int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Gate, if set, is asked for each well-formed command before it is
	// submitted or remembered for de-duplication; a non-empty answer
	// refuses it with that reason. The standby of a hot-standby pair
	// answers "standby; the active controller is X".
	Gate func() string
}

// Handler ties parsing, authority, the Bus and the audit together. It is
// safe for concurrent use.
type Handler struct {
	bus     Bus
	auth    *Authority
	audit   AuditSink
	max     int
	timeout time.Duration
	now     func() time.Time
	gate    func() string
	dedup   *recent

	counts      [9]atomic.Uint64 // by index in results
	auditErrors atomic.Uint64
}

// NewHandler returns a Handler that submits commands to bus.
func NewHandler(bus Bus, o HandlerOptions) *Handler {
	h := &Handler{bus: bus, auth: o.Authority, audit: o.Audit, max: o.MaxPayload,
		timeout: o.SubmitTimeout, now: o.Now, gate: o.Gate}
	if h.auth == nil {
		h.auth = NewAuthority(true)
	}
	if h.max <= 0 {
		h.max = DefaultMaxPayload
	}
	if h.timeout <= 0 {
		h.timeout = 5 * time.Second
	}
	if h.now == nil {
		h.now = time.Now
	}
	switch {
	case o.Dedup == 0:
		h.dedup = newRecent(1024)
	case o.Dedup > 0:
		h.dedup = newRecent(o.Dedup)
	}
	return h
}

// Authority returns the handler's authority switch.
func (h *Handler) Authority() *Authority { return h.auth }

// Message is one command as a transport received it.
type Message struct {
	Name    string
	Payload []byte
	Src     Source
	// Refuse, when set, refuses the command with this reason without
	// submitting it (it is still parsed for its id, and audited).
	Refuse string
	// SupersededBy, when set, is the id of a newer command of the same
	// name that replaces this one: it is parsed, audited and answered
	// "superseded", but not submitted.
	SupersededBy string
}

// Handle parses, authorizes, submits and audits one command and returns
// the reply for the operator. It never panics.
func (h *Handler) Handle(ctx context.Context, name string, payload []byte, src Source) Reply {
	return h.handle(ctx, Message{Name: name, Payload: payload, Src: src})
}

// Coalesced reports whether a command of this name only sets state that a
// newer command of the same name replaces, so that of several waiting only
// the newest needs applying. Emergency stops and resets are never coalesced.
func Coalesced(name string) bool {
	switch name {
	case NameEStop, NameReset:
		return false
	}
	return slices.Contains(Names(), name)
}

// HandleBatch handles commands received in this order and returns one
// reply each. Of the valid state-setting commands of one name between two
// emergency stops or resets (see Coalesced), only the newest is submitted;
// the earlier ones are answered "superseded by id X" and audited. Each
// command's own refusal (bad payload, local mode, Refuse) is kept.
func (h *Handler) HandleBatch(ctx context.Context, msgs []Message) []Reply {
	newest := map[string]int{} // name -> index of the newest valid command in this segment
	by := make([]string, len(msgs))
	ids := make([]string, len(msgs))
	now := h.now()
	for i, m := range msgs {
		if !Coalesced(m.Name) {
			if m.Refuse == "" {
				clear(newest)
			}
			continue
		}
		if m.Refuse != "" || m.SupersededBy != "" || !h.allowed(m) {
			continue
		}
		req, err := parse(m.Name, m.Payload, now, h.max)
		if err != nil {
			continue
		}
		ids[i] = req.ID
		if j, ok := newest[m.Name]; ok {
			by[j] = req.ID
		}
		newest[m.Name] = i
	}
	reps := make([]Reply, len(msgs))
	for i, m := range msgs {
		if by[i] != "" && ids[i] != by[i] {
			m.SupersededBy = by[i]
		}
		reps[i] = h.handle(ctx, m)
	}
	return reps
}

// allowed reports whether the authority switch lets m through.
func (h *Handler) allowed(m Message) bool {
	return m.Src.Transport == TransportLocal || h.auth.RemoteEnabled() || m.Name == NameEStop
}

func (h *Handler) handle(ctx context.Context, m Message) (rep Reply) {
	name, payload, src := m.Name, m.Payload, m.Src
	start := h.now()
	res, reason, operator := ResultError, "", ""
	defer func() {
		if r := recover(); r != nil {
			rep = Reply{ID: rep.ID, Error: "internal error"}
			res, reason = ResultError, fmt.Sprintf("panic: %v", r)
		}
		h.finish(start, name, payload, src, operator, rep, res, reason)
	}()

	req, err := parse(name, payload, start, h.max)
	rep.ID, operator = req.ID, req.Operator
	// An emergency stop only takes power away: it is accepted from every
	// source, whatever the remote/local switch says (it is still audited).
	if !h.allowed(m) {
		res, reason = ResultDenied, reasonLocal
		rep.Error = reasonLocal
		return rep
	}
	if err != nil {
		res = classify(err)
		rep.Error, reason = err.Error(), err.Error()
		return rep
	}
	if m.Refuse == "" && h.gate != nil {
		m.Refuse = h.gate()
	}
	if m.Refuse != "" {
		res, reason = ResultRefused, m.Refuse
		rep.Error = m.Refuse
		return rep
	}

	var sum [32]byte
	var pend *entry
	if h.dedup != nil {
		sum = sha256.Sum256(append([]byte(name+"\x00"), payload...))
		var prev *entry
		prev, pend = h.dedup.claim(req.ID, sum)
		if prev != nil {
			rep, res, reason = h.repeat(ctx, prev, req.ID, sum)
			return rep
		}
		// Whatever happens below, complete the claim so waiters wake up.
		defer func() { pend.complete(rep) }()
	}
	if m.SupersededBy != "" {
		res = ResultSuperseded
		rep.Error = fmt.Sprintf("not applied: superseded by id %q, a newer %s command", m.SupersededBy, name)
		reason = rep.Error
		return rep
	}

	sctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	if !req.ExpiresAt.IsZero() {
		var cancelExp context.CancelFunc
		sctx, cancelExp = context.WithDeadline(sctx, req.ExpiresAt)
		defer cancelExp()
	}
	at, err := h.bus.Submit(sctx, req.Cmd, src)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			res = ResultError
			rep.Error = "not applied: " + ctx.Err().Error()
		case errors.Is(err, context.DeadlineExceeded) && !req.ExpiresAt.IsZero() && !h.now().Before(req.ExpiresAt):
			res = ResultStale
			rep.Error = "stale command: expired before the control loop applied it"
		case errors.Is(err, context.DeadlineExceeded):
			res = ResultError
			rep.Error = fmt.Sprintf("not applied: the control loop did not take the command within %s", h.timeout)
		default:
			res = ResultRefused
			rep.Error = err.Error()
		}
		reason = rep.Error
		return rep
	}
	rep.OK = true
	rep.AppliedAt = &at
	res = ResultOK
	return rep
}

// repeat answers a command whose id was seen before.
func (h *Handler) repeat(ctx context.Context, prev *entry, id string, sum [32]byte) (Reply, Result, string) {
	if prev.sum != sum {
		msg := fmt.Sprintf("duplicate id %q: already used for another command", id)
		return Reply{ID: id, Error: msg}, ResultDuplicate, msg
	}
	select {
	case <-prev.done:
	case <-ctx.Done():
		msg := "not applied: " + ctx.Err().Error()
		return Reply{ID: id, Error: msg}, ResultError, msg
	}
	return prev.reply, ResultDuplicate, "redelivery: earlier reply repeated, not applied again"
}

// classify maps a Parse error to a Result.
func classify(err error) Result {
	switch {
	case errors.Is(err, ErrStale):
		return ResultStale
	case errors.Is(err, ErrInvalid):
		return ResultInvalid
	}
	return ResultMalformed
}

// finish counts and audits one handled command.
func (h *Handler) finish(start time.Time, name string, payload []byte, src Source, operator string, rep Reply, res Result, reason string) {
	for i, r := range results {
		if r == res {
			h.counts[i].Add(1)
		}
	}
	if h.audit == nil {
		return
	}
	rec := Record{
		Time: start, Transport: src.Transport, Client: src.Client, Operator: operator, Topic: src.Topic,
		Name: clip(name, 128), ID: rep.ID, Size: len(payload), Result: res, Reason: reason,
		AppliedAt: rep.AppliedAt,
	}
	rec.Payload, rec.Truncated = truncatePayload(payload, MaxAuditPayload)
	if err := safeAudit(h.audit, rec); err != nil {
		h.auditErrors.Add(1)
	}
}

func safeAudit(s AuditSink, rec Record) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("audit sink panicked: %v", r)
		}
	}()
	return s.Audit(rec)
}

// Counts returns how many commands ended with each result.
func (h *Handler) Counts() map[Result]uint64 {
	m := make(map[Result]uint64, len(results))
	for i, r := range results {
		m[r] = h.counts[i].Load()
	}
	return m
}

// AuditErrors returns how many audit records could not be written.
func (h *Handler) AuditErrors() uint64 { return h.auditErrors.Load() }

// entry is a remembered command id.
type entry struct {
	sum   [32]byte
	done  chan struct{}
	reply Reply
}

func (e *entry) complete(r Reply) {
	if !r.OK && r.Error == "" {
		r.Error = "internal error"
	}
	e.reply = r
	close(e.done)
}

// recent remembers the last n command ids that reached the Bus.
type recent struct {
	mu   sync.Mutex
	m    map[string]*entry
	ring []string
	next int
}

func newRecent(n int) *recent {
	return &recent{m: make(map[string]*entry, n), ring: make([]string, n)}
}

// claim returns the earlier entry for id, or registers and returns a new
// pending one.
func (r *recent) claim(id string, sum [32]byte) (prev, pending *entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[id]; ok {
		return e, nil
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.m, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	e := &entry{sum: sum, done: make(chan struct{})}
	r.m[id] = e
	return nil, e
}
