package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/broker"
	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/ha"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/ingress/mqtt"
	"github.com/emsd/emsd/internal/northbound"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/station/stationcfg"
	"github.com/emsd/emsd/internal/station/writer"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/telemetry/metrics"
	"github.com/emsd/emsd/internal/telemetry/record"
)

// services are the daemon's parts around the station: dispatch, metrics,
// telemetry, operator commands and the HTTP server. newServices builds
// them, with the station, in dependency order; start runs their
// goroutines and stop ends and joins every one of them.
//
// The station's hooks and the dispatcher's event callback are methods of
// services: they reach the recorder and the MQTT client, which are built
// after the station (they read its devices). Every one of those fields is
// set before newServices returns, and no hook runs before Station.Run, so
// they are plain fields.
type services struct {
	cfg  *config.Config
	log  *zap.Logger
	disp *station.Dispatcher
	m    *metrics.Metrics

	rec     *record.Recorder // nil without InfluxDB
	influx  *influx.Writer
	mqtt    *mqtt.Client
	http    *httpapi.Server
	audit   *command.FileAudit
	handler *command.Handler
	broker  *broker.Broker
	sinks   command.AuditSink // every audit sink, for the hand-over and takeover records

	ha       *ha.Node // nil alone
	st       *station.Station
	haCancel context.CancelFunc
	haWG     sync.WaitGroup
	cycles   atomic.Uint64      // control cycles so far
	link     *northbound.Link   // nil without a northbound server
	energy   *northbound.Energy // energy today at the POI; nil without a northbound server
	north    []northboundServer // the dispatch-link servers

	cancel context.CancelFunc // ends what start started
	wg     sync.WaitGroup     // the goroutines start started
}

// newServices builds the dispatcher, the station, telemetry, the command
// channel and the HTTP server, in that order. Nothing runs yet; on error
// what was opened is closed.
func newServices(cfg *config.Config, profiles devices.Profiles, log *zap.Logger, n station.Notifier) (*services, *station.Station, error) {
	s := &services{cfg: cfg, log: log, m: metrics.New(metrics.Options{}), cancel: func() {}}
	var err error
	if s.disp, err = newDispatcher(cfg, log, s.onEvents); err != nil {
		return nil, nil, configErr(err)
	}
	if s.ha, err = newHA(cfg, log, s.onRole, s.onElected); err != nil {
		return nil, nil, err
	}
	st, err := station.New(stationcfg.From(cfg), profiles, log, station.Options{
		Notifier:    n,
		Controller:  s.disp,
		Observer:    s,
		FastLatency: s.m.FastLatency,
		OnCycle:     s.onCycle,
		Gate:        gate(s.ha),
		OnUnitEvent: s.onUnitEvent,
	})
	if err != nil {
		if s.ha != nil {
			_ = s.ha.Close()
		}
		return nil, nil, configErr(err)
	}
	s.st = st
	if err := s.build(st); err != nil {
		s.stop()
		return nil, nil, err
	}
	return s, st, nil
}

// onCycle feeds each control cycle to the metrics and the recorder.
func (s *services) onCycle(v *plant.View, k plant.CycleKind) {
	s.cycles.Add(1)
	s.m.OnCycle(v, k)
	if s.energy != nil {
		s.energy.Observe(v.At, v.POI.P.V, v.POI.P.Good())
	}
	if s.rec != nil {
		s.rec.Observe(v, s.disp.Report())
	}
}

// Transaction makes services the station's devices.Observer: every Modbus
// transaction goes to the metrics and the recorder.
func (s *services) Transaction(dev string, op devices.Op, took time.Duration, err error) {
	s.m.Transaction(dev, op, took, err)
	if s.rec != nil {
		s.rec.Transaction(dev, op, took, err)
	}
}

// onUnitEvent records a unit's PCS run-state event (restart, not
// running, running again) in the event measurement.
func (s *services) onUnitEvent(unit string, e writer.Event) {
	if s.rec != nil {
		s.rec.Event(record.Event{Time: e.At, Unit: unit, Kind: record.KindPCS, Cause: string(e.Kind), Message: e.Message})
	}
}

