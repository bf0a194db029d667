package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/trace"
)

func init() {
	register("peak-shave", "configs/station-800mwh.yaml",
		"one day of site load (synthetic C&I-shaped day scaled to the plant unless -trace): max POI import vs the limit, energy shaved, SOC",
		runPeakShave)
	register("freq-trace", "configs/station-800mwh.yaml",
		"one day of the measured RTE frequency (or -trace) with primary frequency response, accelerated: throughput, SOC range, equivalent full cycles",
		runFreqTrace)
}

// syntheticLoad writes a one-day site load, 15 min resolution, shaped like
// a C&I site (night base, morning ramp, midday dip, evening peak) and
// scaled so that its peak is 1.5 × the plant's rated power.
func syntheticLoad(path string, ratedKW float64) error {
	// Fractions of the peak at each hour 0..24.
	shape := []float64{0.30, 0.28, 0.27, 0.27, 0.28, 0.32, 0.40, 0.52, 0.66, 0.78, 0.85, 0.88,
		0.80, 0.78, 0.84, 0.90, 0.95, 1.00, 0.98, 0.90, 0.75, 0.60, 0.45, 0.36, 0.30}
	peak := 1.5 * ratedKW
	return writeCSV(path, "t_s,load_kw", 24*4+1, func(b []byte, i int) []byte {
		h := float64(i) / 4
		k := int(h)
		v := shape[k]
		if k < 24 {
			v += (shape[k+1] - shape[k]) * (h - float64(k))
		}
		return appendFloats(b, h*3600, math.Round(v*peak))
	})
}

