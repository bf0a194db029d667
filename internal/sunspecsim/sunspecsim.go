// Package sunspecsim serves a simulated SunSpec device over Modbus TCP: a
// SunS marker, a model chain built from the embedded SunSpec definitions
// with a value in every point, and the end marker. It can also serve a
// deliberately broken chain, for tests and commissioning practice.
package sunspecsim

import (
	"fmt"
	"io"
	"log"
	"math"
	"sync"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/emsd/emsd/internal/sunspec"
)

// Model is one model of the simulated chain.
type Model struct {
	ID int
	// Repeat gives the instances of a repeating group by its count point
	// (e.g. "NCtl": 3); a count point not named gets 1.
	Repeat map[string]int
	// Len, when not 0, overrides the L written in the header (to break
	// the chain); the registers served stay those of the definition.
	Len int
	// Raw, for a model the definitions lack, is the number of pattern
	// registers served after its header.
	Raw int
	// Values sets points of the model's top group to engineering values
	// (scale factors first, then the points they scale; a NaN serves the
	// point's "not implemented" value).
	Values map[string]float64
}

// Image is a register map: Regs[i] is register Base+i.
type Image struct {
	Base uint16
	Regs []uint16
}

// Pattern is the value of register addr before points get their own:
// never a "not implemented" value, never zero.
func Pattern(addr int) uint16 { return uint16(0x1000 + (addr*37)%0x5000) }

// ScaleFactor is the exponent served in a scale-factor point at addr.
func ScaleFactor(addr int) int16 { return int16(addr%6) - 3 }

// Build lays out the marker, the models and, unless noEnd, the end marker
// at base.
func Build(base uint16, models []Model, noEnd bool) (*Image, error) {
	img := &Image{Base: base, Regs: []uint16{sunspec.Marker[0], sunspec.Marker[1]}}
	for _, m := range models {
		at := int(base) + len(img.Regs)
		var regs []uint16
		if def, ok := sunspec.Def(m.ID); ok {
			regs = fill(def, m, at)
		} else {
			regs = make([]uint16, 2+m.Raw)
			for i := range regs {
				regs[i] = Pattern(at + i)
			}
			regs[0], regs[1] = uint16(m.ID), uint16(m.Raw)
		}
		if m.Len != 0 {
			regs[1] = uint16(m.Len)
		}
		img.Regs = append(img.Regs, regs...)
	}
	if !noEnd {
		img.Regs = append(img.Regs, sunspec.EndID, 0)
	}
	if int(base)+len(img.Regs) > 1<<16 {
		return nil, fmt.Errorf("sunspecsim: %d registers do not fit above %d", len(img.Regs), base)
	}
	return img, nil
}

// fill builds a model's registers (ID, L, body) for a model at address at.
func fill(def *sunspec.ModelDef, m Model, at int) []uint16 {
	var regs []uint16
	var walk func(g *sunspec.GroupDef)
	walk = func(g *sunspec.GroupDef) {
		for _, p := range g.Points {
			a := at + len(regs)
			for i := range p.Size {
				regs = append(regs, Pattern(a+i))
			}
			r := regs[len(regs)-p.Size:]
			switch {
			case p.Name == "ID" && len(regs) == 1:
				r[0] = uint16(def.ID)
			case p.Type == "sunssf":
				r[0] = uint16(ScaleFactor(a))
			case p.Type == "string":
				s := []byte(fmt.Sprintf("emsd %s", p.Name))
				for i := range r {
					var hi, lo byte
					if 2*i < len(s) {
						hi = s[2*i]
					}
					if 2*i+1 < len(s) {
						lo = s[2*i+1]
					}
					r[i] = uint16(hi)<<8 | uint16(lo)
				}
			case isCount(def, p.Name):
				n, ok := m.Repeat[p.Name]
				if !ok {
					n = 1
				}
				r[0] = uint16(n)
			}
		}
		for i := range g.Groups {
			c := &g.Groups[i]
			n := 1
			if name, ok := c.Count.(string); ok {
				if v, ok := m.Repeat[name]; ok {
					n = v
				}
			}
			for range n {
				walk(c)
			}
		}
	}
	walk(&def.Group)
	regs[1] = uint16(len(regs) - 2)
	setValues(def, m.Values, regs)
	return regs
}

