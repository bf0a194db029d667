package iec104

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wendy512/go-iecp5/asdu"
	"github.com/wendy512/go-iecp5/cs104"
	"github.com/wendy512/iec104/server"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
)

// Config configures the server.
type Config struct {
	// Addr is the listen address, host:port.
	Addr string
	// CommonAddr is the station's common address of ASDU (1..65534).
	CommonAddr uint16
	// Allow lists the client IP addresses admitted; any other is refused.
	Allow []string
	// MaxConns bounds the simultaneous dispatch connections; 0 means 4.
	MaxConns int
	// T0..T3, K and W are the protocol timers and windows; zero values
	// take the standard defaults (30 s, 15 s, 10 s, 20 s, 12, 8). K is at
	// least 2; T3 must exceed T1 for an idle peer to be closed (the
	// library repeats its test frame every T3 and closes only when one
	// goes unanswered for T1).
	T0, T1, T2, T3 time.Duration
	K, W           uint16
	// Scan is how often values are compared for spontaneous
	// transmission; 0 means 200 ms.
	Scan time.Duration
	// Cycle is the period of the cyclic transmission of every measurand;
	// 0 turns it off.
	Cycle time.Duration
	// SelectTimeout bounds the time from a select to its execute; 0 means 10 s.
	SelectTimeout time.Duration
	// Points is the points table.
	Points []points.Point
}

// Server is the IEC 104 slave.
type Server struct {
	cfg    Config
	src    northbound.Source
	disp   *northbound.Dispatch
	link   *northbound.Link
	log    *zap.Logger
	lib    *server.Server
	points map[asdu.InfoObjAddr]points.Point
	allow  map[string]bool

	mu       sync.Mutex
	sessions map[asdu.Connect]*session
	sent     map[asdu.InfoObjAddr]sample // last value sent spontaneously
	offset   time.Duration               // clock sync: master time - local time

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
}

// session is one admitted dispatch connection.
type session struct {
	origin   northbound.Origin
	selected map[asdu.InfoObjAddr]selection
}

// selection is a command selected and waiting for its execute.
type selection struct {
	on    bool
	until time.Time
}

// sample is a point's value on the wire.
type sample struct {
	v float64
	q northbound.Quality
}

// New builds a server; Start runs it. disp and link may be nil only in
// tests that write nothing.
func New(cfg Config, src northbound.Source, disp *northbound.Dispatch, link *northbound.Link, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if errs := points.Check(cfg.Points); len(errs) > 0 {
		return nil, fmt.Errorf("points: %w", errors.Join(errs...))
	}
	if cfg.CommonAddr == 0 || cfg.CommonAddr == uint16(asdu.GlobalCommonAddr) {
		return nil, fmt.Errorf("common address %d is not in 1..65534", cfg.CommonAddr)
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("addr: %w", err)
	}
	pn, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("addr: port %q: %w", port, err)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	if cfg.Scan <= 0 {
		cfg.Scan = 200 * time.Millisecond
	}
	if cfg.SelectTimeout <= 0 {
		cfg.SelectTimeout = 10 * time.Second
	}
	if cfg.K == 1 {
		return nil, errors.New("k must be at least 2")
	}
	// The library sends one I-frame more than its window (it checks
	// unacknowledged <= k): give it k-1 for a window of k.
	libK := cfg.K
	if libK > 1 {
		libK--
	}
	c104 := cs104.Config{ConnectTimeout0: cfg.T0, SendUnAckTimeout1: cfg.T1, RecvUnAckTimeout2: cfg.T2,
		IdleTimeout3: cfg.T3, SendUnAckLimitK: libK, RecvUnAckLimitW: cfg.W}
	if err := c104.Valid(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, src: src, disp: disp, link: link, log: log,
		points: map[asdu.InfoObjAddr]points.Point{}, allow: map[string]bool{},
		sessions: map[asdu.Connect]*session{}, sent: map[asdu.InfoObjAddr]sample{}, cancel: func() {}}
	for _, p := range cfg.Points {
		s.points[asdu.InfoObjAddr(p.IOA)] = p
	}
	for _, a := range cfg.Allow {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, fmt.Errorf("allow: %q is not an IP address", a)
		}
		s.allow[ip.String()] = true
	}
	settings := server.NewSettings()
	settings.Host, settings.Port, settings.Cfg104 = host, pn, &c104
	settings.LogCfg = &server.LogCfg{Enable: true, LogProvider: libLog{log.Named("cs104"), &s.closed}}
	s.lib = server.New(settings, s)
	s.lib.SetOnConnectionHandler(s.connected)
	s.lib.SetConnectionLostHandler(s.lost)
	return s, nil
}

