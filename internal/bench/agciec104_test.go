package bench

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
)

// TestAGCOverIEC104 runs agc-iec104 briefly on a small station: every
// target goes over IEC 104 and is confirmed, the PCS acknowledge, and the
// run is scored like agc.
func TestAGCOverIEC104(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time closed loop")
	}
	testutil.SharedData(t, "traces/pjm-regulation-2017-08-01_02-2s.csv")
	res, err := Run(context.Background(), Options{Scenario: "agc-iec104", Config: "test.yaml", ConfigYAML: small(),
		Duration: 10 * time.Second, Speed: 5, FreePorts: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) float64 {
		v, ok := res.Get(name)
		if !ok {
			t.Fatalf("no %q in the result", name)
		}
		return v
	}
	// 50 s of trace at a target every 2 s, and the 8 step commands.
	if n := get("IEC 104 setpoints"); n < 25 {
		t.Errorf("%v setpoints confirmed, want at least 25", n)
	}
	if p := get("setpoint → ActCon p50"); !(p > 0 && p < 2000) {
		t.Errorf("ActCon p50 %v ms", p)
	}
	if p := get("setpoint → all PCS acknowledged p50"); math.IsNaN(p) || p <= 0 {
		t.Errorf("all-acknowledged p50 %v ms", p)
	}
	if k := get("Kp"); !(k > 6) {
		t.Errorf("Kp %v over IEC 104: the targets did not arrive", k)
	}
}
