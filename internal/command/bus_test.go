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

// heldDispatcher returns a real dispatcher in the middle of a control
// cycle that holds its lock until release is called (release is also
// deferred to the test's cleanup, so the cycle always ends).
func heldDispatcher(t *testing.T) (d *planttest.Dispatcher, release func()) {
	t.Helper()
	ctl, err := dispatch.New(dispatch.DefaultConfig(1000))
	if err != nil {
		t.Fatal(err)
	}
	inCycle, released := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	d = planttest.WrapDispatcher(ctl, zap.NewNop(), func([]dispatch.Event) {
		once.Do(func() { close(inCycle); <-released }) // the cycle holds the lock here
	})
	// An estop and its reset make the next cycle report events.
	for _, c := range []dispatch.Command{dispatch.EStop{}, dispatch.Reset{}} {
		if _, err := d.Submit(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	stepped := make(chan struct{})
	go func() { defer close(stepped); d.Step(&plant.View{At: time.Now()}, nil) }()
	<-inCycle
	release = func() { releaseOnce.Do(func() { close(released) }) }
	t.Cleanup(func() { release(); <-stepped })
	return d, release
}

// TestSubmitReturnsOnceCtxIsDone keeps the Bus promise with the real
// dispatcher: while a control cycle holds the dispatcher, a command whose
// submit timeout runs out is answered at once with the timeout, not when
// the cycle ends, and it is not applied afterwards either.
func TestSubmitReturnsOnceCtxIsDone(t *testing.T) {
	d, release := heldDispatcher(t)
	const timeout = 50 * time.Millisecond
	h := NewHandler(dispatcherBus{d}, HandlerOptions{SubmitTimeout: timeout})
	done := make(chan Reply, 1)
	start := time.Now()
	go func() {
		done <- h.Handle(context.Background(), NameMode, []byte(`{"id":"wait","mode":"manual"}`), mqttSrc)
	}()
	var rep Reply
	select {
	case rep = <-done:
	case <-time.After(2 * time.Second):
		release()
		rep = <-done
		t.Fatalf("Submit still waiting %v after its ctx ended (timeout %v); after the cycle ended: %+v",
			time.Since(start).Round(time.Millisecond), timeout, rep)
	}
	if rep.OK || !strings.Contains(rep.Error, "did not take the command within") {
		t.Errorf("reply %+v, want refused: the control loop did not take it in time", rep)
	}
	release()
	if m := d.Mode(); m != dispatch.ModeStandby {
		t.Errorf("mode %s: the abandoned command was applied", m)
	}
}
