package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/goburrow/modbus"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/station"
)

func init() {
	register("latency", "configs/station-800mwh.yaml",
		"frequency steps 50.00↔49.80 Hz at the POI meter: time from the new value being readable to the last PCS acknowledgement",
		runLatency)
}

// LatencyStep is one frequency step of the latency scenario.
type LatencyStep struct {
	T     F `json:"t_s"`     // when the new frequency became readable, s from the first step
	FHz   F `json:"f_hz"`    // the new frequency
	E2EMs F `json:"e2e_ms"`  // readable → last PCS acknowledgement of the new order
	FastM F `json:"fast_ms"` // the station's FastLatency for the same step (reading arrival → last ack), NaN if none
}

type fastReport struct {
	at time.Time
	d  time.Duration
}

func runLatency(ctx context.Context, e *env, res *Result) error {
	steps := e.o.Steps
	if steps <= 0 {
		steps = 200
	}
	cfg := e.plant.Cfg
	cfg.Dispatch.FrequencyResponse.Enabled = true
	sim, t0, err := StartSim(e.plant, e.log)
	if err != nil {
		return err
	}

	// The floor: one bare Modbus write round trip to one simulated PCS,
	// before the station runs (so nothing else writes to it).
	floor, err := writeFloor(cfg.Units[0].PCS.Address, byte(cfg.Units[0].PCS.UnitIDOf()), 500)
	if err != nil {
		sim.Close()
		return fmt.Errorf("floor: %w", err)
	}

	var mu sync.Mutex
	var reports []fastReport
	r, err := e.rig(RigOptions{Sim: sim, SimStart: t0, Station: station.Options{FastLatency: func(d time.Duration) {
		now := time.Now()
		mu.Lock()
		reports = append(reports, fastReport{now, d})
		mu.Unlock()
	}}})
	if err != nil {
		return err // the rig closed the plant
	}
	defer r.Close()
	if !sleepCtx(ctx, time.Second) {
		return ctx.Err()
	}
	n := len(cfg.Units)
	unitShare := make([]float64, n)
	for i, u := range cfg.Units {
		unitShare[i] = u.RatedPKW / r.RatedKW
	}
	deadline := time.Time{}
	if e.o.Duration > 0 {
		deadline = time.Now().Add(e.o.Duration)
	}
	e.progress("latency: %d frequency steps 50.00 ↔ 49.80 Hz on %d PCS", steps, n)
	var out []LatencyStep
	var e2e, fast []float64
	var first time.Time
	misses := 0
	freqs := [2]float64{49.80, 50.00}
	for k := 0; k < steps && ctx.Err() == nil; k++ {
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
		f := freqs[k%2]
		before, _ := r.Station.Acked()
		dp := dispatch.Droop(f, r.Droop) - dispatch.Droop(freqs[(k+1)%2], r.Droop)
		at := sim.StepFrequency(f)
		if first.IsZero() {
			first = at
		}
		// Done when every unit has acknowledged an order that moved at
		// least half its share of the change, after the step.
		var last time.Time
		done := func() bool {
			sp, ackAt := r.Station.Acked()
			last = time.Time{}
			for i := range sp {
				if !ackAt[i].After(at) || math.Abs(sp[i].P-before[i].P) < 0.5*math.Abs(dp)*unitShare[i] {
					return false
				}
				if ackAt[i].After(last) {
					last = ackAt[i]
				}
			}
			return true
		}
		ok := false
		for lim := at.Add(2 * time.Second); time.Now().Before(lim); {
			if ok = done(); ok {
				break
			}
			time.Sleep(time.Millisecond)
		}
		st := LatencyStep{T: F(at.Sub(first).Seconds()), FHz: F(f), E2EMs: F(math.NaN()), FastM: F(math.NaN())}
		if ok {
			st.E2EMs = F(last.Sub(at).Seconds() * 1000)
			e2e = append(e2e, float64(st.E2EMs))
		} else {
			misses++
		}
		// Leave time for a late fast report, then pick this step's.
		if !sleepCtx(ctx, 100*time.Millisecond+rand.N(100*time.Millisecond)) {
			break
		}
		mu.Lock()
		for _, rep := range reports {
			if rep.at.After(at) {
				st.FastM = F(rep.d.Seconds() * 1000)
				fast = append(fast, float64(st.FastM))
				break
			}
		}
		reports = reports[:0]
		mu.Unlock()
		out = append(out, st)
	}
	res.Detail = map[string]any{"steps": out, "floor_ms": floor}
	res.Add("steps", float64(len(out)), "")
	res.Add("steps without full acknowledgement", float64(misses), "")
	target := 20.0
	if n > 200 {
		target = 50
	}
	p99 := quantile(e2e, 0.99)
	res.Add("e2e p50", quantile(e2e, 0.5), "ms")
	res.AddTarget("e2e p99", p99, "ms", fmt.Sprintf("≤ %g ms", target), p99 <= target)
	res.Add("e2e max", quantile(e2e, 1), "ms")
	res.Add("fast-path cycles reported", float64(len(fast)), "")
	res.Add("fast path p50 (reading → last ack)", quantile(fast, 0.5), "ms")
	res.Add("fast path p99 (reading → last ack)", quantile(fast, 0.99), "ms")
	res.Add("floor: one Modbus write p50", quantile(floor, 0.5), "ms")
	res.Add("floor: one Modbus write p99", quantile(floor, 0.99), "ms")
	res.Note("e2e runs from sim.StepFrequency (the new value is readable at the meter) to the last of %d PCS acknowledging its new setpoint; it includes the wait for the next meter read (fast group every %v)", n, meterFastPeriod(e))
	res.Note("e2e is found by polling the station's acknowledgements every 1 ms; the time is the acknowledgement's own time stamp")
	if e.o.Out != "" {
		return writeLatencyCSV(filepath.Join(e.o.Out, "latency.csv"), out)
	}
	return nil
}

func meterFastPeriod(e *env) time.Duration {
	if d, ok := e.plant.Cfg.Site.POI.Meter.Poll["fast"]; ok {
		return d
	}
	for _, g := range e.plant.Profiles[e.plant.Cfg.Site.POI.Meter.Profile].Groups {
		if g.Name == "fast" {
			return g.Period
		}
	}
	return 0
}

// writeFloor times n single writes of p_set_kw and q_set_kvar (0 kW,
// function 16, four registers) to one PCS with a plain goburrow client.
func writeFloor(addr string, unitID byte, n int) ([]float64, error) {
	h := modbus.NewTCPClientHandler(addr)
	h.SlaveId = unitID
	h.Timeout = time.Second
	if err := h.Connect(); err != nil {
		return nil, err
	}
	defer h.Close()
	c := modbus.NewClient(h)
	regs := make([]byte, 8)
	binary.BigEndian.PutUint32(regs, 0)
	out := make([]float64, 0, n)
	for range n {
		t := time.Now()
		if _, err := c.WriteMultipleRegisters(0, 4, regs); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t).Seconds()*1000)
	}
	return out, nil
}

func writeLatencyCSV(path string, steps []LatencyStep) error {
	return writeCSV(path, "t_s,f_hz,e2e_ms,fast_ms", len(steps), func(b []byte, i int) []byte {
		s := &steps[i]
		return appendFloats(b, float64(s.T), float64(s.FHz), float64(s.E2EMs), float64(s.FastM))
	})
}
