package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
)

// DefaultAddr is the listen address when none is given: loopback only.
const DefaultAddr = "127.0.0.1:9110"

// Plant is what the server reads from the station; *station.Station is one.
type Plant interface {
	Latest() plant.View
	Ready() bool
	Devices() []*devices.Device
	Acked() ([]plant.Setpoint, []time.Time)
}

// Dispatch is what the server reads from the dispatcher;
// *station.Dispatcher is one.
type Dispatch interface {
	Report() dispatch.Report
	Mode() dispatch.Mode
	States() []dispatch.State
	Events() []dispatch.Event
}

// Options configure a Server.
type Options struct {
	// Plant is the running station. Required.
	Plant Plant
	// Dispatch is the dispatcher; nil leaves dispatch out of /api/state.
	Dispatch Dispatch
	// Gatherer is served on /metrics; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// Period is the control period; 0 means 1 s.
	Period time.Duration
	// LiveWithin is how recent the last control cycle must be for
	// /healthz; 0 means the larger of 3 periods and 1 s.
	LiveWithin time.Duration
	// LastCycle returns when the last control cycle ended (zero before the
	// first), e.g. metrics.Metrics.LastCycle; nil uses the time of the
	// station's latest view, at the cost of copying it.
	LastCycle func() time.Time
	// Log receives serve errors; nil logs nowhere.
	Log *zap.Logger
	// Role, if set, is this controller's part in a hot-standby pair
	// (package ha). A standby is not ready: /readyz answers 503 with
	// status "standby" while it is otherwise healthy, and /api/state
	// carries the role.
	Role func() Role
	// Handover, if set, serves POST /api/handover?operator=NAME: the
	// leader hands the active role to the standby. It returns why not.
	Handover func(operator, client string) error
}

// Role is a controller's part in a hot-standby pair.
type Role struct {
	Role   string `json:"role"`             // "leader" or "standby"
	Active string `json:"active,omitempty"` // the active controller's name, if known
	Name   string `json:"name"`             // this controller's name
}

// Server serves the HTTP API. Create it with New, then Start.
type Server struct {
	addr   string
	o      Options
	mux    *http.ServeMux
	srv    *http.Server
	log    *zap.Logger
	within time.Duration

	mu      sync.Mutex
	ln      net.Listener
	started time.Time
	done    chan struct{} // closed when Serve has returned
}

// New builds a server for addr ("" means DefaultAddr).
func New(addr string, o Options) (*Server, error) {
	if o.Plant == nil {
		return nil, errors.New("httpapi: Options.Plant is required")
	}
	if addr == "" {
		addr = DefaultAddr
	}
	if o.Period <= 0 {
		o.Period = time.Second
	}
	s := &Server{addr: addr, o: o, mux: http.NewServeMux(), log: o.Log, within: o.LiveWithin}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.within <= 0 {
		s.within = max(3*o.Period, time.Second)
	}
	if o.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
			ErrorLog:            zap.NewStdLog(s.log),
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             20 * time.Second,
		}))
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /api/state", s.state)
	if o.Handover != nil {
		s.mux.HandleFunc("POST /api/handover", s.handover)
	}
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	return s, nil
}

// Handler is the server's handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.mux }

// Start listens on the address and serves in the background until ctx
// ends or Close is called. A listen failure is returned, naming the
// address (and saying so when another process holds it).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("httpapi: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("httpapi: listen on %s: address already in use (another emsd, or another service on this port?): %w", s.addr, err)
		}
		return fmt.Errorf("httpapi: listen on %s: %w", s.addr, err)
	}
	s.ln, s.started, s.done = ln, time.Now(), make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http api stopped serving", zap.String("addr", ln.Addr().String()), zap.Error(err))
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return nil
}

// Addr is the address listened on (with the actual port when the
// configured one was 0), or the configured address before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.addr
}

// Close stops the server: it lets requests in flight finish for up to
// 2 s, then closes their connections. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-done
	return err
}

