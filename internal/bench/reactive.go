package bench

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/kpi"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/reactive"
	"github.com/emsd/emsd/internal/sim"
)

func init() {
	register("q-step", "configs/station-800mwh.yaml",
		"fixed-Q setpoint steps: command → last PCS acknowledged (p50/p99), lag, rise, settling and steady error of the POI Q",
		runQStep)
	register("avc", "configs/station-800mwh.yaml",
		"voltage-setpoint (AVC) steps of ±2 % and a −2 % grid-voltage dip on a grid of SCR 10: settling, overshoot, steady voltage error",
		runAVC)
}

// The reactive scenarios' grid: a Thevenin source of short-circuit ratio
// qSCR and X/R qXR behind the POI.
const (
	qSCR = 10
	qXR  = 10
)

// qSample is one row of the reactive series (q.csv).
type qSample struct {
	T, PKW, QKVar, VV, CmdKVar, RefV float64
}

// qRecorder samples the POI's P, Q and V and the command in force.
type qRecorder struct {
	plant    *sim.Plant
	t0       time.Time
	cmd, ref *Value

	mu         sync.Mutex
	rows       []qSample
	stop, done chan struct{}
}

func recordQ(plant *sim.Plant, every time.Duration, cmd, ref *Value) *qRecorder {
	r := &qRecorder{plant: plant, t0: time.Now(), cmd: cmd, ref: ref, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			st := r.plant.Snapshot()
			r.mu.Lock()
			r.rows = append(r.rows, qSample{T: st.At.Sub(r.t0).Seconds(), PKW: st.POI.PKW, QKVar: st.POI.QKVar,
				VV: st.POI.VV, CmdKVar: r.cmd.Get(), RefV: r.ref.Get()})
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-tk.C:
			}
		}
	}()
	return r
}

func (r *qRecorder) finish() []qSample {
	close(r.stop)
	<-r.done
	return r.rows
}

func (r *qRecorder) since(at time.Time) float64 { return at.Sub(r.t0).Seconds() }

// writeQ writes the reactive series as q.csv into the output directory.
func (e *env) writeQ(rows []qSample) error {
	if e.o.Out == "" {
		return nil
	}
	return writeCSV(filepath.Join(e.o.Out, "q.csv"), "t_s,p_kw,q_kvar,v_v,cmd_kvar,ref_v", len(rows), func(b []byte, i int) []byte {
		s := &rows[i]
		return appendFloats(b, s.T, s.PKW, s.QKVar, s.VV, s.CmdKVar, s.RefV)
	})
}

// qGrid puts the scenario's plant on the weak grid.
func qGrid(e *env) {
	g := &e.plant.Cfg.Simulator.Grid
	g.SCR, g.XR = qSCR, qXR
}

// column returns one column of the series.
func column(rows []qSample, f func(*qSample) float64) (t, v []float64) {
	t, v = make([]float64, len(rows)), make([]float64, len(rows))
	for i := range rows {
		t[i], v[i] = rows[i].T, f(&rows[i])
	}
	return t, v
}

// qSteps are q-step's fixed-Q commands, fractions of rated power.
var qSteps = []float64{0.3, -0.3, 0.1, -0.1, 0.5, 0, -0.5, 0.2, -0.2, 0.05, -0.05, 0}

// QStep is one scored reactive step.
type QStep struct {
	T0       F `json:"t0_s"`
	ToKVar   F `json:"to_kvar"`
	AckMs    F `json:"ack_ms"` // command → last PCS acknowledgement, NaN if not all acknowledged
	LagMs    F `json:"lag_ms"`
	RiseMs   F `json:"rise_ms"`
	SettleMs F `json:"settling_ms"`
	SteadyP  F `json:"steady_error_pct"`
}

