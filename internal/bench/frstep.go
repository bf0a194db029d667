package bench

import (
	"context"
	"math"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/kpi"
)

func init() {
	register("fr-step", "configs/station-800mwh.yaml",
		"GB/T 40595-style frequency steps (±0.1, ±0.2, ±0.5 Hz and back): lag, rise, settling, steady error at the POI",
		runFRStep)
}

// FRStep is one scored frequency step.
type FRStep struct {
	T0       F `json:"t0_s"` // step time in series.csv's t_s
	FromHz   F `json:"from_hz"`
	ToHz     F `json:"to_hz"`
	DeltaPKW F `json:"delta_p_kw"` // expected change of POI power
	End      F `json:"end_s"`      // end of the evaluation window, t_s
	LagMs    F `json:"lag_ms"`
	RiseMs   F `json:"rise_ms"`
	SettleMs F `json:"settling_ms"`
	Settled  bool
	SteadyP  F `json:"steady_error_pct"`
}

// frSteadyWindow is the final part of each hold the steady error averages.
const frSteadyWindow = 1.0

func runFRStep(ctx context.Context, e *env, res *Result) error {
	cfg := e.plant.Cfg
	cfg.Dispatch.FrequencyResponse.Enabled = true
	hold := 3 * time.Second
	if e.o.Duration > 0 {
		// Twelve holds: six steps out and six back.
		hold = max(e.o.Duration/12, 1500*time.Millisecond)
	}
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	nominal := cfg.Site.NominalHz
	if !sleepCtx(ctx, time.Second) {
		return ctx.Err()
	}
	var cmd Value
	rec := Record(r.Sim, time.Now(), 1, 2*time.Millisecond, 50, &cmd)
	sleepCtx(ctx, 300*time.Millisecond)
	type ev struct {
		at       time.Time
		from, to float64
	}
	var evs []ev
	f := nominal
	e.progress("fr-step: 12 steps, %v each", hold)
	for _, df := range []float64{-0.1, -0.2, -0.5, 0.1, 0.2, 0.5} {
		for _, to := range []float64{nominal + df, nominal} {
			if ctx.Err() != nil {
				break
			}
			at := r.Sim.StepFrequency(to)
			cmd.Set(dispatch.Droop(to, r.Droop))
			evs = append(evs, ev{at, f, to})
			f = to
			sleepCtx(ctx, hold)
		}
	}
	rows, units := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	ts, ps := seriesTP(rows)
	var steps []FRStep
	var lag, rise, settle, steady []float64
	allSettled := true
	for _, x := range evs {
		dp := dispatch.Droop(x.to, r.Droop) - dispatch.Droop(x.from, r.Droop)
		t0 := rec.Since(x.at)
		end := t0 + hold.Seconds() - 0.01
		sr, err := kpi.StepResponse(ts, ps, kpi.StepParams{T0: t0, DeltaP: dp, Rated: r.RatedKW, SteadyWindow: frSteadyWindow, End: end})
		if err != nil {
			return err
		}
		s := FRStep{T0: F(t0), FromHz: F(x.from), ToHz: F(x.to), DeltaPKW: F(dp), End: F(end),
			LagMs: F(sr.Lag * 1000), RiseMs: F(sr.RiseTime * 1000), SettleMs: F(sr.SettlingTime * 1000),
			Settled: sr.Settled, SteadyP: F(sr.SteadyErrorPct)}
		steps = append(steps, s)
		lag = append(lag, sr.Lag*1000)
		rise = append(rise, sr.RiseTime*1000)
		settle = append(settle, sr.SettlingTime*1000)
		steady = append(steady, sr.SteadyErrorPct)
		allSettled = allSettled && sr.Settled
	}
	res.Detail = map[string]any{"steps": steps, "hold_s": hold.Seconds(), "steady_window_s": frSteadyWindow,
		"droop_pct": r.Droop.DroopPct, "dead_band_hz": r.Droop.DeadBand}
	lagMax, riseMax := worst(lag), worst(rise)
	res.Add("steps", float64(len(steps)), "")
	res.Add("lag median", quantile(lag, 0.5), "ms")
	res.AddTarget("lag max", lagMax, "ms", "≤ 100 ms (GB/T 40595: ≤ 1 s)", lagMax <= 100)
	res.Add("rise median", quantile(rise, 0.5), "ms")
	res.AddTarget("rise max", riseMax, "ms", "≤ 300 ms (GB/T 40595: ≤ 3 s)", riseMax <= 300)
	st := worst(settle)
	res.AddTarget("settling max", st, "ms", "≤ 4 s (GB/T 40595)", allSettled && st <= 4000)
	se := maxAbs(steady)
	res.AddTarget("steady error max |.|", se, "% rated", "≤ 1 % (GB/T 40595)", se <= 1)
	res.Note("POI power is the simulated meter's truth sampled every 2 ms; PCS τ %v, transport delay %v; droop %g %%, dead band %g Hz",
		cfg.Simulator.PCS.Tau, cfg.Simulator.PCS.Delay, r.Droop.DroopPct, r.Droop.DeadBand)
	res.Note("lag = time to 10 %% of the expected change, rise = to 90 %%, settling = within ±1 %% of rated; steady error over the last %g s of each %v hold", frSteadyWindow, hold)
	return e.writeSeries(rows, units)
}

// worst is the largest value, NaN (never reached) winning.
func worst(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		if math.IsNaN(x) {
			return math.NaN()
		}
		m = math.Max(m, x)
	}
	return m
}

func seriesTP(rows []Sample) (t, p []float64) {
	t = make([]float64, len(rows))
	p = make([]float64, len(rows))
	for i, s := range rows {
		t[i], p[i] = s.T, s.POIKW
	}
	return t, p
}
