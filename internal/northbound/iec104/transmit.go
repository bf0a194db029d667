package iec104

import (
	"context"
	"math"
	"time"

	"github.com/wendy512/go-iecp5/asdu"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/points"
)

// run sends spontaneous changes every Scan and every measurand every
// Cycle, until ctx ends.
func (s *Server) run(ctx context.Context) {
	scan := time.NewTicker(s.cfg.Scan)
	defer scan.Stop()
	var cycle <-chan time.Time
	if s.cfg.Cycle > 0 {
		t := time.NewTicker(s.cfg.Cycle)
		defer t.Stop()
		cycle = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-scan.C:
			s.spontaneous()
		case <-cycle:
			vals := s.src()
			for _, c := range s.conns() {
				_ = s.send(c, s.sortedPoints(points.Measurand), vals, asdu.Periodic, false)
			}
		}
	}
}

// spontaneous sends, with a time tag, every monitored point whose value
// moved by its deadband or whose quality changed since it was last sent.
func (s *Server) spontaneous() {
	vals := s.src()
	var changed []points.Point
	s.mu.Lock()
	for _, p := range s.cfg.Points {
		if p.Type != points.Measurand && p.Type != points.Single {
			continue
		}
		now := wire(p, vals.Get(p.Quantity))
		last, ok := s.sent[asdu.InfoObjAddr(p.IOA)]
		if ok && !moved(p, last, now) {
			continue
		}
		s.sent[asdu.InfoObjAddr(p.IOA)] = now
		if ok { // the first scan only sets the reference
			changed = append(changed, p)
		}
	}
	s.mu.Unlock()
	if len(changed) == 0 {
		return
	}
	for _, c := range s.conns() {
		if err := s.send(c, changed, vals, asdu.Spontaneous, true); err != nil {
			s.log.Debug("IEC 104 spontaneous transmission failed", zap.String("client", c.UnderlyingConn().RemoteAddr().String()), zap.Error(err))
		}
	}
}

// moved reports whether a point must be sent again.
func moved(p points.Point, last, now sample) bool {
	if last.q != now.q {
		return true
	}
	if p.Type == points.Single || p.Deadband == 0 {
		return last.v != now.v
	}
	return math.Abs(now.v-last.v) >= p.Deadband
}

// wire is a value as it goes on the wire.
func wire(p points.Point, v northbound.Value) sample {
	if p.Type == points.Single {
		return sample{v: b2f(v.V != 0), q: v.Q}
	}
	return sample{v: v.V * p.Scale, q: v.Q}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sendAll sends every monitored point with the given cause.
func (s *Server) sendAll(c asdu.Connect, cause asdu.Cause) {
	vals := s.src()
	_ = s.send(c, s.sortedPoints(points.Single), vals, cause, false)
	_ = s.send(c, s.sortedPoints(points.Measurand), vals, cause, false)
}

// maxPerASDU keeps an ASDU within the 253-octet APDU (16 time-tagged floats of 15 octets).
const maxPerASDU = 16

// send sends points (of any monitored kind) to c, grouped by type, with
// a CP56Time2a time tag when tagged.
func (s *Server) send(c asdu.Connect, pts []points.Point, vals northbound.Values, cause asdu.Cause, tagged bool) error {
	coa := asdu.CauseOfTransmission{Cause: cause}
	ca := asdu.CommonAddr(s.cfg.CommonAddr)
	t := s.now()
	var singles []asdu.SinglePointInfo
	var floats []asdu.MeasuredValueFloatInfo
	for _, p := range pts {
		w := wire(p, vals.Get(p.Quantity))
		switch p.Type {
		case points.Single:
			singles = append(singles, asdu.SinglePointInfo{Ioa: asdu.InfoObjAddr(p.IOA), Value: w.v != 0, Qds: qds(w.q), Time: t})
		case points.Measurand:
			floats = append(floats, asdu.MeasuredValueFloatInfo{Ioa: asdu.InfoObjAddr(p.IOA), Value: float32(w.v), Qds: qds(w.q), Time: t})
		}
	}
	var err error
	for chunk := range chunks(singles) {
		if tagged {
			err = asdu.SingleCP56Time2a(c, coa, ca, chunk...)
		} else {
			err = asdu.Single(c, false, coa, ca, chunk...)
		}
	}
	for chunk := range chunks(floats) {
		if tagged {
			err = asdu.MeasuredValueFloatCP56Time2a(c, coa, ca, chunk...)
		} else {
			err = asdu.MeasuredValueFloat(c, false, coa, ca, chunk...)
		}
	}
	return err
}

// chunks yields xs in pieces that fit one ASDU.
func chunks[T any](xs []T) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(xs) > 0 {
			n := min(len(xs), maxPerASDU)
			if !yield(xs[:n]) {
				return
			}
			xs = xs[n:]
		}
	}
}

// qds is the quality descriptor of a quality: a stale value is not
// topical, a lost one invalid; neither is ever good.
func qds(q northbound.Quality) asdu.QualityDescriptor {
	switch q {
	case northbound.Good:
		return asdu.QDSGood
	case northbound.Stale:
		return asdu.QDSNotTopical
	}
	return asdu.QDSInvalid
}
