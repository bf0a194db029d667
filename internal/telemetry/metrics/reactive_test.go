package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/reactive"
)

type fakePlant struct{}

func (fakePlant) Latest() plant.View         { return plant.View{} }
func (fakePlant) Ready() bool                { return true }
func (fakePlant) Devices() []*devices.Device { return nil }

type fakeDispatch struct{ r dispatch.Report }

func (f fakeDispatch) Report() dispatch.Report { return f.r }
func (fakeDispatch) Mode() dispatch.Mode       { return dispatch.ModeManual }
func (fakeDispatch) States() []dispatch.State  { return nil }

// TestReactiveGauges: the Q target and the Q binding come from the report;
// exactly one binding is flagged.
func TestReactiveGauges(t *testing.T) {
	for _, c := range []struct {
		b    reactive.Binding
		want string
	}{{reactive.BindApparent, "apparent_power"}, {reactive.BindVoltage, "voltage_unknown"}, {"", "none"}} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(&plantCollector{p: fakePlant{}, d: fakeDispatch{dispatch.Report{QTarget: 1234, QBinding: c.b}}})
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var target float64
		flagged := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.Metric {
				switch mf.GetName() {
				case "emsd_dispatch_q_target_kvar":
					target = m.Gauge.GetValue()
				case "emsd_dispatch_q_binding":
					flagged[m.Label[0].GetValue()] = m.Gauge.GetValue()
				}
			}
		}
		if target != 1234 {
			t.Errorf("q target %v, want 1234", target)
		}
		var n float64
		for _, v := range flagged {
			n += v
		}
		if len(flagged) != 4 || n != 1 || flagged[c.want] != 1 {
			t.Errorf("binding %q: flagged %v, want %s alone", c.b, flagged, c.want)
		}
	}
}
