package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/broker"
	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/telemetry/metrics"
	"github.com/emsd/emsd/internal/telemetry/mqtt"
	"github.com/emsd/emsd/internal/telemetry/record"
)

// services are the daemon's parts around the station: dispatch, metrics,
// telemetry, operator commands and the HTTP server. They are built in two
// steps because the station's hooks need some of them and they need the
// station's devices.
type services struct {
	cfg  *config.Config
	log  *zap.Logger
	disp *station.Dispatcher
	m    *metrics.Metrics

	rec     atomic.Pointer[record.Recorder]
	influx  *influx.Writer
	mqtt    *mqtt.Client
	http    *httpapi.Server
	audit   *command.FileAudit
	handler *command.Handler
	broker  *broker.Broker
}

// newServices builds what the station's options need: the dispatcher and
// the metrics.
func newServices(cfg *config.Config, log *zap.Logger) (*services, error) {
	s := &services{cfg: cfg, log: log, m: metrics.New(metrics.Options{})}
	var err error
	s.disp, err = newDispatcher(cfg, log, s.onEvents)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// stationOptions wires the station's hooks to the services.
func (s *services) stationOptions(n station.Notifier) station.Options {
	return station.Options{
		Notifier:    n,
		Controller:  s.m.Controller(s.disp),
		Observer:    observers{s.m, recorderObserver{s}},
		FastLatency: s.m.FastLatency,
		OnCycle:     s.onCycle,
	}
}

func (s *services) onCycle(v *plant.View) {
	s.m.OnCycle(v)
	if r := s.rec.Load(); r != nil {
		r.Observe(v, s.disp.Report())
	}
}

// onEvents receives protection transitions from the control loop (under
// the dispatcher's lock: nothing here may call back into it).
func (s *services) onEvents(evs []dispatch.Event) {
	if r := s.rec.Load(); r != nil {
		r.Protection(evs)
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

// start builds and starts telemetry, the command channel and the HTTP
// server for a built station. Everything started is stopped by stop.
func (s *services) start(ctx context.Context, st *station.Station) error {
	cfg, log := s.cfg, s.log
	if err := s.m.Attach(st, s.disp); err != nil {
		return err
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
		rec, err := record.New(w, record.Options{Site: cfg.Site.Name, States: s.disp.States, Setpoints: st.Acked, Devices: hs})
		if err != nil {
			return fmt.Errorf("influx: %w", err)
		}
		s.rec.Store(rec)
		go rec.Run(ctx, cfg.Influx.Interval)
		log.Info("telemetry to InfluxDB", zap.String("url", cfg.Influx.URL), zap.String("bucket", cfg.Influx.BucketName()),
			zap.Duration("interval", cfg.Influx.Interval))
	}

	audit, err := command.OpenFileAudit(filepath.Join(cfg.StateDir, "audit"), false)
	if err != nil {
		return fmt.Errorf("%s: state_dir: audit log: %w", cfg.File, err)
	}
	s.audit = audit
	sinks := command.MultiAudit{command.ZapAudit{Log: log.Named("audit")}, audit, s.m}
	if r := s.rec.Load(); r != nil {
		sinks = append(sinks, r)
	}
	s.handler = command.NewHandler(bus{s.disp}, command.HandlerOptions{
		Authority: command.NewAuthority(*cfg.MQTT.RemoteControl),
		Audit:     sinks,
	})

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
			State:         func() any { return httpapi.Snapshot(st, s.disp, time.Now()).Plant },
			Units: func() map[string]any {
				snap := httpapi.Snapshot(st, s.disp, time.Now())
				out := make(map[string]any, len(snap.Units))
				for _, u := range snap.Units {
					out[u.ID] = u
				}
				return out
			},
			Log: log.Named("mqtt"),
		}, s.handler)
		if err != nil {
			return fmt.Errorf("%s: mqtt: %w", cfg.File, err)
		}
		s.mqtt = c
		if err := s.m.RegisterMQTT(c); err != nil {
			return err
		}
		c.Start()
		log.Info("operator commands over MQTT", zap.Strings("brokers", cfg.MQTT.Brokers), zap.String("topics", c.Topic("")),
			zap.Bool("remote_control", *cfg.MQTT.RemoteControl))
	}

	if addr := cfg.HTTPAddr(); addr != "" {
		srv, err := httpapi.New(addr, httpapi.Options{Plant: st, Dispatch: s.disp, Gatherer: s.m.Registry(),
			Period: cfg.Control.Period, LastCycle: s.m.LastCycle, Log: log.Named("http")})
		if err != nil {
			return err
		}
		if err := srv.Start(ctx); err != nil {
			return fmt.Errorf("%s: http.addr: %w", cfg.File, err)
		}
		s.http = srv
		log.Info("HTTP API", zap.String("addr", srv.Addr()), zap.Strings("paths", []string{"/metrics", "/healthz", "/readyz", "/api/state"}))
	}
	return nil
}

// stop closes what start opened, telemetry last so that the shutdown ramp
// is recorded.
func (s *services) stop() {
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
	if r := s.rec.Load(); r != nil {
		r.Flush(time.Now())
	}
	if s.influx != nil {
		if err := s.influx.Close(ctx); err != nil {
			s.log.Warn("influx close", zap.Error(err))
		}
	}
	if s.audit != nil {
		_ = s.audit.Close()
	}
}

// bus lets operator commands reach the dispatcher.
type bus struct{ d *station.Dispatcher }

func (b bus) Submit(ctx context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	return b.d.Submit(ctx, cmd)
}

// observers fans every Modbus transaction out to several observers.
type observers []devices.Observer

func (o observers) Transaction(dev string, op devices.Op, took time.Duration, err error) {
	for _, x := range o {
		x.Transaction(dev, op, took, err)
	}
}

// recorderObserver forwards transactions to the recorder once it exists.
type recorderObserver struct{ s *services }

func (r recorderObserver) Transaction(dev string, op devices.Op, took time.Duration, err error) {
	if rec := r.s.rec.Load(); rec != nil {
		rec.Transaction(dev, op, took, err)
	}
}