// lastCycle is when the control loop last cycled, or zero.
func (s *Server) lastCycle() time.Time {
	if s.o.LastCycle != nil {
		return s.o.LastCycle()
	}
	return s.o.Plant.Latest().At
}

// live reports whether the control loop is running and, if not, why.
func (s *Server) live(now time.Time) (bool, string, time.Time) {
	last := s.lastCycle()
	if last.IsZero() {
		s.mu.Lock()
		since := now.Sub(s.started)
		s.mu.Unlock()
		if since <= s.within {
			return true, "", last
		}
		return false, fmt.Sprintf("the control loop has not cycled in %v since the server started", since.Round(time.Millisecond)), last
	}
	if age := now.Sub(last); age > s.within {
		return false, fmt.Sprintf("the control loop last cycled %v ago (limit %v)", age.Round(time.Millisecond), s.within), last
	}
	return true, "", last
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"` // "ok", "unhealthy", "ready", "not_ready" or "standby"
	Reason string `json:"reason,omitempty"`
	// LastCycle is when the control loop last cycled; LastCycleAgeS is its age in seconds.
	LastCycle     *time.Time `json:"last_cycle,omitempty"`
	LastCycleAgeS *float64   `json:"last_cycle_age_s,omitempty"`
	// NotOnline names the devices not online (at most 50), for /readyz.
	NotOnline []string `json:"devices_not_online,omitempty"`
}

func health(status, reason string, last, now time.Time) Health {
	h := Health{Status: status, Reason: reason}
	if !last.IsZero() {
		age := now.Sub(last).Seconds()
		h.LastCycle, h.LastCycleAgeS = &last, &age
	}
	return h
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	ok, reason, last := s.live(now)
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, health("unhealthy", reason, last, now))
		return
	}
	writeJSON(w, http.StatusOK, health("ok", "", last, now))
}

// maxNotOnline bounds the device names listed by /readyz.
const maxNotOnline = 50

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	ok, reason, last := s.live(now)
	if !s.o.Plant.Ready() {
		h := health("not_ready", "waiting for the first full poll of every device", last, now)
		for _, d := range s.o.Plant.Devices() {
			if d.Health().State != devices.Online {
				if len(h.NotOnline) == maxNotOnline {
					h.NotOnline = append(h.NotOnline, "…")
					break
				}
				h.NotOnline = append(h.NotOnline, d.Name())
			}
		}
		writeJSON(w, http.StatusServiceUnavailable, h)
		return
	}
	if !ok || last.IsZero() {
		if reason == "" {
			reason = "the control loop has not cycled yet"
		}
		writeJSON(w, http.StatusServiceUnavailable, health("not_ready", reason, last, now))
		return
	}
	if s.o.Role != nil {
		if r := s.o.Role(); r.Role != "leader" {
			active := r.Active
			if active == "" || active == r.Name {
				active = "unknown (election in progress)"
			}
			writeJSON(w, http.StatusServiceUnavailable, health("standby", "standby, healthy; the active controller is "+active, last, now))
			return
		}
	}
	writeJSON(w, http.StatusOK, health("ready", "", last, now))
}

func (s *Server) state(w http.ResponseWriter, _ *http.Request) {
	st := Snapshot(s.o.Plant, s.o.Dispatch, time.Now())
	if s.o.Role != nil {
		r := s.o.Role()
		st.HA = &r
	}
	writeJSON(w, http.StatusOK, st)
}

// handover hands the active role over, on the operator's request.
func (s *Server) handover(w http.ResponseWriter, r *http.Request) {
	op := r.URL.Query().Get("operator")
	if op == "" || len(op) > 64 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "query parameter operator is missing or longer than 64 bytes: a hand-over is audited under the operator's name"})
		return
	}
	if err := s.o.Handover(op, r.RemoteAddr); err != nil {
		writeJSON(w, http.StatusConflict, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
