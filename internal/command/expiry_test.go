package command

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
)

// TestExpiredWhileWaitingIsNotApplied holds the real dispatcher's lock (a
// control cycle that takes long) past a command's expires_at, then lets
// it go: the command must be refused as stale, not applied late. The wait
// ends well before the submit timeout, so only expires_at can stop it.
func TestExpiredWhileWaitingIsNotApplied(t *testing.T) {
	d, release := heldDispatcher(t)

	h := NewHandler(dispatcherBus{d}, HandlerOptions{SubmitTimeout: 5 * time.Second})
	exp := time.Now().Add(50 * time.Millisecond)
	done := make(chan Reply)
	go func() {
		done <- h.Handle(context.Background(), NameMode,
			[]byte(`{"id":"late","mode":"manual","expires_at":"`+exp.UTC().Format(time.RFC3339Nano)+`"}`), mqttSrc)
	}()
	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	release()
	rep := <-done
	if rep.OK || !strings.Contains(rep.Error, "expired before the control loop applied it") {
		t.Errorf("command past its expires_at after waiting for the control loop: %+v, want refused as stale", rep)
	}
	if m := d.Mode(); m != dispatch.ModeStandby {
		t.Errorf("mode %s: the expired command was applied", m)
	}
}