// setValues encodes the top-level points named in vals into regs.
func setValues(def *sunspec.ModelDef, vals map[string]float64, regs []uint16) {
	off := map[string]int{}
	o := 0
	for _, p := range def.Group.Points {
		off[p.Name] = o
		o += p.Size
	}
	for pass := range 2 {
		for _, p := range def.Group.Points {
			v, ok := vals[p.Name]
			if !ok || (pass == 0) != (p.Type == "sunssf") {
				continue
			}
			if p.SF != "" && !math.IsNaN(v) {
				v /= math.Pow10(int(int16(regs[off[p.SF]])))
			}
			encode(p.Type, v, regs[off[p.Name]:off[p.Name]+p.Size])
		}
	}
}

// encode writes v (already unscaled) as a point of type typ; NaN writes
// the type's "not implemented" value.
func encode(typ string, v float64, r []uint16) {
	var u uint64
	nan := math.IsNaN(v)
	switch typ {
	case "float32":
		u = uint64(math.Float32bits(float32(v)))
	case "float64":
		u = math.Float64bits(v)
	case "int16", "sunssf":
		u = uint64(uint16(int16(math.Round(v))))
		if nan {
			u = 0x8000
		}
	case "int32":
		u = uint64(uint32(int32(math.Round(v))))
		if nan {
			u = 0x80000000
		}
	case "acc16", "acc32", "acc64":
		u = uint64(math.Round(v))
		if nan {
			u = 0
		}
	default: // unsigned, enums, bitfields
		u = uint64(math.Round(v))
		if nan {
			u = math.MaxUint64
		}
	}
	for i := len(r) - 1; i >= 0; i-- {
		r[i] = uint16(u)
		u >>= 16
	}
}

// isCount tells whether name is the count point of a group of def.
func isCount(def *sunspec.ModelDef, name string) bool {
	var in func(g *sunspec.GroupDef) bool
	in = func(g *sunspec.GroupDef) bool {
		for i := range g.Groups {
			if c, ok := g.Groups[i].Count.(string); ok && c == name || in(&g.Groups[i]) {
				return true
			}
		}
		return false
	}
	return in(&def.Group)
}

// Server serves an image over Modbus TCP (holding registers, any unit id).
// Reads outside the image answer an illegal-data-address exception; writes
// inside it are stored.
type Server struct {
	mu  sync.Mutex
	img *Image
	srv *modbus.ModbusServer
}

// Serve starts a server on addr (host:port).
func Serve(addr string, img *Image) (*Server, error) {
	s := &Server{img: img}
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{
		URL: "tcp://" + addr, Timeout: 60 * time.Second, MaxClients: 8,
		Logger: log.New(io.Discard, "", 0),
	}, s)
	if err != nil {
		return nil, fmt.Errorf("sunspecsim: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("sunspecsim: listen on %s: %w", addr, err)
	}
	s.srv = srv
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Stop() }

// HandleHoldingRegisters implements modbus.RequestHandler.
func (s *Server) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo := int(req.Addr) - int(s.img.Base)
	hi := lo + int(req.Quantity)
	if lo < 0 || hi > len(s.img.Regs) {
		return nil, modbus.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(s.img.Regs[lo:hi], req.Args)
		return nil, nil
	}
	return append([]uint16(nil), s.img.Regs[lo:hi]...), nil
}

// HandleInputRegisters implements modbus.RequestHandler.
func (s *Server) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleCoils implements modbus.RequestHandler.
func (s *Server) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleDiscreteInputs implements modbus.RequestHandler.
func (s *Server) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// All is one instance of every supported model after the common model,
// with repeating groups repeated twice (and 804's modules three times).
func All() []Model {
	out := []Model{{ID: 1}}
	for _, id := range sunspec.Supported() {
		if id != 1 {
			out = append(out, Model{ID: id, Repeat: map[string]int{"NCtl": 2, "NStr": 2, "NMod": 3}})
		}
	}
	return out
}