// Start binds the listen address and runs the server until Close.
func (s *Server) Start(ctx context.Context) error {
	// The library listens in its own goroutine and only logs a failure:
	// try the address first, so that a taken port stops the start.
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	_ = l.Close()
	s.spontaneous() // the reference every later change is measured from
	s.lib.Start()
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.run(ctx) }()
	return nil
}

// Close stops the server and closes every connection.
func (s *Server) Close() error {
	s.closed.Store(true)
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	for c := range s.sessions {
		_ = c.UnderlyingConn().Close()
	}
	s.mu.Unlock()
	s.lib.Stop()
	return nil
}

// Addr returns the configured listen address.
func (s *Server) Addr() string { return s.cfg.Addr }

// Connections returns the number of admitted connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// connected admits a connection from an allowed address, within the limit.
func (s *Server) connected(c asdu.Connect) {
	addr := c.UnderlyingConn().RemoteAddr().String()
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	s.mu.Lock()
	var why string
	switch {
	case ip == nil || !s.allow[ip.String()]:
		why = "address not in northbound.iec104.allow"
	case len(s.sessions) >= s.cfg.MaxConns:
		why = fmt.Sprintf("already %d connections (northbound.iec104.max_connections)", len(s.sessions))
	default:
		s.sessions[c] = &session{origin: northbound.Origin{Transport: "iec104", Client: addr},
			selected: map[asdu.InfoObjAddr]selection{}}
	}
	s.mu.Unlock()
	if why != "" {
		s.log.Warn("IEC 104 connection refused", zap.String("client", addr), zap.String("reason", why))
		_ = c.UnderlyingConn().Close()
		return
	}
	s.log.Info("IEC 104 dispatch connected", zap.String("client", addr))
	s.link.Connected()
}

// lost forgets a connection.
func (s *Server) lost(c asdu.Connect) {
	s.mu.Lock()
	_, ok := s.sessions[c]
	delete(s.sessions, c)
	s.mu.Unlock()
	if ok {
		s.log.Info("IEC 104 dispatch disconnected", zap.String("client", c.UnderlyingConn().RemoteAddr().String()))
		if !s.closed.Load() { // the daemon's own shutdown is no loss of dispatch
			s.link.Disconnected()
		}
	}
}

// session returns the admitted session of c, or nil.
func (s *Server) session(c asdu.Connect) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[c]
}

// conns returns the admitted connections.
func (s *Server) conns() []asdu.Connect {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]asdu.Connect, 0, len(s.sessions))
	for c := range s.sessions {
		out = append(out, c)
	}
	return out
}

// now is the station time: local time corrected by the last clock sync.
func (s *Server) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.offset)
}

// sortedPoints returns the points of kind k by address.
func (s *Server) sortedPoints(k points.Kind) []points.Point {
	var out []points.Point
	for _, p := range s.cfg.Points {
		if p.Type == k {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b points.Point) int { return a.IOA - b.IOA })
	return out
}

// libLog sends the library's log to zap. Its errors are mostly a peer
// going away, logged at debug level; an ASDU that does not decode (an
// unknown type, a wrong length) is bad input from dispatch and a warning.
// Once the server is closed it drops what the library's listener, which
// Close cannot join, still logs.
type libLog struct {
	l      *zap.Logger
	closed *atomic.Bool
}

func (g libLog) Critical(format string, v ...any) {
	if !g.closed.Load() {
		g.l.Error(fmt.Sprintf(format, v...))
	}
}

func (g libLog) Error(format string, v ...any) {
	if g.closed.Load() {
		return
	}
	if strings.Contains(format, "UnmarshalBinary") {
		g.l.Warn("IEC 104 ASDU refused: it does not decode", zap.String("error", fmt.Sprintf(format, v...)))
		return
	}
	g.l.Debug(fmt.Sprintf(format, v...))
}
func (g libLog) Warn(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g libLog) Debug(format string, v ...any) {}
