package command

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
)

// slowBus applies a command after a delay, unless the context ends first.
type slowBus struct{ delay time.Duration }

func (b slowBus) Submit(ctx context.Context, _ dispatch.Command, _ Source) (time.Time, error) {
	select {
	case <-time.After(b.delay):
		return time.Now(), nil
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// Options left zero get their documented defaults (5 s to submit, 64 KiB
// payloads); options that are set are kept.
func TestHandlerOptionDefaultsAndOverrides(t *testing.T) {
	src := Source{Transport: "mqtt", Topic: "emsd/site/cmd/mode"}
	mode := []byte(`{"id":"o1","mode":"manual"}`)

	if rep := NewHandler(slowBus{50 * time.Millisecond}, HandlerOptions{}).Handle(context.Background(), NameMode, mode, src); !rep.OK {
		t.Errorf("default submit timeout: a loop taking 50 ms was not waited for: %+v", rep)
	}
	if rep := NewHandler(slowBus{time.Second}, HandlerOptions{SubmitTimeout: 20 * time.Millisecond}).Handle(context.Background(), NameMode, mode, src); rep.OK || !strings.Contains(rep.Error, "20ms") {
		t.Errorf("submit timeout 20 ms: %+v, want not applied within 20ms", rep)
	}

	padded := []byte(`{"id":"o2","mode":"manual","x":"` + strings.Repeat(" ", 200) + `"}`)
	if rep := NewHandler(slowBus{}, HandlerOptions{MaxPayload: 100}).Handle(context.Background(), NameMode, padded, src); rep.OK || !strings.Contains(rep.Error, "limit of 100") {
		t.Errorf("max payload 100, %d-byte payload: %+v, want refused over the limit", len(padded), rep)
	}
	big := []byte(`{"id":"o3","mode":"manual","x":"` + strings.Repeat(" ", DefaultMaxPayload) + `"}`)
	if rep := NewHandler(slowBus{}, HandlerOptions{}).Handle(context.Background(), NameMode, big, src); rep.OK || !strings.Contains(rep.Error, "limit of") {
		t.Errorf("default max payload, %d-byte payload: %+v, want refused over the limit", len(big), rep)
	}
}

// refusingBus refuses every command with its reason.
type refusingBus struct{ err error }

func (b refusingBus) Submit(context.Context, dispatch.Command, Source) (time.Time, error) {
	return time.Time{}, b.err
}

// A redelivered command gets the earlier reply as it was: the refusal's
// reason, or a clean ok.
func TestRedeliveryRepeatsTheReplyAsItWas(t *testing.T) {
	src := Source{Transport: "mqtt", Topic: "emsd/site/cmd/mode"}
	mode := []byte(`{"id":"r1","mode":"manual"}`)
	h := NewHandler(refusingBus{errors.New("mode: no schedule uploaded")}, HandlerOptions{})
	first := h.Handle(context.Background(), NameMode, mode, src)
	again := h.Handle(context.Background(), NameMode, mode, src)
	if first.OK || !strings.Contains(first.Error, "no schedule") || again != first {
		t.Errorf("refused: first %+v, redelivered %+v; want the same refusal twice", first, again)
	}
	h = NewHandler(slowBus{}, HandlerOptions{})
	first = h.Handle(context.Background(), NameMode, mode, src)
	again = h.Handle(context.Background(), NameMode, mode, src)
	if !first.OK || again.OK != first.OK || again.Error != "" || again.ID != "r1" {
		t.Errorf("accepted: first %+v, redelivered %+v; want the same clean ok", first, again)
	}
}
