package northbound

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
)

// Fallback is what the plant does when dispatch goes silent.
type Fallback int

// Fallbacks.
const (
	Hold     Fallback = iota // keep following the last target
	Zero                     // AGC target 0 kW
	Schedule                 // switch to schedule mode (refused, and logged, without a schedule)
)

// LinkConfig configures the dispatch link watch.
type LinkConfig struct {
	// Fallback is what happens when every dispatch connection is lost,
	// or no setpoint arrived within SetpointTimeout, while a dispatch
	// setpoint is in force.
	Fallback Fallback
	// SetpointTimeout is the longest time between setpoints; 0 is no limit.
	SetpointTimeout time.Duration
}

// Link watches the dispatch connections of every northbound server and
// the setpoint refresh. Once a setpoint from dispatch was accepted, losing
// the last connection or the refresh applies the fallback, once, and
// logs it as an event; the next accepted setpoint arms it again. A nil
// *Link watches nothing. It is safe for concurrent use.
type Link struct {
	cfg LinkConfig
	cmd Commander
	log *zap.Logger
	now func() time.Time

	mu      sync.Mutex
	conns   int
	armed   bool // a dispatch setpoint is in force
	lastSet time.Time

	fallbacks atomic.Uint64
	seq       atomic.Uint64
}

// NewLink returns a Link that applies the fallback through cmd.
func NewLink(cfg LinkConfig, cmd Commander, log *zap.Logger) *Link {
	if log == nil {
		log = zap.NewNop()
	}
	return &Link{cfg: cfg, cmd: cmd, log: log, now: time.Now}
}

// Connected counts a new dispatch connection.
func (l *Link) Connected() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.conns++
	l.mu.Unlock()
}

// Disconnected counts a lost dispatch connection; the last one lost
// applies the fallback.
func (l *Link) Disconnected() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.conns--
	fire := l.conns <= 0 && l.armed
	if fire {
		l.armed = false
	}
	l.mu.Unlock()
	if fire {
		l.fallback("every dispatch connection lost")
	}
}

// Connections returns the number of dispatch connections.
func (l *Link) Connections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns
}

// Fallbacks returns how many times the fallback was applied.
func (l *Link) Fallbacks() uint64 { return l.fallbacks.Load() }

// refreshed records an accepted dispatch setpoint.
func (l *Link) refreshed() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.armed, l.lastSet = true, l.now()
	l.mu.Unlock()
}

// Run checks the setpoint refresh until ctx ends.
func (l *Link) Run(ctx context.Context) {
	if l.cfg.SetpointTimeout <= 0 {
		return
	}
	t := time.NewTicker(min(l.cfg.SetpointTimeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.check()
		}
	}
}

// check applies the fallback when the refresh is overdue.
func (l *Link) check() {
	l.mu.Lock()
	fire := l.armed && l.now().Sub(l.lastSet) > l.cfg.SetpointTimeout
	if fire {
		l.armed = false
	}
	l.mu.Unlock()
	if fire {
		l.fallback("no setpoint from dispatch within " + l.cfg.SetpointTimeout.String())
	}
}

// fallback applies the configured fallback and logs the event.
func (l *Link) fallback(why string) {
	l.fallbacks.Add(1)
	var name, fields, what string
	switch l.cfg.Fallback {
	case Zero:
		name, fields, what = command.NameAGCTarget, `"p":0`, "AGC target 0 kW"
	case Schedule:
		name, fields, what = command.NameMode, `"mode":"schedule"`, "schedule mode"
	default:
		l.log.Warn("dispatch fallback: holding the last target", zap.String("reason", why))
		return
	}
	id := "northbound-fallback-" + time.Now().UTC().Format("20060102T150405.000000000") + "-" + strconv.FormatUint(l.seq.Add(1), 10)
	rep := l.cmd.Handle(context.Background(), name, []byte(`{"id":"`+id+`",`+fields+`}`),
		command.Source{Transport: "northbound", Client: "fallback", Topic: why})
	if !rep.OK {
		l.log.Warn("dispatch fallback: "+what+" not applied", zap.String("reason", why), zap.String("error", rep.Error))
		return
	}
	l.log.Warn("dispatch fallback: "+what, zap.String("reason", why))
}
