package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
)

// Config configures the slave.
type Config struct {
	Addr     string   // listen address, host:port
	UnitID   uint8    // the slave's unit id; requests to another are refused
	Allow    []string // client IP addresses admitted
	MaxConns int      // simultaneous clients; 0 means 4
	Idle     time.Duration
	Points   []points.Point
}

// Server is the Modbus TCP slave.
type Server struct {
	cfg   Config
	src   northbound.Source
	disp  *northbound.Dispatch
	log   *zap.Logger
	srv   *mb.ModbusServer
	allow map[string]bool
	ir    []points.Point // by register pair
	hr    []points.Point
	di    []points.Point
	co    []points.Point

	mu      sync.Mutex
	written map[int]float64 // setpoint IOA -> last accepted wire value
	coils   map[int]bool    // command IOA -> last executed state
}

// New builds a slave; Start runs it.
func New(cfg Config, src northbound.Source, disp *northbound.Dispatch, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if errs := points.Check(cfg.Points); len(errs) > 0 {
		return nil, fmt.Errorf("points: %w", errors.Join(errs...))
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	s := &Server{cfg: cfg, src: src, disp: disp, log: log, allow: map[string]bool{},
		written: map[int]float64{}, coils: map[int]bool{}}
	for _, a := range cfg.Allow {
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, fmt.Errorf("allow: %q is not an IP address", a)
		}
		s.allow[ip.String()] = true
	}
	for _, e := range Map(cfg.Points) {
		switch e.Table {
		case InputRegisters:
			s.ir = append(s.ir, e.Point)
		case HoldingRegisters:
			s.hr = append(s.hr, e.Point)
		case DiscreteInputs:
			s.di = append(s.di, e.Point)
		case Coils:
			s.co = append(s.co, e.Point)
		}
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + cfg.Addr, Timeout: cfg.Idle,
		MaxClients: uint(cfg.MaxConns), Logger: zap.NewStdLog(log.Named("lib"))}, s)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Start binds the listen address and serves until Close.
func (s *Server) Start(context.Context) error { return s.srv.Start() }

// Close stops the slave and closes every connection.
func (s *Server) Close() error { return s.srv.Stop() }

// Addr returns the configured listen address.
func (s *Server) Addr() string { return s.cfg.Addr }

// admit refuses a request from a client outside the allow-list or to
// another unit id, logging why.
func (s *Server) admit(client string, unit uint8) error {
	host, _, err := net.SplitHostPort(client)
	if err != nil {
		host = client
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil || !s.allow[ip.String()]:
		s.log.Warn("Modbus request refused", zap.String("client", client), zap.String("reason", "address not in northbound.modbus.allow"))
		return mb.ErrIllegalFunction
	case unit != s.cfg.UnitID:
		s.log.Warn("Modbus request refused", zap.String("client", client),
			zap.String("reason", fmt.Sprintf("unit id %d is not this slave's (%d)", unit, s.cfg.UnitID)))
		return mb.ErrGWTargetFailedToRespond
	}
	return nil
}

// span checks that [addr, addr+n) lies within size and returns it as ints.
func span(addr, n uint16, size int) (int, int, error) {
	lo, hi := int(addr), int(addr)+int(n)
	if n == 0 || hi > size {
		return 0, 0, mb.ErrIllegalDataAddress
	}
	return lo, hi, nil
}

// floatRegs encodes floats as register pairs, high word first.
func floatRegs(vs []float64) []uint16 {
	out := make([]uint16, 0, 2*len(vs))
	for _, v := range vs {
		b := math.Float32bits(float32(v))
		out = append(out, uint16(b>>16), uint16(b))
	}
	return out
}

// HandleInputRegisters serves the measurands; one not good reads NaN.
func (s *Server) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	if err := s.admit(req.ClientAddr, req.UnitId); err != nil {
		return nil, err
	}
	lo, hi, err := span(req.Addr, req.Quantity, 2*len(s.ir))
	if err != nil {
		return nil, err
	}
	vals := s.src()
	vs := make([]float64, len(s.ir))
	for i, p := range s.ir {
		v := vals.Get(p.Quantity)
		vs[i] = math.NaN()
		if v.Q == northbound.Good {
			vs[i] = v.V * p.Scale
		}
	}
	return floatRegs(vs)[lo:hi], nil
}