// onEvents receives protection transitions from the control loop (under
// the dispatcher's lock: nothing here may call back into it).
func (s *services) onEvents(evs []dispatch.Event) {
	if s.rec != nil {
		s.rec.Protection(evs)
	}
	if s.mqtt != nil {
		for _, e := range evs {
			if e.To == dispatch.StateTrip || e.Cause == dispatch.CauseEStop {
				_ = s.mqtt.Alarm(e)
			} else {
				_ = s.mqtt.Event(e)
			}
		}
	}
}

// build makes telemetry, the command channel and the HTTP server for a
// built station. Everything built is closed by stop.
func (s *services) build(st *station.Station) error {
	cfg, log := s.cfg, s.log
	if err := s.m.Attach(st, s.disp); err != nil {
		return err
	}
	if s.ha != nil {
		if err := s.m.RegisterHA(s.ha); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("%s: state_dir: %w", cfg.File, err)
	}

	if cfg.Influx.Enabled {
		w, err := influx.New(influx.Config{
			URL: cfg.Influx.URL, Token: cfg.Influx.AuthToken(), Org: cfg.Influx.Org, Bucket: cfg.Influx.BucketName(),
			StateDir: cfg.StateDir, BacklogMaxBytes: int64(cfg.Influx.BacklogMB) << 20, Logger: log.Named("influx"),
		})
		if err != nil {
			return fmt.Errorf("influx: %w", err)
		}
		s.influx = w
		if err := w.Register(s.m.Registry()); err != nil {
			return err
		}
		var hs []record.HealthSource
		for _, d := range st.Devices() {
			hs = append(hs, d)
		}
		ro := record.Options{Site: cfg.Site.Name, States: s.disp.States, Setpoints: st.Acked, Devices: hs}
		if s.ha != nil {
			ro.Controller, ro.Role = cfg.HA.Name, func() string { return s.ha.Role().String() }
		}
		rec, err := record.New(w, ro)
		if err != nil {
			return fmt.Errorf("influx: %w", err)
		}
		s.rec = rec
	}

	audit, err := command.OpenFileAudit(filepath.Join(cfg.StateDir, "audit"), false)
	if err != nil {
		return fmt.Errorf("%s: state_dir: audit log: %w", cfg.File, err)
	}
	s.audit = audit
	sinks := command.MultiAudit{command.ZapAudit{Log: log.Named("audit")}, audit, s.m}
	if s.rec != nil {
		sinks = append(sinks, s.rec)
	}
	s.sinks = sinks
	ho := command.HandlerOptions{
		Authority: command.NewAuthority(*cfg.MQTT.RemoteControl),
		Audit:     sinks,
	}
	if s.ha != nil {
		ho.Gate = s.commandGate
	}
	s.handler = command.NewHandler(bus{s.disp, s.ha, &sync.Mutex{}}, ho)

	if n := &cfg.Northbound; n.IEC104.Enabled || n.Modbus.Enabled {
		s.energy = northbound.NewEnergy(time.Local)
	}
	if s.link, s.north, err = buildNorthbound(cfg, st, s.disp, s.handler, s.energy, log); err != nil {
		return err
	}
	if s.link != nil {
		if err := s.m.RegisterNorthbound(s.link); err != nil {
			return err
		}
	}

	if a := cfg.MQTT.EmbeddedBroker; a != "" {
		b, err := broker.Start(a)
		if err != nil {
			return fmt.Errorf("%s: mqtt.embedded_broker: %w", cfg.File, err)
		}
		s.broker = b
		log.Info("embedded MQTT broker (demo and commissioning only)", zap.String("url", b.URL()))
	}
	if cfg.MQTT.Enabled {
		pw, err := cfg.MQTT.MQTTPassword()
		if err != nil {
			return fmt.Errorf("%s: mqtt.password_file: %w", cfg.File, err)
		}
		c, err := mqtt.New(mqtt.Options{
			Brokers: cfg.MQTT.Brokers,
			CAFile:  cfg.MQTT.TLS.CAFile, CertFile: cfg.MQTT.TLS.CertFile, KeyFile: cfg.MQTT.TLS.KeyFile,
			ServerName: cfg.MQTT.TLS.ServerName, InsecureSkipVerify: cfg.MQTT.TLS.InsecureSkipVerify,
			Username: cfg.MQTT.Username, Password: pw, ClientID: cfg.MQTT.ClientID,
			KeepAlive: cfg.MQTT.KeepAlive, MaxReconnectInterval: cfg.MQTT.ReconnectMax, Prefix: cfg.MQTT.Prefix, Site: cfg.Site.Name,
			StateInterval: cfg.MQTT.StatePeriod,
			State:         func() (any, map[string]any) { return s.mqttState(httpapi.Snapshot(st, s.disp, time.Now())) },
			Log:           log.Named("mqtt"),
		}, s.handler)
		if err != nil {
			return fmt.Errorf("%s: mqtt: %w", cfg.File, err)
		}
		s.mqtt = c
		if err := s.m.RegisterMQTT(c); err != nil {
			return err
		}
	}

	if addr := cfg.HTTPAddr(); addr != "" {
		o := httpapi.Options{Plant: st, Dispatch: s.disp, Gatherer: s.m.Registry(),
			Period: cfg.Control.Period, LastCycle: s.m.LastCycle, Log: log.Named("http")}
		if s.ha != nil {
			o.Role, o.Handover = s.role, s.handover
		}
		srv, err := httpapi.New(addr, o)
		if err != nil {
			return err
		}
		s.http = srv
	}
	return nil
}