func runQStep(ctx context.Context, e *env, res *Result) error {
	qGrid(e)
	hold := 2 * time.Second
	if e.o.Duration > 0 {
		hold = max(e.o.Duration/time.Duration(len(qSteps)), 1500*time.Millisecond)
	}
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	rated := r.RatedKW
	par := reactive.Params{Mode: reactive.ModeFixedQ, QMax: rated, QMin: -rated}
	if err := r.Submit(dispatch.SetReactive{Params: par}); err != nil {
		return err
	}
	if !sleepCtx(ctx, time.Second) {
		return ctx.Err()
	}
	var cmd, ref Value
	rec := recordQ(r.Sim, 5*time.Millisecond, &cmd, &ref)
	sleepCtx(ctx, 300*time.Millisecond)
	e.progress("q-step: %d fixed-Q steps on %d PCS, %v each", len(qSteps), len(r.Cfg.Units), hold)
	type ev struct {
		at       time.Time
		from, to float64
		ack      float64
	}
	var evs []ev
	from := 0.0
	for _, x := range qSteps {
		if ctx.Err() != nil {
			break
		}
		to := x * rated
		before, _ := r.Station.Acked()
		par.Q = to
		at := time.Now()
		if err := r.Submit(dispatch.SetReactive{Params: par}); err != nil {
			rec.finish()
			return err
		}
		cmd.Set(to)
		evs = append(evs, ev{at, from, to, qAck(r, before, at, (to-from)/float64(len(before)))})
		from = to
		sleepCtx(ctx, time.Until(at.Add(hold)))
	}
	rows := rec.finish()
	if err := ctx.Err(); err != nil {
		return err
	}
	ts, qs := column(rows, func(s *qSample) float64 { return s.QKVar })
	var steps []QStep
	var ack, lag, rise, settle, steady []float64
	for _, x := range evs {
		t0 := rec.since(x.at)
		sr, err := kpi.StepResponse(ts, qs, kpi.StepParams{T0: t0, DeltaP: x.to - x.from, Rated: rated,
			SteadyWindow: 1, End: t0 + hold.Seconds() - 0.01})
		if err != nil {
			return err
		}
		// The steady error against the command, not against the level before the step.
		se := 100 * (sr.Target + sr.SteadyError - x.to) / rated
		steps = append(steps, QStep{T0: F(t0), ToKVar: F(x.to), AckMs: F(x.ack), LagMs: F(sr.Lag * 1000),
			RiseMs: F(sr.RiseTime * 1000), SettleMs: F(sr.SettlingTime * 1000), SteadyP: F(se)})
		ack = append(ack, x.ack)
		lag, rise, settle = append(lag, sr.Lag*1000), append(rise, sr.RiseTime*1000), append(settle, sr.SettlingTime*1000)
		steady = append(steady, se)
	}
	res.Detail = map[string]any{"steps": steps, "hold_s": hold.Seconds(), "scr": qSCR, "x_r": qXR}
	p99 := quantile(ack, 0.99)
	res.Add("steps", float64(len(steps)), "")
	res.Add("command → last PCS acknowledged p50", quantile(ack, 0.5), "ms")
	res.AddTarget("command → last PCS acknowledged p99", p99, "ms", "≤ 20 ms", p99 <= 20)
	res.Add("lag max", worst(lag), "ms")
	res.Add("rise max", worst(rise), "ms")
	res.Add("settling max", worst(settle), "ms")
	se := maxAbs(steady)
	res.AddTarget("steady Q error max |.|", se, "% rated", "≤ 1 %", se <= 1)
	res.Note("fixed-Q steps of %v × rated (%.0f kW), each held %v; POI Q is the simulated meter's truth sampled every 5 ms", qSteps, rated, hold)
	res.Note("acknowledged: every PCS acknowledged, after the command, a Q that moved at least half its share of the step; lag = 10 %%, rise = 90 %% of the step, settling within ±1 %% of rated; steady error over the last 1 s of each hold")
	return e.writeQ(rows)
}

// qAck waits (up to 2 s) until every unit has acknowledged, after at, a Q
// that moved at least half of share from before, and returns the time from
// at to the last such acknowledgement in ms (NaN if not all did).
func qAck(r *Rig, before []plant.Setpoint, at time.Time, share float64) float64 {
	for lim := at.Add(2 * time.Second); time.Now().Before(lim); time.Sleep(time.Millisecond) {
		sp, ackAt := r.Station.Acked()
		var last time.Time
		all := true
		for i := range sp {
			if !ackAt[i].After(at) || math.Abs(sp[i].Q-before[i].Q) < 0.5*math.Abs(share) {
				all = false
				break
			}
			if ackAt[i].After(last) {
				last = ackAt[i]
			}
		}
		if all {
			return last.Sub(at).Seconds() * 1000
		}
	}
	return math.NaN()
}

// avcEvent is one setpoint step or grid disturbance of the avc scenario.
type avcEvent struct {
	Kind    string `json:"kind"` // "setpoint" or "grid"
	T0      F      `json:"t0_s"`
	RefV    F      `json:"ref_v"`    // setpoint after the event
	StepV   F      `json:"step_v"`   // setpoint change, or the source-voltage change
	SettleS F      `json:"settle_s"` // within ±0.5 % of nominal around the setpoint, from then on
	BandS   F      `json:"band_s"`   // within the dead band around the setpoint, from then on
	OverPct F      `json:"overshoot_pct"`
	SteadyP F      `json:"steady_error_pct"` // mean V − setpoint over the hold's last 1 s, % of nominal
}

// AVC scenario constants: the setpoint steps (fraction of nominal), the
// dead band and the loop gain.
var avcSteps = []float64{0.02, 0, -0.02, 0}

const (
	avcDeadBand = 0.002 // fraction of nominal
	avcKi       = 30    // 1/s
	avcQMax     = 0.5   // fraction of rated power
)

