package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/northbound/iec104"
	"github.com/emsd/emsd/internal/northbound/modbus"
	"github.com/emsd/emsd/internal/northbound/points"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station"
)

// northboundServer is a running dispatch-link server.
type northboundServer interface {
	Start(ctx context.Context) error
	Close() error
	Addr() string
}

// buildNorthbound makes the dispatch-link servers the configuration
// enables; their setpoints and commands go through h, the MQTT command
// path, under its one remote/local switch.
func buildNorthbound(cfg *config.Config, st *station.Station, d *station.Dispatcher, h *command.Handler, e *northbound.Energy, log *zap.Logger) (*northbound.Link, []northboundServer, error) {
	n := &cfg.Northbound
	if !n.IEC104.Enabled && !n.Modbus.Enabled {
		return nil, nil, nil
	}
	fallback := map[string]northbound.Fallback{config.FallbackHold: northbound.Hold, config.FallbackZero: northbound.Zero,
		config.FallbackSchedule: northbound.Schedule}[n.Fallback]
	link := northbound.NewLink(northbound.LinkConfig{Fallback: fallback, SetpointTimeout: n.SetpointTimeout},
		h, log.Named("northbound"))
	disp := northbound.NewDispatch(h, link).WithPFR(func() dispatch.PFRParams { p, _ := d.PFR(); return p }).
		WithReactive(d.Reactive)
	src := func() northbound.Values {
		vals := plantValues(httpapi.Snapshot(st, d, time.Now()), d, h.Authority(), time.Now(), staleAfter(cfg))
		in, out, good := e.Today()
		q := northbound.Good
		if !good {
			q = northbound.Stale
		}
		vals[points.QChargedToday] = northbound.Value{V: in, Q: q}
		vals[points.QDischargedToday] = northbound.Value{V: out, Q: q}
		return vals
	}
	var srvs []northboundServer
	if i := &n.IEC104; i.Enabled {
		srv, err := iec104.New(iec104.Config{Addr: i.Listen, CommonAddr: uint16(i.CommonAddress), Allow: i.Allow,
			MaxConns: i.MaxConnections, T0: i.T0, T1: i.T1, T2: i.T2, T3: i.T3, K: uint16(i.K), W: uint16(i.W),
			Scan: i.Scan, Cycle: *i.Cycle, SelectTimeout: i.SelectTimeout, Points: i.Points},
			src, disp, link, log.Named("iec104"))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: northbound.iec104: %w", cfg.File, err)
		}
		srvs = append(srvs, srv)
	}
	if m := &n.Modbus; m.Enabled {
		// The slave serves the IEC 104 points table, laid out by modbus.Map.
		srv, err := modbus.New(modbus.Config{Addr: m.Listen, UnitID: uint8(m.UnitID), Allow: m.Allow,
			MaxConns: m.MaxConnections, Points: n.IEC104.Points}, src, disp, log.Named("modbus-slave"))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: northbound.modbus: %w", cfg.File, err)
		}
		srvs = append(srvs, srv)
	}
	return link, srvs, nil
}

// staleAfter is how old the control loop's snapshot may be before the
// values derived from it go out as not topical.
func staleAfter(cfg *config.Config) time.Duration {
	return max(5*cfg.Control.Period, time.Second)
}

// plantValues turns a state snapshot into the northbound quantities. A
// measurement keeps the quality the process image gave it; what the
// control loop derives is stale once its snapshot is older than stale,
// and lost before the first one.
func plantValues(s httpapi.State, d *station.Dispatcher, auth *command.Authority, now time.Time, stale time.Duration) northbound.Values {
	vals := northbound.Values{}
	meas := func(q string, v *httpapi.Value) {
		if v == nil || v.Value == nil {
			return // lost
		}
		vals[q] = northbound.Value{V: float64(*v.Value), Q: qualityOf(v.Quality)}
	}
	meas(points.QP, s.Plant.Points[plant.PointP])
	meas(points.QQ, s.Plant.Points[plant.PointQ])
	meas(points.QU, s.Plant.Points[plant.PointV])
	meas(points.QF, s.Plant.Points[plant.PointF])
	meas(points.QSOC, s.Plant.SOC)
	for _, u := range s.Units {
		meas(points.UnitQuantity(points.QUnitP, u.ID), u.Points[plant.PointP])
	}
	vals[points.QRemote] = northbound.Value{V: b2f(auth.RemoteEnabled())}

	if s.Dispatch == nil || s.SnapshotAt == nil {
		return vals
	}
	q := northbound.Good
	if now.Sub(*s.SnapshotAt) > stale {
		q = northbound.Stale
	}
	ds := s.Dispatch
	derived := func(name string, v float64) { vals[name] = northbound.Value{V: v, Q: q} }
	derived(points.QAvailCharge, float64(ds.AvailCharge))
	derived(points.QAvailDischarge, float64(ds.AvailDischarge))
	derived(points.QRunning, b2f(ds.Mode != dispatch.ModeStandby && !ds.EStop))
	derived(points.QFault, b2f(ds.Tripped > 0))
	derived(points.QAGCOn, b2f(ds.Mode == dispatch.ModeAGC))
	derived(points.QEStop, b2f(ds.EStop))
	_, pfrOn := d.PFR()
	derived(points.QPFROn, b2f(pfrOn))
	for _, u := range s.Units {
		if u.Protection != "" {
			derived(points.UnitQuantity(points.QUnitTrip, u.ID), b2f(u.Protection == dispatch.StateTrip.String()))
		}
	}
	if t, ok := d.AGCTarget(); ok {
		derived(points.QAGCTargetKW, t)
	}
	return vals
}

// qualityOf maps a process-image quality name to a northbound quality.
func qualityOf(q string) northbound.Quality {
	switch q {
	case procimg.Good.String():
		return northbound.Good
	case procimg.Stale.String():
		return northbound.Stale
	}
	return northbound.Lost
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// cmdNorthbound prints the points table in effect (the configuration's,
// or the default) as CSV: ioa,type,name,unit,scale.
func cmdNorthbound(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "points" {
		return usageErr(errors.New("northbound: usage: emsd northbound points [-config FILE]"))
	}
	fs := flag.NewFlagSet("northbound points", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (default: the built-in table)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErr(err)
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("northbound points: unexpected argument %q", fs.Arg(0)))
	}
	pts := points.DefaultPoints()
	if *path != "" {
		cfg, err := config.Load(*path)
		if err != nil {
			return configErr(err)
		}
		pts = cfg.Northbound.IEC104.Points
	}
	return points.WriteCSV(stdout, pts)
}
