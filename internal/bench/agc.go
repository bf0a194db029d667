package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/kpi"
	"github.com/emsd/emsd/internal/trace"
)

func init() {
	register("agc", "configs/station-800mwh.yaml",
		"AGC tracking of a regulation trace (default PJM 2017-08-01): PJM score, K1/K2/K3/Kp (North China, ramp cap off), tracking error",
		runAGC)
}

// AGC scenario constants: the regulation capacity is ±agcCapacity of rated
// power around agcBase, commands every agcEvery seconds of trace time.
const (
	agcCapacity = 0.5
	agcBase     = 0.0
	agcEvery    = 2.0
)

// AGCScoring is how agc scores series.csv, so anyone can redo it.
type AGCScoring struct {
	BaseKW     F `json:"base_kw"`     // response = (poi_kw - base_kw) / capacity_kw
	CapacityKW F `json:"capacity_kw"` // signal = (cmd_kw - base_kw) / capacity_kw
	PeMW       F `json:"pe_mw"`       // K indices: cmd_kw and poi_kw in MW against kpi.NorthChinaAGC(pe_mw)
	// StepsFromS splits the series: rows with t_s < steps_from_s are the
	// regulation trace (PJM score, tracking error); the rest are the step
	// commands, scored for K1/K2/K3/Kp on the wall_s time axis.
	StepsFromS F `json:"steps_from_s"`
}

// agcSteps are the step commands of the K-index phase, fractions of rated
// power, each held agcStepHold of wall time.
var agcSteps = []float64{0.3, -0.3, 0.1, -0.5, 0, 0.5, -0.2, 0}

const agcStepHold = 8 * time.Second

// agcLink carries AGC targets from the scenario to the station.
type agcLink interface {
	// Target sends one AGC target, kW at the POI.
	Target(ctx context.Context, kw float64) error
	// Report adds the link's own figures to res.
	Report(res *Result)
	Close()
}

// directLink submits targets to the dispatcher in process.
type directLink struct{ r *Rig }

func (d directLink) Target(_ context.Context, kw float64) error {
	return d.r.Submit(dispatch.AGCTarget{P: kw})
}
func (directLink) Report(*Result) {}
func (directLink) Close()         {}

func runAGC(ctx context.Context, e *env, res *Result) error {
	return runAGCVia(ctx, e, res, func(r *Rig) (agcLink, error) { return directLink{r}, nil })
}

// runAGCVia is the agc scenario with the targets sent over the link that
// via opens on the running rig.
func runAGCVia(ctx context.Context, e *env, res *Result, via func(*Rig) (agcLink, error)) error {
	path := e.o.Trace
	if path == "" {
		path = findShared("pjm-regulation-2017-08-01_02-2s.csv")
	}
	tr, err := trace.Load(path)
	if err != nil {
		return err
	}
	if tr.Kind != trace.Regulation {
		return fmt.Errorf("%s: agc needs a regulation trace (-1..+1), this one is %v", path, tr.Kind)
	}
	speed := e.speed(1)
	dur := e.duration(10 * time.Minute)
	off := activeFrom(tr)
	traceS := math.Min(dur.Seconds()*speed, tr.T[len(tr.T)-1]-off)
	cfg := e.plant.Cfg
	rated := cfg.Site.RatedPKW
	// Ramp caps off: the base ramp and the AGC target ramp far above what
	// the plant can do, no command dead band.
	cfg.Dispatch.RampKWPerS = 100 * rated
	cfg.Dispatch.AGC.RampMWPerMin = 100 * rated / 1000 * 60
	zero := 0.0
	cfg.Dispatch.AGC.DeadBandKW = &zero
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	capKW := agcCapacity * rated
	base := agcBase * rated
	first := base + capKW*tr.At(off)
	if err := r.Submit(dispatch.AGCTarget{P: first}, dispatch.SetMode{Mode: dispatch.ModeAGC}); err != nil {
		return err
	}
	waitUntil(ctx, 20*time.Second, func() bool { return math.Abs(r.Sim.Snapshot().POI.PKW-first) < 0.005*rated })
	link, err := via(r)
	if err != nil {
		return err
	}
	defer link.Close()
	var cmd Value
	cmd.Set(first)
	start := time.Now()
	rec := Record(r.Sim, start, speed, 20*time.Millisecond, int(math.Max(1, 1/(0.02*speed))*50), &cmd)
	e.progress("agc: %.0f s of %s at %g× (%v wall), capacity ±%.0f kW", traceS, path, speed, time.Duration(traceS/speed*float64(time.Second)).Round(time.Second), capKW)
	for k := 0.0; k <= traceS && ctx.Err() == nil; k += agcEvery {
		time.Sleep(time.Until(start.Add(time.Duration(k / speed * float64(time.Second)))))
		target := base + capKW*tr.At(off+k)
		if err := link.Target(ctx, target); err != nil {
			rec.Stop()
			return err
		}
		cmd.Set(target)
	}
	sleepCtx(ctx, time.Duration(agcEvery/speed*float64(time.Second)))
	stepsFrom := rec.Since(time.Now())
	stepHold := agcStepHold
	if e.o.Duration > 0 && e.o.Duration < 30*time.Second {
		stepHold = 3 * time.Second // short runs (tests)
	}
	e.progress("agc: %d step commands of %v each for the K indices", len(agcSteps), stepHold)
	for _, x := range agcSteps {
		if ctx.Err() != nil {
			break
		}
		if err := link.Target(ctx, x*rated); err != nil {
			rec.Stop()
			return err
		}
		cmd.Set(x * rated)
		sleepCtx(ctx, stepHold)
	}
	rows, units := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	sc := AGCScoring{BaseKW: F(base), CapacityKW: F(capKW), PeMW: F(rated / 1000), StepsFromS: F(stepsFrom)}
	a, err := ScoreAGC(rows, sc)
	if err != nil {
		return err
	}
	res.Speed = F(speed)
	res.Detail = map[string]any{"scoring": sc, "trace": path, "trace_from_s": off, "trace_s": traceS, "step_commands": a.K.Commands}
	res.Add("trace seconds", traceS, "s")
	res.AddTarget("PJM score", a.PJM.Score, "", "≥ 0.98", a.PJM.Score >= 0.98)
	res.Add("PJM correlation", a.PJM.Correlation, "")
	res.Add("PJM delay", a.PJM.Delay, "")
	res.Add("PJM precision", a.PJM.Precision, "")
	res.Add("tracking error mean", a.Track.MeanAbsPct, "% rated")
	res.Add("tracking error max", a.Track.MaxAbsPct, "% rated")
	res.Add("Kp on the trace's 2 s commands", a.TraceK.MeanKp, "")
	res.Add("step commands scored", float64(len(a.K.Commands)), "")
	res.Add("K1", a.K.MeanK1, "")
	res.Add("K2", a.K.MeanK2, "")
	res.Add("K3", a.K.MeanK3, "")
	res.AddTarget("Kp", a.K.MeanKp, "", "≥ 7.5 of 8", a.K.MeanKp >= 7.5)
	res.AddTarget("steady error (mean ΔP after arrival)", a.SteadyPct, "% rated", "≤ 0.5 %", a.SteadyPct <= 0.5)
	res.Note("trace played from %.0f s (60 s before the signal first moves by more than 0.05)", off)
	res.Note("regulation capacity ±%.0f kW around %.0f kW; a command every %g s of trace time; trace and series time run %g× wall time, the PCS dynamics do not", capKW, base, agcEvery, speed)
	res.Note("PJM score on 10 s block means of the 20 ms samples; K indices per kpi.NorthChinaAGC (Pe %.0f MW), dispatch ramp caps raised to 100× rated", rated/1000)
	res.Note("K1/K2/K3/Kp and the steady error are scored on %d step commands (%v each, wall time); on the trace's own 2 s commands most moves are within 2 × the 1 %% band, where K1 is not measurable (set to 1) and Kp cannot exceed 4", len(agcSteps), stepHold)
	res.Note("tracking error compares each sample with the command in force; it includes the transport and PCS lag after each new command")
	link.Report(res)
	return e.writeSeries(rows, units)
}