func runAVC(ctx context.Context, e *env, res *Result) error {
	qGrid(e)
	hold := 5 * time.Second
	if e.o.Duration > 0 {
		hold = max(e.o.Duration/time.Duration(len(avcSteps)+2), 2*time.Second)
	}
	vn := e.plant.Cfg.Simulator.Grid.VoltageV
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	rated := r.RatedKW
	par := reactive.Params{Mode: reactive.ModeVoltage, VRef: vn, DeadBand: avcDeadBand * vn, Ki: avcKi,
		QMax: avcQMax * rated, QMin: -avcQMax * rated}
	if err := r.Submit(dispatch.SetReactive{Params: par}); err != nil {
		return err
	}
	if !sleepCtx(ctx, 2*time.Second) {
		return ctx.Err()
	}
	var cmd, ref Value
	ref.Set(vn)
	rec := recordQ(r.Sim, 5*time.Millisecond, &cmd, &ref)
	sleepCtx(ctx, 300*time.Millisecond)
	e.progress("avc: %d setpoint steps and a grid dip, %v each, SCR %d", len(avcSteps), hold, qSCR)
	type ev struct {
		kind      string
		at        time.Time
		ref, step float64
	}
	var evs []ev
	prev := vn
	for _, x := range avcSteps {
		if ctx.Err() != nil {
			break
		}
		par.VRef = vn * (1 + x)
		at := time.Now()
		if err := r.Submit(dispatch.SetReactive{Params: par}); err != nil {
			rec.finish()
			return err
		}
		ref.Set(par.VRef)
		evs = append(evs, ev{"setpoint", at, par.VRef, par.VRef - prev})
		prev = par.VRef
		sleepCtx(ctx, time.Until(at.Add(hold)))
	}
	for _, x := range []float64{-0.02, 0} {
		if ctx.Err() != nil {
			break
		}
		at := time.Now()
		r.Sim.SetVoltage(vn*(1+x), 0)
		evs = append(evs, ev{"grid", at, par.VRef, vn * x})
		sleepCtx(ctx, time.Until(at.Add(hold)))
	}
	rows := rec.finish()
	if err := ctx.Err(); err != nil {
		return err
	}
	var out []avcEvent
	var settle, over, steady, band []float64
	for _, x := range evs {
		t0 := rec.since(x.at)
		from := x.ref - x.step // where the voltage was meant to be before
		if x.kind == "grid" {
			from = x.ref + x.step // where the dip takes it
		}
		a := scoreAVC(rows, t0, t0+hold.Seconds()-0.01, x.ref, from, vn, par.DeadBand)
		a.Kind, a.StepV = x.kind, F(x.step)
		out = append(out, a)
		if x.kind == "setpoint" && x.step != 0 {
			settle, over = append(settle, float64(a.SettleS)), append(over, float64(a.OverPct))
		}
		band, steady = append(band, float64(a.BandS)), append(steady, float64(a.SteadyP))
	}
	res.Detail = map[string]any{"events": out, "hold_s": hold.Seconds(), "scr": qSCR, "x_r": qXR, "params": par}
	st, ov := worst(settle), worst(over)
	res.Add("events", float64(len(out)), "")
	res.AddTarget("settling within ±0.5 % after a 2 % setpoint step, max", st, "s", "≤ 2 s", st <= 2)
	res.AddTarget("overshoot max", ov, "% of step", "≤ 20 %", ov <= 20)
	res.Add("settling within the dead band, max (steps and grid dip)", worst(band), "s")
	res.Add("steady voltage error max |.|", maxAbs(steady), "% nominal")
	res.Note("voltage setpoint (AVC) at %v × %.0f V, dead band ±%g %%, ki %g /s, Q within ±%g × rated; grid SCR %d, X/R %d; then the grid source dips by 2 %% and returns",
		avcSteps, vn, 100*avcDeadBand, float64(avcKi), avcQMax, qSCR, qXR)
	res.Note("POI voltage is the simulated meter's truth sampled every 5 ms; settling counts from the command (or the dip) to the last sample outside the band before the end of the %v hold", hold)
	return e.writeQ(rows)
}

// scoreAVC scores the POI voltage between t0 and end against the setpoint
// ref; from is where the voltage was meant to be before (the overshoot is
// measured past ref, in % of |ref − from|, 0 when they are equal).
func scoreAVC(rows []qSample, t0, end, ref, from, vn, deadBand float64) avcEvent {
	a := avcEvent{T0: F(t0), RefV: F(ref)}
	var settle, inBand, peak, sum float64
	n := 0
	dir := math.Copysign(1, ref-from)
	for _, s := range rows {
		if s.T < t0 || s.T > end {
			continue
		}
		d := s.VV - ref
		if math.Abs(d) > 0.005*vn {
			settle = s.T - t0
		}
		if math.Abs(d) > deadBand {
			inBand = s.T - t0
		}
		if ref != from {
			peak = math.Max(peak, d*dir)
		}
		if s.T >= end-1 {
			sum += d
			n++
		}
	}
	a.SettleS, a.BandS = F(settle), F(inBand)
	if ref != from {
		a.OverPct = F(100 * peak / math.Abs(ref-from))
	}
	a.SteadyP = F(math.NaN())
	if n > 0 {
		a.SteadyP = F(100 * sum / float64(n) / vn)
	}
	return a
}