func runPeakShave(ctx context.Context, e *env, res *Result) error {
	cfg := e.plant.Cfg
	rated := cfg.Site.RatedPKW
	path := e.o.Trace
	if path == "" {
		dir := e.o.Out
		if dir == "" {
			d, err := os.MkdirTemp("", "emsbench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		path = filepath.Join(dir, "load.csv")
		if err := syntheticLoad(path, rated); err != nil {
			return err
		}
		res.Note("site load: synthetic C&I-shaped day peaking at 1.5 × rated power (written to %s)", path)
	}
	tr, err := trace.Load(path)
	if err != nil {
		return err
	}
	if tr.Kind != trace.LoadKW {
		return fmt.Errorf("%s: peak-shave needs a site-load trace (t_s,load_kw), this one is %v", path, tr.Kind)
	}
	peak := 0.0
	for _, v := range tr.V {
		peak = math.Max(peak, v)
	}
	limit := math.Max(0, peak-0.35*rated)
	speed := e.speed(1440)
	dur := e.duration(time.Duration(math.Min(tr.Duration(), 86400) / speed * float64(time.Second)))
	cfg.Simulator.Grid.LoadTrace = path
	cfg.Simulator.Grid.TraceSpeed = speed
	cfg.Simulator.Battery.TimeScale = speed
	cfg.Simulator.Battery.SOCPct = 60
	cfg.Site.POI.ImportLimitKW = math.Max(cfg.Site.POI.ImportLimitKW, peak+rated)
	cfg.Dispatch.RampKWPerS = 100 * rated
	margin := 0.01 * limit
	cfg.Dispatch.PeakShaving = configPeak(limit, margin, rated)
	cfg.Dispatch.Mode = string(dispatch.ModePeakShaving)
	cfg.Dispatch.FrequencyResponse.Enabled = false
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	var cmd Value
	cmd.Set(-limit)
	rec := Record(r.Sim, r.SimStart, speed, 20*time.Millisecond, 50, &cmd)
	e.progress("peak-shave: %.0f h of load at %g× (%v wall), import limit %.0f kW", dur.Seconds()*speed/3600, speed, dur.Round(time.Second), limit)
	sleepCtx(ctx, dur)
	rows, units := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	ps := ScorePeak(rows, limit, cfg.Control.SOCMinPct)
	res.Speed = F(speed)
	res.Detail = map[string]any{"import_limit_kw": limit, "trace": path, "soc_min_pct": cfg.Control.SOCMinPct}
	res.Add("import limit", limit, "kW")
	res.Add("peak site load", peak, "kW")
	res.AddTarget("max POI import (SOC above min+1 %)", ps.MaxImport, "kW", fmt.Sprintf("≤ limit + 1 %% (%.0f kW)", limit*1.01), ps.MaxImport <= limit*1.01)
	res.Add("p99 POI import", ps.P99Import, "kW")
	res.Add("energy above the limit without battery", ps.ExcessNoBattMWh, "MWh")
	res.Add("energy above the limit with battery", ps.ExcessMWh, "MWh")
	res.Add("energy shaved", ps.ExcessNoBattMWh-ps.ExcessMWh, "MWh")
	res.Add("battery discharge", ps.DischargeMWh, "MWh")
	res.Add("SOC start", ps.SOCStart, "%")
	res.Add("SOC end", ps.SOCEnd, "%")
	res.Add("SOC min", ps.SOCMin, "%")
	res.Note("load trace and battery time run %g× wall time (t_s is simulated time); the PCS dynamics and the control loop run in real time", speed)
	res.Note("cmd_kw is the POI floor, -import limit; battery power = poi_kw + load_kw")
	return e.writeSeries(rows, units)
}

func configPeak(limit, margin, rated float64) (p config.Peak) {
	below, rech := 0.6*limit, 0.1*rated
	p.ImportLimitKW, p.RechargeBelowKW, p.RechargeKW = &limit, &below, &rech
	p.RechargeSOCPct = 90
	p.MarginKW = margin
	return p
}

// PeakScores are the figures of a peak-shaving run.
type PeakScores struct {
	MaxImport, P99Import       float64 // kW, over samples with SOC above the minimum + 1 %
	ExcessNoBattMWh, ExcessMWh float64 // ∫ max(0, load - limit) and ∫ max(0, import - limit)
	DischargeMWh               float64 // ∫ max(0, battery power)
	SOCStart, SOCEnd, SOCMin   float64
}

// ScorePeak scores a recorded peak-shaving run (t_s in simulated time).
func ScorePeak(rows []Sample, limit, socMin float64) PeakScores {
	var s PeakScores
	var imports []float64
	s.SOCMin = math.Inf(1)
	for i, r := range rows {
		imp := -r.POIKW
		if r.SOCPct > socMin+1 {
			imports = append(imports, imp)
		}
		s.SOCMin = math.Min(s.SOCMin, r.SOCPct)
		if i == 0 {
			continue
		}
		dt := (r.T - rows[i-1].T) / 3600
		s.ExcessNoBattMWh += math.Max(0, r.LoadKW-limit) * dt / 1000
		s.ExcessMWh += math.Max(0, imp-limit) * dt / 1000
		s.DischargeMWh += math.Max(0, r.POIKW+r.LoadKW) * dt / 1000
	}
	s.MaxImport = quantile(imports, 1)
	s.P99Import = quantile(imports, 0.99)
	if len(rows) > 0 {
		s.SOCStart, s.SOCEnd = rows[0].SOCPct, rows[len(rows)-1].SOCPct
	}
	return s
}

func runFreqTrace(ctx context.Context, e *env, res *Result) error {
	cfg := e.plant.Cfg
	path := e.o.Trace
	if path == "" {
		path = findShared("rte-frequency-deviation-2019-01-05_05-31-10s.csv.gz")
	}
	tr, err := trace.Load(path)
	if err != nil {
		return err
	}
	if tr.Kind != trace.FrequencyHz {
		return fmt.Errorf("%s: freq-trace needs a frequency trace, this one is %v", path, tr.Kind)
	}
	speed := e.speed(1440)
	dur := e.duration(time.Duration(math.Min(tr.Duration(), 86400) / speed * float64(time.Second)))
	cfg.Simulator.Grid.FrequencyTrace = path
	cfg.Simulator.Grid.TraceSpeed = speed
	cfg.Simulator.Battery.TimeScale = speed
	cfg.Dispatch.FrequencyResponse.Enabled = true
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	var cmd Value
	rec := Record(r.Sim, r.SimStart, speed, 10*time.Millisecond, 100, &cmd)
	e.progress("freq-trace: %.1f h of %s at %g× (%v wall)", dur.Seconds()*speed/3600, path, speed, dur.Round(time.Second))
	stop := time.Now().Add(dur)
	for time.Now().Before(stop) && ctx.Err() == nil {
		// cmd_kw is the droop response the measured frequency asks for.
		cmd.Set(dispatch.Droop(tr.At(time.Since(r.SimStart).Seconds()*speed), r.Droop))
		time.Sleep(5 * time.Millisecond)
	}
	rows, units := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	var capKWh float64
	for _, u := range cfg.Units {
		for _, b := range u.BMS {
			capKWh += b.CapacityKWh
		}
	}
	fs := ScoreFreq(rows, capKWh)
	res.Speed = F(speed)
	res.Detail = map[string]any{"trace": path, "capacity_kwh": capKWh, "droop_pct": r.Droop.DroopPct, "dead_band_hz": r.Droop.DeadBand}
	res.Add("simulated hours", fs.Hours, "h")
	res.Add("energy throughput", fs.ThroughputMWh, "MWh")
	res.Add("equivalent full cycles", fs.EFC, "")
	res.Add("SOC min", fs.SOCMin, "%")
	res.Add("SOC max", fs.SOCMax, "%")
	res.Add("SOC end", fs.SOCEnd, "%")
	res.Note("frequency trace and battery time run %g× wall time; at this speed each 10 s trace sample lasts %.1f ms of wall time, shorter than the PCS lag, so the response is smoothed", speed, 10/speed*1000)
	res.Note("throughput = ∫|poi_kw| dt; equivalent full cycles = throughput / (2 × %.0f MWh)", capKWh/1000)
	return e.writeSeries(rows, units)
}

// FreqScores are the figures of a frequency-trace run.
type FreqScores struct {
	Hours, ThroughputMWh, EFC float64
	SOCMin, SOCMax, SOCEnd    float64
}

// ScoreFreq scores a recorded frequency-trace run (t_s in simulated time).
func ScoreFreq(rows []Sample, capKWh float64) FreqScores {
	s := FreqScores{SOCMin: math.Inf(1), SOCMax: math.Inf(-1)}
	for i, r := range rows {
		s.SOCMin = math.Min(s.SOCMin, r.SOCPct)
		s.SOCMax = math.Max(s.SOCMax, r.SOCPct)
		if i > 0 {
			s.ThroughputMWh += math.Abs(r.POIKW) * (r.T - rows[i-1].T) / 3600 / 1000
		}
	}
	if n := len(rows); n > 0 {
		s.Hours = (rows[n-1].T - rows[0].T) / 3600
		s.SOCEnd = rows[n-1].SOCPct
	}
	s.EFC = s.ThroughputMWh * 1000 / (2 * capKWh)
	return s
}
