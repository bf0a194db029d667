package bench

import (
	"context"
	"testing"

	"github.com/emsd/emsd/internal/testutil"
)

// TestFailoverScenario runs the failover scenario once on the demo plant
// against a real etcd: a takeover happens, the plant output holds, and the
// leader cut off from etcd writes nothing after it. (Its time is a
// benchmark figure, not checked here.)
func TestFailoverScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs etcd and two station runtimes for about 15 s")
	}
	testutil.NeedProgram(t, "etcd")
	res, err := Run(context.Background(), Options{Scenario: "failover", Config: "../../configs/demo.yaml", FreePorts: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range res.KPIs {
		t.Logf("%s: %v %s", k.Name, k.Value, k.Unit)
	}
	if v, ok := res.Get("writes by the stale leader after the takeover"); !ok || v != 0 {
		t.Errorf("the stale leader wrote %v times after the takeover, want 0", v)
	}
	if v, ok := res.Get("max |output - request| during the takeover"); !ok || v > 2 {
		t.Errorf("output moved %v %% of rated during the takeover, want within 2 %%", v)
	}
}
