package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

// goroutines returns the stacks of the running goroutines by their
// header line ("goroutine N [state]:"), without the caller's own.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		if i == 0 {
			continue // the caller
		}
		head, _, _ := strings.Cut(string(g), "\n")
		id, _, _ := strings.Cut(head, " [")
		out[id] = string(g)
	}
	return out
}

// TestServicesStopJoinsEveryGoroutine builds the daemon's services on the
// demo config with InfluxDB telemetry, the embedded broker, MQTT and the
// HTTP API, starts them, and stops them while the run's ctx is still live
// (as a failed start does): when stop returns, no goroutine of emsd, of
// the MQTT client or of the broker may be left.
func TestServicesStopJoinsEveryGoroutine(t *testing.T) {
	db := influxd.Start(t)
	db.CreateDB(t, "emsd")
	demo, err := os.ReadFile(demoOnFreePorts(t))
	if err != nil {
		t.Fatal(err)
	}
	cfgText := string(demo) + fmt.Sprintf("influx: {enabled: true, url: %q, database: emsd, interval: 100ms}\n", db.URL())
	cfg, profiles, err := load(writeFile(t, "services.yaml", cfgText))
	if err != nil {
		t.Fatal(err)
	}
	before := goroutines()

	log := zaptest.NewLogger(t)
	svc, _, err := newServices(cfg, profiles, log, newNotifier(log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := svc.start(ctx); err != nil {
		svc.stop()
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "MQTT connected and a telemetry flush", func() bool {
		return svc.mqtt.Connected() && svc.rec.Stats().Points > 0
	})
	svc.stop()

	var left []string
	for id, g := range goroutines() {
		if _, old := before[id]; old {
			continue
		}
		if strings.Contains(g, "github.com/emsd/emsd/") || strings.Contains(g, "paho") || strings.Contains(g, "mochi-mqtt") {
			left = append(left, g)
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines of the services still running after stop:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
