package station_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/station"
)

// TestCommandTriggersACycle: an applied command asks for a cycle at the
// next reading instead of the next tick; the cycle clears the request, and
// a refused command makes none.
func TestCommandTriggersACycle(t *testing.T) {
	ctl, err := dispatch.New(dispatch.DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	d := station.NewDispatcher(ctl, zap.NewNop(), nil)
	f := procimg.Value{V: 50, Q: procimg.Good, At: time.Now()}
	if d.FastTrigger(f) {
		t.Fatal("a cycle asked for with frequency response off and no command")
	}
	if _, err := d.Submit(context.Background(), dispatch.ManualSetpoint{P: 1e9}); err == nil {
		t.Fatal("an impossible setpoint was accepted")
	}
	if d.FastTrigger(f) {
		t.Error("a refused command asked for a cycle")
	}
	if _, err := d.Submit(context.Background(), dispatch.ManualSetpoint{P: 100}); err != nil {
		t.Fatal(err)
	}
	if !d.FastTrigger(procimg.Value{Q: procimg.Lost}) {
		t.Error("an applied command did not ask for a cycle (even on a lost frequency reading)")
	}
	out := []plant.Setpoint{}
	d.Step(&plant.View{At: time.Now()}, out)
	if d.FastTrigger(f) {
		t.Error("the request outlived the cycle")
	}
}
