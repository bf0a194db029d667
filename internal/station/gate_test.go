package station_test

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/station"
	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// TestGatedStationWritesNothing is the standby of a pair: its gate is
// closed, so while its control loop runs (in manual mode at 400 kW) no
// request of any kind reaches the plant, and on stop it does not ramp; once
// the gate opens (the standby took over) it delivers the order.
func TestGatedStationWritesNothing(t *testing.T) {
	cfg := planttest.Config(t, planttest.Spec{Name: "gated", Units: 2, RatedKW: 1000, CapKWh: 2000,
		Control: "period: 20ms, heartbeat_period: 100ms, shutdown_timeout: 3s, summary_period: 0s"})
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	plant := planttest.StartPlant(t, cfg, log)
	disp := planttest.NewDispatcher(t, cfg, log)
	var open atomic.Bool
	st := planttest.NewStation(t, cfg, log, station.Options{Controller: disp, Gate: open.Load})
	run := planttest.Run(t, st)
	testutil.WaitFor(t, 5*time.Second, "the first full poll", st.Ready)
	for _, c := range []dispatch.Command{dispatch.ManualSetpoint{P: 400}, dispatch.SetMode{Mode: dispatch.ModeManual}} {
		if _, err := disp.Submit(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // 25 cycles, 5 heartbeat periods
	if w := plant.Writes(); len(w) != 0 {
		t.Fatalf("a closed gate let writes through: %+v", w)
	}
	open.Store(true)
	testutil.WaitFor(t, 5*time.Second, "400 kW once the gate opens", func() bool { return plant.Snapshot().POI.PKW > 390 })

	// Closed again, a stop does not ramp: the units stay at power (until
	// their own heartbeat watchdog, 5 s in the simulator).
	open.Store(false)
	time.Sleep(100 * time.Millisecond) // a write in flight lands
	run.Cancel()
	if err := run.Wait(5 * time.Second); err != nil {
		t.Fatalf("a gated station's stop: %v", err)
	}
	if p := plant.Snapshot().POI.PKW; p < 390 {
		t.Fatalf("POI %.0f kW after a gated station stopped: it ramped the plant", p)
	}
}
