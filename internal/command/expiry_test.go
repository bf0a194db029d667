package command

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/testutil/planttest"
)

// dispatcherBus submits to the station's real dispatcher.
type dispatcherBus struct{ d *planttest.Dispatcher }

func (b dispatcherBus) Submit(ctx context.Context, cmd dispatch.Command, _ Source) (time.Time, error) {
	return b.d.Submit(ctx, cmd)
}

// TestExpiredWhileWaitingIsNotApplied holds the real dispatcher's lock (a
// control cycle that takes long) past a command's expires_at, then lets
// it go: the command must be refused as stale, not applied late. The wait
// ends well before the submit timeout, so only expires_at can stop it.
func TestExpiredWhileWaitingIsNotApplied(t *testing.T) {
	ctl, err := dispatch.New(dispatch.DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	inCycle, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d := planttest.WrapDispatcher(ctl, zap.NewNop(), func([]dispatch.Event) {
		once.Do(func() { close(inCycle); <-release }) // the cycle holds the lock here
	})
	// An estop and its reset make the next cycle report events.
	for _, c := range []dispatch.Command{dispatch.EStop{}, dispatch.Reset{}} {
		if _, err := d.Submit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	go d.Step(&plant.View{At: time.Now()}, nil)
	<-inCycle

	h := NewHandler(dispatcherBus{d}, HandlerOptions{SubmitTimeout: 5 * time.Second})
	exp := time.Now().Add(50 * time.Millisecond)
	done := make(chan Reply)
	go func() {
		done <- h.Handle(context.Background(), NameMode,
			[]byte(`{"id":"late","mode":"manual","expires_at":"`+exp.UTC().Format(time.RFC3339Nano)+`"}`), mqttSrc)
	}()
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	close(release)
	rep := <-done
	if rep.OK || !strings.Contains(rep.Error, "expired before the control loop applied it") {
		t.Errorf("command past its expires_at after waiting for the control loop: %+v, want refused as stale", rep)
	}
	if m := d.Mode(); m != dispatch.ModeStandby {
		t.Errorf("mode %s: the expired command was applied", m)
	}
}
