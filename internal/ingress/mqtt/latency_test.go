package mqtt

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/emsd/emsd/internal/command"
)

// roundTrips publishes n setpoint commands one after another, each after
// the previous reply, and returns the publish-to-reply times.
func roundTrips(t testing.TB, n int, nodelay bool) ([]time.Duration, string) {
	b := newBrokerOpt(t, brokerOpts{nodelay: nodelay})
	startClient(t, b.Addr(), command.NewHandler(&recBus{}, command.HandlerOptions{}), nil)
	op := newOperator(t, b.Addr())
	awaitOnline(t, op)
	replies := op.sub("emsd/" + site + "/cmd/setpoint/reply")
	rtt := make([]time.Duration, 0, n)
	if b, ok := t.(*testing.B); ok {
		b.ResetTimer() // ns/op is the mean round trip
	}
	for i := range n {
		id := fmt.Sprintf("lat-%d", i)
		payload := fmt.Appendf(nil, `{"id":%q,"p":%d,"q":0}`, id, i)
		start := time.Now()
		op.pc.Publish("emsd/"+site+"/cmd/setpoint", 1, false, payload) // not waiting for PUBACK: time to the reply
		m := await(t, replies, 5*time.Second, "reply "+id, func(paho.Message) bool { return true })
		rtt = append(rtt, time.Since(start))
		var rep command.Reply
		if err := json.Unmarshal(m.Payload(), &rep); err != nil || rep.ID != id || !rep.OK {
			t.Fatalf("reply %s = %s (%v)", id, m.Payload(), err)
		}
	}
	return rtt, b.Kind()
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// TestCommandRoundTripLatency measures MQTT command round trips (operator
// publish -> broker -> client -> handler -> reply -> broker -> operator)
// on loopback and logs the percentiles.
func TestCommandRoundTripLatency(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 100
	}
	for _, nodelay := range []bool{true, false} {
		t.Run(fmt.Sprintf("nodelay=%v", nodelay), func(t *testing.T) {
			n := n
			if !nodelay {
				n /= 5 // each round trip waits ~40 ms for a delayed ACK
			}
			rtt, kind := roundTrips(t, n, nodelay)
			slices.Sort(rtt)
			t.Logf("command round trip over %s, %d commands: p50 %v  p90 %v  p99 %v  max %v",
				kind, n, percentile(rtt, 0.50), percentile(rtt, 0.90), percentile(rtt, 0.99), rtt[len(rtt)-1])
			if p99 := percentile(rtt, 0.99); p99 > time.Second {
				t.Errorf("p99 round trip %v exceeds 1 s on loopback", p99)
			}
		})
	}
}

// BenchmarkCommandRoundTrip reports the same figures over b.N commands,
// on a broker with TCP_NODELAY.
func BenchmarkCommandRoundTrip(b *testing.B) {
	rtt, _ := roundTrips(b, b.N, true)
	slices.Sort(rtt)
	b.ReportMetric(float64(percentile(rtt, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(rtt, 0.99).Microseconds()), "p99-µs")
}
