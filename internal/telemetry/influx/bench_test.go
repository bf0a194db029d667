package influx

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

// The plant of the design card: 80 central PCS and 160 BMS (two battery
// containers per PCS), one point per device per second.
const (
	plantPCS = 80
	plantBMS = 160
	// plantPoints is the number of points per second of plant data.
	plantPoints = plantPCS + plantBMS
)

// plantSecond writes one second of plant telemetry at t: 80 PCS points of 10
// fields and 160 BMS points of 15 fields. It stops at the first dropped point
// and returns how many points were queued.
func plantSecond(w *Writer, sec int, t time.Time) int {
	x := float64(sec)
	for i := range plantPCS {
		ok := w.Write(Point{
			Measurement: "pcs",
			Tags:        map[string]string{"site": "demo", "device": fmt.Sprintf("pcs-%02d", i+1)},
			Fields: map[string]any{
				"p_kw": 2500 * math.Sin(x/300+float64(i)), "q_kvar": 300 * math.Cos(x/200),
				"p_set_kw": 2400.0, "q_set_kvar": 0.0,
				"v_ac_v": 690 + math.Sin(x), "i_ac_a": 2092.5, "f_hz": 50 + 0.02*math.Sin(x/10),
				"v_dc_v": 1200.0 + float64(i%7), "temp_c": 41.5, "state": 3,
			},
			Time: t,
		})
		if !ok {
			return i
		}
	}
	for i := range plantBMS {
		ok := w.Write(Point{
			Measurement: "bms",
			Tags:        map[string]string{"site": "demo", "device": fmt.Sprintf("bms-%03d", i+1)},
			Fields: map[string]any{
				"soc_pct": 50 + 40*math.Sin(x/3600), "soh_pct": 98.2, "v_v": 1331.2, "i_a": -941.3,
				"p_kw": -1253.1, "cell_v_max": 3.341, "cell_v_min": 3.318,
				"cell_t_max_c": 31.5, "cell_t_min_c": 24.0,
				"charge_limit_kw": 2500.0, "discharge_limit_kw": 2500.0,
				"alarm_level": 0, "contactor_closed": true, "cycles": 412 + i,
				"insulation_kohm": 1520.0,
			},
			Time: t,
		})
		if !ok {
			return plantPCS + i
		}
	}
	return plantPoints
}

// BenchmarkPlantWrite measures the sustained write rate of plant-shaped
// telemetry into a real influxd with zero loss: the producer never lets the
// queue overflow (it waits for room), every point must be in the database at
// the end, and the time includes writing the last point.
//
//	go test -run '^$' -bench PlantWrite -benchtime 480000x ./internal/telemetry/influx/
func BenchmarkPlantWrite(b *testing.B) {
	for _, batch := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchPlantWrite(b, batch)
		})
	}
}

func benchPlantWrite(b *testing.B, batchSize int) {
	srv := influxd.Start(b)
	srv.CreateDB(b, testDB)
	cfg := testConfig(b, srv, b.TempDir())
	cfg.BatchSize = batchSize
	cfg.FlushInterval = 100 * time.Millisecond // only the last batch waits for it
	cfg.WriteTimeout = 30 * time.Second
	w, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	seconds := (b.N + plantPoints - 1) / plantPoints
	total := seconds * plantPoints
	base := time.Unix(1_700_000_000, 0)

	b.ResetTimer()
	start := time.Now()
	for sec := range seconds {
		for len(w.in) > w.cfg.QueueSize-plantPoints { // backpressure, no drops
			time.Sleep(200 * time.Microsecond)
		}
		if n := plantSecond(w, sec, base.Add(time.Duration(sec)*time.Second)); n != plantPoints {
			b.Fatalf("second %d: only %d points queued", sec, n)
		}
	}
	testutil.WaitFor(b, 10*time.Minute, "all points written", drained(w, uint64(total)))
	elapsed := time.Since(start)
	b.StopTimer()
	closeWriter(b, w, 10*time.Second)

	s := w.Stats()
	if s.DroppedTotal() != 0 || s.Written != uint64(total) || s.WriteErrors != 0 {
		b.Fatalf("stats = %+v, want %d written and no loss", s, total)
	}
	pcs, bms := srv.Count(b, testDB, "pcs"), srv.Count(b, testDB, "bms")
	if pcs != int64(seconds*plantPCS) || bms != int64(seconds*plantBMS) {
		b.Fatalf("database holds %d pcs + %d bms points, want %d + %d", pcs, bms, seconds*plantPCS, seconds*plantBMS)
	}
	rate := float64(total) / elapsed.Seconds()
	fields := float64(seconds*(plantPCS*10+plantBMS*15)) / elapsed.Seconds()
	b.ReportMetric(rate, "points/s")
	b.ReportMetric(fields, "fields/s")
	b.ReportMetric(rate/plantPoints, "plant-seconds/s")
	b.Logf("%d points (%d plant-seconds) in %v: %.0f points/s, %.0f fields/s, %.0fx real time, 0 lost",
		total, seconds, elapsed.Round(time.Millisecond), rate, fields, rate/plantPoints)
}

// TestPlantRealtime runs the plant at its real rate (240 points every second)
// for a few seconds and checks that nothing is lost and the queue stays short.
func TestPlantRealtime(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	cfg := testConfig(t, srv, t.TempDir())
	cfg.BatchSize, cfg.FlushInterval = 5000, time.Second
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const seconds = 5
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now().Truncate(time.Second)
	for sec := range seconds {
		if n := plantSecond(w, sec, start.Add(time.Duration(sec)*time.Second)); n != plantPoints {
			t.Fatalf("second %d: only %d points queued", sec, n)
		}
		<-tick.C
	}
	testutil.WaitFor(t, 10*time.Second, "all points written", drained(w, seconds*plantPoints))
	closeWriter(t, w, 5*time.Second)
	s := w.Stats()
	if s.Written != seconds*plantPoints || s.DroppedTotal() != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if pcs, bms := srv.Count(t, testDB, "pcs"), srv.Count(t, testDB, "bms"); pcs != seconds*plantPCS || bms != seconds*plantBMS {
		t.Fatalf("database holds %d pcs + %d bms points", pcs, bms)
	}
	t.Logf("plant at real time: %d points in %ds, last write latency %v", seconds*plantPoints, seconds, s.LastWriteLatency)
}
