package kpi

import (
	"math"
	"strings"
	"testing"
)

func TestAGCNorthChina(t *testing.T) {
	// Pe = 100 MW: Vn = 1.5 MW/min, a = 1.5 MW, T = 20 s, band 1 MW.
	// Command 50 -> 70 MW at 100 s; the last command sample repeats 70 and
	// does not count. Output ramps 50 -> 70 from 110 s to 130 s (1 MW/s).
	cmdT, cmd := []float64{0, 100, 300}, []float64{50, 70, 70}
	mT := []float64{0, 100, 110, 130, 140, 200, 300}
	m := []float64{50, 50, 50, 70, 70.3, 69.9, 70.1}
	res, err := AGCScore(cmdT, cmd, mT, m, NorthChinaAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commands) != 1 || res.Discarded != 0 {
		t.Fatalf("got %d commands, %d discarded", len(res.Commands), res.Discarded)
	}
	c := res.Commands[0]
	// Leaves 51 MW at 110 + 1/20·20 = 111 s: t_resp = 11 s, K3 = 2 - 11/20 = 1.45.
	// Arrives at 69 MW at 110 + 19/20·20 = 129 s.
	// V = (20 - 2) MW / (129 - 111) s · 60 = 60 MW/min, K1 = 2 - 1.5/60 = 1.975.
	// Samples in [129, 300): 70, 70.3, 69.9 -> ΔP = (0+0.3+0.1)/3 = 0.13333,
	// K2 = 2 - 0.13333/1.5 = 1.911111.
	// Kp = 1.975 · 1.911111 · 1.45 = 5.4729444.
	checkCmd(t, c, AGCCommand{Start: 100, End: 300, From: 50, To: 70, LeaveTime: 111, ArriveTime: 129,
		ResponseTime: 11, Rate: 60, RateMeasured: true, MeanError: 0.4 / 3,
		K1: 1.975, K2: 2 - 0.4/3/1.5, K3: 1.45, Kp: 1.975 * (2 - 0.4/3/1.5) * 1.45})
	if !near(res.MeanKp, 5.4729444) || !near(res.MeanK1, 1.975) {
		t.Errorf("means %+v", res)
	}

	// Mengxi on the same run: V/Vn = 60/1.5 = 40 > 4.2 -> K1 = 0.1;
	// a = 0.8 MW: K2 = 2 - 0.13333/0.8 = 1.833333; T = 60: K3 = 2 - 11/60 = 1.816667.
	// Kp = 0.1 · 1.833333 · 1.816667 = 0.3330556.
	res, err = AGCScore(cmdT, cmd, mT, m, MengxiAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	c = res.Commands[0]
	if !near(c.K1, 0.1) || !near(c.K2, 1.8333333) || !near(c.K3, 1.8166667) || !near(c.Kp, 0.3330556) {
		t.Errorf("Mengxi: %+v", c)
	}
}

func TestAGCDownNoArrivalAndThreshold(t *testing.T) {
	// 50.5 at 50 s moves only 0.5 MW (≤ 1 % of 100 MW): ignored. At 60 s the
	// command 50 -> 30 counts (from 50, the last counted command).
	cmdT, cmd := []float64{0, 50, 60, 200}, []float64{50, 50.5, 30, 30}
	mT, m := []float64{0, 60, 70, 200}, []float64{50, 50, 45, 40}
	res, err := AGCScore(cmdT, cmd, mT, m, NorthChinaAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commands) != 1 {
		t.Fatalf("got %d commands", len(res.Commands))
	}
	c := res.Commands[0]
	// Leaves 49 MW at 60 + (49-50)/(45-50)·10 = 62 s: K3 = 2 - 2/20 = 1.9.
	// Never reaches 31 MW: K1 = K2 = 0.1; Kp = 0.1·0.1·1.9 = 0.019.
	if c.From != 50 || c.To != 30 || !near(c.LeaveTime, 62) || !math.IsNaN(c.ArriveTime) ||
		c.RateMeasured || !near(c.K1, 0.1) || !near(c.K2, 0.1) || !near(c.K3, 1.9) || !near(c.Kp, 0.019) {
		t.Errorf("got %+v", c)
	}
}

func TestAGCMengxiRateAndCap(t *testing.T) {
	p := MengxiAGC(100)
	// Ramp 50 -> 70 MW over 100..500 s (0.05 MW/s). Leaves 51 MW at 120 s,
	// arrives at 69 MW at 480 s: V = 18/360·60 = 3 MW/min, K1 = 3/1.5 = 2.
	// t_resp = 20 s: K3 = 2 - 20/60 = 1.666667. Samples after arrival are 70:
	// K2 = 2. Kp = 2·2·1.666667 = 6.666667.
	res, err := AGCScore([]float64{0, 100}, []float64{50, 70},
		[]float64{0, 100, 500, 600, 700}, []float64{50, 50, 70, 70, 70}, p)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Commands[0]
	if !near(c.Rate, 3) || !near(c.K1, 2) || c.K2 != 2 || !near(c.K3, 5.0/3) || !near(c.Kp, 20.0/3) {
		t.Errorf("slow ramp: %+v", c)
	}
	// Ramp 0.1 MW/s from 100 s: leaves at 110 s, arrives 290 s,
	// V = 18/180·60 = 6 MW/min, K1 = 4; K2 = 2; K3 = 2 - 10/60 = 1.833333.
	// 4·2·1.833333 = 14.67, capped at 8.
	res, err = AGCScore([]float64{0, 100}, []float64{50, 70},
		[]float64{0, 100, 300, 400}, []float64{50, 50, 70, 70}, p)
	if err != nil {
		t.Fatal(err)
	}
	c = res.Commands[0]
	if !near(c.K1, 4) || !near(c.K3, 11.0/6) || c.Kp != 8 {
		t.Errorf("capped: %+v", c)
	}
}

func TestAGCDiscardAndOverlap(t *testing.T) {
	// Mengxi: 50 -> 70 at 100 s lasts 20 s (≤ 30 s): discarded. 70 -> 50 at
	// 120 s runs to the end of the record (400 s). The output already sits at
	// 50, beyond both bands at 120 s: leave = arrive = 120 s, t_resp = 0,
	// V = +Inf -> Mengxi K1 = 0.1 (above 4.2); K2 = K3 = 2; Kp = 0.4.
	res, err := AGCScore([]float64{0, 100, 120}, []float64{50, 70, 50},
		[]float64{0, 400}, []float64{50, 50}, MengxiAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	if res.Discarded != 1 || len(res.Commands) != 1 {
		t.Fatalf("discarded %d, commands %d", res.Discarded, len(res.Commands))
	}
	c := res.Commands[0]
	if c.From != 70 || c.To != 50 || c.Start != 120 || c.End != 400 || !math.IsInf(c.Rate, 1) ||
		c.K1 != 0.1 || c.K2 != 2 || c.K3 != 2 || !near(c.Kp, 0.4) {
		t.Errorf("got %+v", c)
	}

	// North China, step of 1.5 MW (> 1 MW threshold, ≤ 2 MW so the bands
	// overlap): rate not measurable, K1 = 1. Output jumps 50 -> 51.5 between
	// 10 and 11 s: leaves 51 at 10 + 1/1.5 = 10.6667 s (t_resp 0.6667 s,
	// K3 = 2 - 0.6667/20 = 1.966667); arrives at 50.5 at 10.3333 s; samples
	// after: 51.5, 51.5 -> ΔP 0, K2 = 2. Kp = 1·2·1.966667 = 3.933333.
	res, err = AGCScore([]float64{0, 10}, []float64{50, 51.5},
		[]float64{0, 10, 11, 50}, []float64{50, 50, 51.5, 51.5}, NorthChinaAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	c = res.Commands[0]
	if c.RateMeasured || c.K1 != 1 || !near(c.ArriveTime, 10+1.0/3) || !near(c.ResponseTime, 2.0/3) ||
		c.K2 != 2 || !near(c.Kp, 2*(2-2.0/3/20)) {
		t.Errorf("overlap: %+v", c)
	}
}

func TestAGCMeanAndErrors(t *testing.T) {
	// Two commands: 50 -> 70 at 100 s (perfect ramp at 1 MW/s from 100 s) and
	// 70 -> 50 at 300 s with no response at all.
	// First: leave 101, arrive 119, V = 18/18·60 = 60, K1 = 1.975; samples
	// after arrival 70, 70 -> K2 = 2; t_resp 1 -> K3 = 1.95; Kp = 7.7025.
	// Second: never leaves, never arrives: 0.1·0.1·0.1 = 0.001.
	// Mean Kp = (7.7025 + 0.001)/2 = 3.85175.
	res, err := AGCScore([]float64{0, 100, 300}, []float64{50, 70, 50},
		[]float64{0, 100, 120, 200, 300, 400}, []float64{50, 50, 70, 70, 70, 70}, NorthChinaAGC(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commands) != 2 || !near(res.Commands[0].Kp, 7.7025) || !near(res.Commands[1].Kp, 0.001) ||
		!near(res.MeanKp, 3.85175) || !near(res.MeanK3, (1.95+0.1)/2) {
		t.Errorf("got %+v", res)
	}
	if !math.IsNaN(res.Commands[1].ResponseTime) {
		t.Errorf("no response: ResponseTime %g, want NaN", res.Commands[1].ResponseTime)
	}

	// No counted command: zero means, no error.
	res, err = AGCScore([]float64{0}, []float64{50}, []float64{0, 1}, []float64{50, 50}, NorthChinaAGC(100))
	if err != nil || len(res.Commands) != 0 || res.MeanKp != 0 {
		t.Errorf("no commands: %+v, %v", res, err)
	}
	if _, err := AGCScore([]float64{0}, []float64{50}, []float64{0}, []float64{50}, AGCParams{Pe: 100}); err == nil ||
		!strings.Contains(err.Error(), "parameters") {
		t.Errorf("zero params: err = %v", err)
	}
	if _, err := AGCScore([]float64{0, 0}, []float64{50, 60}, []float64{0}, []float64{50}, NorthChinaAGC(100)); err == nil {
		t.Error("repeated command time: want error")
	}
}

func checkCmd(t *testing.T, got, want AGCCommand) {
	t.Helper()
	pairs := []struct {
		name string
		g, w float64
	}{
		{"Start", got.Start, want.Start}, {"End", got.End, want.End}, {"From", got.From, want.From},
		{"To", got.To, want.To}, {"LeaveTime", got.LeaveTime, want.LeaveTime},
		{"ArriveTime", got.ArriveTime, want.ArriveTime}, {"ResponseTime", got.ResponseTime, want.ResponseTime},
		{"Rate", got.Rate, want.Rate}, {"MeanError", got.MeanError, want.MeanError},
		{"K1", got.K1, want.K1}, {"K2", got.K2, want.K2}, {"K3", got.K3, want.K3}, {"Kp", got.Kp, want.Kp},
	}
	for _, p := range pairs {
		if !near(p.g, p.w) {
			t.Errorf("%s = %.9g, want %.9g", p.name, p.g, p.w)
		}
	}
	if got.RateMeasured != want.RateMeasured {
		t.Errorf("RateMeasured = %v", got.RateMeasured)
	}
}
