package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Handler returns the HTTP control API (see the package documentation).
// Start serves it on simulator.control_addr; tests and the daemon may
// mount it elsewhere.
func (p *Plant) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, p.Snapshot())
	})
	m.HandleFunc("GET /devices", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, p.DeviceStatus())
	})
	m.HandleFunc("GET /writes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, p.Writes())
	})
	m.HandleFunc("POST /devices/{name}/drop", func(w http.ResponseWriter, r *http.Request) {
		done(w, p.DropDevice(r.PathValue("name")), nil)
	})
	m.HandleFunc("POST /devices/{name}/restore", func(w http.ResponseWriter, r *http.Request) {
		done(w, p.RestoreDevice(r.PathValue("name")), nil)
	})
	m.HandleFunc("POST /devices/{name}/delay", func(w http.ResponseWriter, r *http.Request) {
		ms, err := number(r, "ms", 0, 3.6e6)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		done(w, p.DelayDevice(r.PathValue("name"), time.Duration(ms*float64(time.Millisecond))), nil)
	})
	m.HandleFunc("POST /devices/{name}/blackhole", func(w http.ResponseWriter, r *http.Request) {
		on, err := boolean(r, "on")
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		done(w, p.Blackhole(r.PathValue("name"), on), nil)
	})
	m.HandleFunc("POST /pcs/{unit}/fault", func(w http.ResponseWriter, r *http.Request) {
		on, err := boolean(r, "on")
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		done(w, p.SetPCSFault(r.PathValue("unit"), on), nil)
	})
	m.HandleFunc("POST /bms/{unit}/{j}/alarm", func(w http.ResponseWriter, r *http.Request) {
		j, err := strconv.Atoi(r.PathValue("j"))
		if err != nil {
			fail(w, http.StatusBadRequest, fmt.Errorf("battery index %q is not an integer", r.PathValue("j")))
			return
		}
		lv, err := number(r, "level", -1, 3)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		if lv != math.Trunc(lv) {
			fail(w, http.StatusBadRequest, fmt.Errorf("query parameter level=%v is not an integer", lv))
			return
		}
		done(w, p.SetBMSAlarm(r.PathValue("unit"), j, int(lv)), nil)
	})
	m.HandleFunc("POST /grid/frequency", func(w http.ResponseWriter, r *http.Request) {
		hz, err := number(r, "hz", 40, 70)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		at := p.StepFrequency(hz)
		done(w, nil, map[string]any{"f_hz": hz, "at": at})
	})
	m.HandleFunc("POST /grid/voltage", func(w http.ResponseWriter, r *http.Request) {
		vn := p.voltage()
		v, err := number(r, "v", 0.8*vn, 1.15*vn)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		rs := 0.0
		if r.URL.Query().Has("ramp_s") {
			if rs, err = number(r, "ramp_s", 0, 3600); err != nil {
				fail(w, http.StatusBadRequest, err)
				return
			}
		}
		p.SetVoltage(v, time.Duration(rs*float64(time.Second)))
		done(w, nil, map[string]any{"source_v": v, "ramp_s": rs})
	})
	m.HandleFunc("POST /grid/load", func(w http.ResponseWriter, r *http.Request) {
		kw, err := number(r, "kw", -1e7, 1e7)
		if err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		p.SetLoad(kw)
		done(w, nil, map[string]any{"load_kw": kw})
	})
	// Unmatched requests get a JSON reason: 405 when another method
	// would match, else 404.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pat := m.Handler(r); pat != "" {
			m.ServeHTTP(w, r)
			return
		}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r2 := r.Clone(r.Context())
			r2.Method = method
			if _, pat := m.Handler(r2); pat != "" {
				w.Header().Set("Allow", method)
				fail(w, http.StatusMethodNotAllowed, fmt.Errorf("%s %s: use %s", r.Method, r.URL.Path, method))
				return
			}
		}
		fail(w, http.StatusNotFound, fmt.Errorf("no endpoint %s %s (see GET /state, GET /devices, GET /writes, POST /devices/{name}/drop|restore|delay|blackhole, /pcs/{unit}/fault, /bms/{unit}/{j}/alarm, /grid/frequency, /grid/voltage, /grid/load)", r.Method, r.URL.Path))
	})
}

// startHTTP listens on addr and serves the control API.
func (p *Plant) startHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: control API: cannot listen on %s: %w", addr, err)
	}
	p.httpSrv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Sugar().Errorf("sim: control API: %v", err)
		}
	}(p.httpSrv)
	return nil
}

// number parses a required finite query parameter within lo..hi.
func number(r *http.Request, name string, lo, hi float64) (float64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, fmt.Errorf("query parameter %s is missing", name)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("query parameter %s=%q is not a number", name, s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("query parameter %s=%v is outside %v..%v", name, v, lo, hi)
	}
	return v, nil
}

// boolean parses a required true/false query parameter.
func boolean(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, fmt.Errorf("query parameter %s is missing (true or false)", name)
	}
	v, err := parseBool(s)
	if err != nil {
		return false, fmt.Errorf("query parameter %s: %v", name, err)
	}
	return v, nil
}

// done replies to a command: 200 with {"ok":true,...}, or the error.
func done(w http.ResponseWriter, err error, extra map[string]any) {
	switch {
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, err)
	case errors.Is(err, ErrInvalid):
		fail(w, http.StatusBadRequest, err)
	case err != nil:
		fail(w, http.StatusConflict, err)
	default:
		body := map[string]any{"ok": true}
		for k, v := range extra {
			body[k] = v
		}
		reply(w, http.StatusOK, body)
	}
}

func fail(w http.ResponseWriter, code int, err error) {
	reply(w, code, map[string]any{"ok": false, "error": err.Error()})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