// HandleDiscreteInputs serves the single points and, from ValidOffset,
// whether each is good.
func (s *Server) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	if err := s.admit(req.ClientAddr, req.UnitId); err != nil {
		return nil, err
	}
	addr, valid := req.Addr, false
	if addr >= ValidOffset {
		addr, valid = addr-ValidOffset, true
	}
	lo, hi, err := span(addr, req.Quantity, len(s.di))
	if err != nil {
		return nil, err
	}
	vals := s.src()
	out := make([]bool, 0, hi-lo)
	for _, p := range s.di[lo:hi] {
		v := vals.Get(p.Quantity)
		if valid {
			out = append(out, v.Q == northbound.Good)
		} else {
			out = append(out, v.V != 0)
		}
	}
	return out, nil
}

// HandleHoldingRegisters reads back the setpoints last accepted (NaN
// before the first) and writes whole setpoints through Dispatch.
func (s *Server) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if err := s.admit(req.ClientAddr, req.UnitId); err != nil {
		return nil, err
	}
	lo, hi, err := span(req.Addr, req.Quantity, 2*len(s.hr))
	if err != nil {
		return nil, err
	}
	if !req.IsWrite {
		s.mu.Lock()
		vs := make([]float64, len(s.hr))
		for i, p := range s.hr {
			v, ok := s.written[p.IOA]
			if !ok {
				v = math.NaN()
			}
			vs[i] = v
		}
		s.mu.Unlock()
		return floatRegs(vs)[lo:hi], nil
	}
	if lo%2 != 0 || hi%2 != 0 {
		return nil, s.refuse(req.ClientAddr, mb.ErrIllegalDataAddress,
			fmt.Sprintf("write of registers %d..%d splits a float setpoint (two registers each, from an even address)", lo, hi-1))
	}
	for i := lo; i < hi; i += 2 {
		p := s.hr[i/2]
		v := float64(math.Float32frombits(uint32(req.Args[i-lo])<<16 | uint32(req.Args[i-lo+1])))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.disp.Set(ctx, p, v, northbound.Origin{Transport: "modbus", Client: req.ClientAddr})
		cancel()
		if err != nil {
			return nil, s.refuse(req.ClientAddr, mb.ErrIllegalDataValue, fmt.Sprintf("register %d (%s = %g %s): %v", i, p.Quantity, v, p.Unit, err))
		}
		s.mu.Lock()
		s.written[p.IOA] = v
		s.mu.Unlock()
		s.log.Info("Modbus setpoint accepted", zap.String("client", req.ClientAddr), zap.String("quantity", p.Quantity),
			zap.Float64("value", v), zap.String("unit", p.Unit))
	}
	return nil, nil
}

// HandleCoils reads back the commands last executed and executes writes
// through Dispatch (Modbus has no select: a write executes).
func (s *Server) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if err := s.admit(req.ClientAddr, req.UnitId); err != nil {
		return nil, err
	}
	lo, hi, err := span(req.Addr, req.Quantity, len(s.co))
	if err != nil {
		return nil, err
	}
	if !req.IsWrite {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := make([]bool, 0, hi-lo)
		for _, p := range s.co[lo:hi] {
			out = append(out, s.coils[p.IOA])
		}
		return out, nil
	}
	for i := lo; i < hi; i++ {
		p, on := s.co[i], req.Args[i-lo]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.disp.Switch(ctx, p, on, northbound.Origin{Transport: "modbus", Client: req.ClientAddr})
		cancel()
		if err != nil {
			return nil, s.refuse(req.ClientAddr, mb.ErrIllegalDataValue, fmt.Sprintf("coil %d (%s %v): %v", i, p.Quantity, on, err))
		}
		s.mu.Lock()
		s.coils[p.IOA] = on
		s.mu.Unlock()
	}
	return nil, nil
}

// refuse logs a refused write and returns its exception.
func (s *Server) refuse(client string, ex error, why string) error {
	s.log.Warn("Modbus write refused", zap.String("client", client), zap.String("exception", ex.Error()),
		zap.String("reason", strings.TrimSpace(why)))
	return ex
}
