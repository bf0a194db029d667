package sunspec_test

import (
	"context"
	"math"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/sunspec"
	"github.com/emsd/emsd/internal/sunspecsim"
	"github.com/emsd/emsd/internal/testutil"
)

// TestMeterProfilePolled: emsd's own poller (devices.Device) runs the
// generated meter profile against the SunSpec simulator: the standard
// points arrive good with their values, the not-implemented one never
// reads good.
func TestMeterProfilePolled(t *testing.T) {
	img := build(t, 40000, []sunspecsim.Model{
		{ID: 1},
		{ID: 701, Values: map[string]float64{"W_SF": -1, "W": 812.3, "Hz_SF": -2, "Hz": 50.02, "TotWh_SF": 0, "TotWhInj": math.NaN()}},
	}, false)
	addr := testutil.FreeAddr(t)
	srv, err := sunspecsim.Serve(addr, img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := sunspec.Discover(sunspec.ModbusReader{C: dial(t, addr), Unit: 1})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.MeterProfile("sunspec-meter", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	im := procimg.New()
	d, err := devices.New(devices.Options{Name: "poi", Address: addr, UnitID: 1, Profile: p, Timeout: 5 * time.Second}, im, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	val := func(name string) procimg.Value { return d.Value(p.Point(name), time.Now()) }
	testutil.WaitFor(t, 20*time.Second, "p_kw read good", func() bool { return val(plant.PointP).Good() })
	for name, want := range map[string]float64{plant.PointP: 0.8123, plant.PointF: 50.02} {
		if v := val(name); !v.Good() || math.Abs(v.V-want) > 1e-9 {
			t.Errorf("%s = %+v, want %v good", name, v, want)
		}
	}
	if v := val(plant.PointEExport); v.Good() {
		t.Errorf("e_export_kwh (not implemented) = %+v, graded good", v)
	}
}