// AGCScores are the figures agc derives from its series.
type AGCScores struct {
	PJM       kpi.PJMResult      // regulation phase
	Track     kpi.TrackingResult // regulation phase
	TraceK    kpi.AGCResult      // regulation phase, K indices on the 2 s commands (information)
	K         kpi.AGCResult      // step phase, wall time
	SteadyPct float64            // step phase: mean ΔP after arrival over the scored commands, % of Pe
}

// ScoreAGC scores a recorded AGC run the way the agc scenario does.
func ScoreAGC(rows []Sample, sc AGCScoring) (AGCScores, error) {
	var t, sig, resp, cmdMW, pMW, cmdKW, pKW []float64
	var wt, wCmd, wP []float64
	for _, s := range rows {
		if s.T >= float64(sc.StepsFromS) {
			wt = append(wt, s.Wall)
			wCmd = append(wCmd, s.CmdKW/1000)
			wP = append(wP, s.POIKW/1000)
			continue
		}
		t = append(t, s.T)
		sig = append(sig, (s.CmdKW-float64(sc.BaseKW))/float64(sc.CapacityKW))
		resp = append(resp, (s.POIKW-float64(sc.BaseKW))/float64(sc.CapacityKW))
		cmdMW = append(cmdMW, s.CmdKW/1000)
		pMW = append(pMW, s.POIKW/1000)
		cmdKW = append(cmdKW, s.CmdKW)
		pKW = append(pKW, s.POIKW)
	}
	var out AGCScores
	var err error
	params := kpi.NorthChinaAGC(float64(sc.PeMW))
	if out.PJM, err = kpi.PJMScore(t, sig, resp); err != nil {
		return out, err
	}
	if out.Track, err = kpi.TrackingAccuracy(cmdKW, pKW, float64(sc.PeMW)*1000); err != nil {
		return out, err
	}
	if out.TraceK, err = kpi.AGCScore(t, cmdMW, t, pMW, params); err != nil {
		return out, err
	}
	out.SteadyPct = math.NaN()
	if len(wt) == 0 {
		return out, nil
	}
	if out.K, err = kpi.AGCScore(wt, wCmd, wt, wP, params); err != nil {
		return out, err
	}
	var sum float64
	n := 0
	for _, c := range out.K.Commands {
		if !math.IsNaN(c.MeanError) {
			sum += c.MeanError
			n++
		}
	}
	if n > 0 {
		out.SteadyPct = sum / float64(n) / float64(sc.PeMW) * 100
	}
	return out, nil
}

// activeFrom is where a trace starts to move: 60 s before its value first
// differs from the initial one by more than 0.05 (the PJM file opens with
// a quarter of an hour pinned at -1), but not before its start.
func activeFrom(tr *trace.Series) float64 {
	for i, v := range tr.V {
		if math.Abs(v-tr.V[0]) > 0.05 {
			return math.Max(tr.T[0], tr.T[i]-60)
		}
	}
	return tr.T[0]
}
