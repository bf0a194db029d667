package mqtt

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/station"
)

// dispatcherBus hands commands to a real dispatcher, as the daemon does.
type dispatcherBus struct{ d *station.Dispatcher }

func (b dispatcherBus) Submit(ctx context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	return b.d.Submit(ctx, cmd)
}

// TestReactiveCommandThroughBroker: the reactive command goes through a
// real broker to a real dispatcher; a valid one is applied, and each
// invalid one comes back refused with its reason.
func TestReactiveCommandThroughBroker(t *testing.T) {
	b := newBroker(t)
	ctl, err := dispatch.New(dispatch.DefaultConfig(10000))
	if err != nil {
		t.Fatal(err)
	}
	h := command.NewHandler(dispatcherBus{station.NewDispatcher(ctl, zap.NewNop(), nil)}, command.HandlerOptions{})
	startClient(t, b.Addr(), h, nil)
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/+/reply")
	for _, c := range []struct{ id, payload, err string }{ // err "" = accepted
		{"q-1", `{"id":"q-1","mode":"voltage","v_ref":10200,"dead_band":20,"ki":5,"q_max":3000,"q_min":-3000,"priority":"q"}`, ""},
		{"q-2", `{"id":"q-2","mode":"fixed_q","q":2000,"q_max":12000,"q_min":-100}`, "reactive refused: q_max: 12000 kvar exceeds the plant rating 10000"},
		{"q-3", `{"id":"q-3","mode":"fixed_q","q":2000,"q_max":1000,"q_min":-100}`, "q: 2000 kvar is outside q_min..q_max"},
		{"q-4", `{"id":"q-4","mode":"vars","q_max":0,"q_min":0}`, `mode: unknown reactive mode "vars"`},
		{"q-5", `{"id":"q-5","mode":"q_u","v_ref":10000,"droop_pct":5,"q_max":1000,"q_min":-1000,"slope":3}`, `unknown field "slope"`},
	} {
		op.pub("emsd/"+site+"/cmd/reactive", []byte(c.payload), false)
		rep, topic := replyFor(t, replies, c.id)
		if topic != "emsd/site1/cmd/reactive/reply" {
			t.Errorf("%s: reply topic %s", c.id, topic)
		}
		switch {
		case c.err == "" && !rep.OK:
			t.Errorf("%s: refused: %+v", c.id, rep)
		case c.err != "" && (rep.OK || !strings.Contains(rep.Error, c.err)):
			t.Errorf("%s: reply %+v, want a refusal containing %q", c.id, rep, c.err)
		}
	}
}