// mqttState splits one snapshot into the plant state and the unit states
// of one MQTT state round, so that both come from the same cycle. In a
// pair the plant state carries the role.
func (s *services) mqttState(snap httpapi.State) (any, map[string]any) {
	units := make(map[string]any, len(snap.Units))
	for _, u := range snap.Units {
		units[u.ID] = u
	}
	if s.ha != nil {
		return struct {
			httpapi.PlantState
			HA httpapi.Role `json:"ha"`
		}{snap.Plant, s.role()}, units
	}
	return snap.Plant, units
}

// start runs the recorder's flushes, the MQTT client and the HTTP server
// until stop (or until ctx ends).
func (s *services) start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	cfg, log := s.cfg, s.log
	s.startHA()
	if s.rec != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.rec.Run(ctx, cfg.Influx.Interval) }()
		log.Info("telemetry to InfluxDB", zap.String("url", cfg.Influx.URL), zap.String("bucket", cfg.Influx.BucketName()),
			zap.Duration("interval", cfg.Influx.Interval))
	}
	if s.mqtt != nil {
		s.mqtt.Start()
		log.Info("operator commands over MQTT", zap.Strings("brokers", cfg.MQTT.Brokers), zap.String("topics", s.mqtt.Topic("")),
			zap.Bool("remote_control", *cfg.MQTT.RemoteControl))
	}
	for _, n := range s.north {
		if err := n.Start(ctx); err != nil {
			return fmt.Errorf("%s: northbound: %s: %w", cfg.File, n.Addr(), err)
		}
		log.Info("dispatch link", zap.String("addr", n.Addr()), zap.Bool("remote_control", s.handler.Authority().RemoteEnabled()))
	}
	if s.link != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.link.Run(ctx) }()
	}
	if s.http != nil {
		if err := s.http.Start(ctx); err != nil {
			return fmt.Errorf("%s: http.addr: %w", cfg.File, err)
		}
		log.Info("HTTP API", zap.String("addr", s.http.Addr()), zap.Strings("paths", []string{"/metrics", "/healthz", "/readyz", "/api/state"}))
	}
	return nil
}

// stop ends and joins what start started and closes what newServices
// opened, telemetry last so that the shutdown ramp is recorded: the
// recorder's last flush happens before the InfluxDB writer closes.
func (s *services) stop() {
	s.stopHA()
	s.cancel()
	if s.http != nil {
		_ = s.http.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.mqtt != nil {
		_ = s.mqtt.Close(ctx)
	}
	if s.broker != nil {
		_ = s.broker.Close()
	}
	for _, n := range s.north {
		_ = n.Close()
	}
	s.wg.Wait()
	if s.influx != nil {
		if err := s.influx.Close(ctx); err != nil {
			s.log.Warn("influx close", zap.Error(err))
		}
	}
	if s.audit != nil {
		_ = s.audit.Close()
	}
}
