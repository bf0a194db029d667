package metrics

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/emsd/emsd/internal/ingress/mqtt"
	"github.com/emsd/emsd/internal/telemetry/influx"
	"github.com/emsd/emsd/internal/testutil"
)

// startBroker runs an embedded MQTT broker on a loopback port.
func startBroker(t *testing.T, addr string) *mochi.Server {
	t.Helper()
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestInfluxAndMQTTOnTheSameRegistry(t *testing.T) {
	m := New(Options{})
	s := serve(t, m)

	// An InfluxDB writer whose server is away: its points go to the backlog.
	dead := testutil.FreeAddr(t)
	w, err := influx.New(influx.Config{URL: "http://" + dead, Bucket: "b", StateDir: t.TempDir(),
		FlushInterval: 20 * time.Millisecond, RetryInterval: 50 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	if err := w.Register(m.Registry()); err != nil {
		t.Fatal(err)
	}

	addr := testutil.FreeAddr(t)
	broker := startBroker(t, addr)
	c, err := mqtt.New(mqtt.Options{Brokers: []string{"tcp://" + addr}, Site: "metrics",
		ConnectRetryInterval: 50 * time.Millisecond, MaxReconnectInterval: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	if err := m.RegisterMQTT(c); err != nil {
		t.Fatal(err)
	}

	for range 10 {
		w.Write(influx.Point{Measurement: "plant", Fields: map[string]any{"p_kw": 1.0}})
	}
	var f families
	testutil.WaitFor(t, 5*time.Second, "the MQTT connection and the influx backlog", func() bool {
		f = s.scrape()
		conn, _ := f.value("emsd_mqtt_connected", nil)
		backlog, _ := f.value("emsd_influx_backlog_points", nil)
		return conn == 1 && backlog == 10
	})
	if v := f.must(t, "emsd_influx_connected"); v != 0 {
		t.Errorf("emsd_influx_connected = %v with no server", v)
	}
	if v := f.must(t, "emsd_influx_write_errors_total"); v == 0 {
		t.Error("no write errors counted against a dead server")
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("Go collector missing next to the sinks")
	}

	// The broker goes away: the gauge follows.
	broker.Close()
	testutil.WaitFor(t, 5*time.Second, "emsd_mqtt_connected 0", func() bool {
		v, _ := s.scrape().value("emsd_mqtt_connected", nil)
		return v == 0
	})
}
