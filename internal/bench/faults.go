package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
)

func init() {
	register("faults", "configs/station-800mwh.yaml",
		"10 % of the PCS lose communication (sim DropDevice) at half rated power: time until the plant output (POI + site load) is back within 1 % of the request; time until each returns after its restore",
		runFaults)
}

// FaultUnit is one dropped PCS.
type FaultUnit struct {
	Unit     string `json:"unit"`
	OnlineMs F      `json:"online_ms"` // restore → the station's poller sees the PCS online again
	BackMs   F      `json:"back_ms"`   // restore → a write acknowledged after the restore and the PCS delivering > 50 % of its share again
}

func runFaults(ctx context.Context, e *env, res *Result) error {
	cfg := e.plant.Cfg
	hold := e.duration(30*time.Second) / 2
	r, err := e.rig(RigOptions{})
	if err != nil {
		return err
	}
	defer r.Close()
	request := 0.5 * r.RatedKW
	band := 0.01 * r.RatedKW
	if err := r.Submit(dispatch.ManualSetpoint{P: request}, dispatch.SetMode{Mode: dispatch.ModeManual}); err != nil {
		return err
	}
	if !waitUntil(ctx, 30*time.Second, func() bool { poi := r.Sim.Snapshot().POI; return math.Abs(poi.PKW+poi.LoadKW-request) < 0.2*band }) {
		return fmt.Errorf("the plant did not reach %.0f kW", request)
	}
	sleepCtx(ctx, time.Second)
	var cmd Value
	cmd.Set(request)
	rec := Record(r.Sim, time.Now(), 1, 5*time.Millisecond, 20, &cmd)
	sleepCtx(ctx, 500*time.Millisecond)
	n := len(cfg.Units)
	k := max(1, n/10)
	var idx []int
	for i := range k {
		idx = append(idx, i*n/k)
	}
	e.progress("faults: dropping %d of %d PCS at %.0f kW for %v", k, n, request, hold)
	dropAt := time.Now()
	for _, i := range idx {
		if err := r.Sim.DropDevice(plant.DeviceName(cfg.Units[i].ID, plant.KindPCS, 0)); err != nil {
			rec.Stop()
			return err
		}
	}
	sleepCtx(ctx, hold)
	restoreAt := time.Now()
	for _, i := range idx {
		if err := r.Sim.RestoreDevice(plant.DeviceName(cfg.Units[i].ID, plant.KindPCS, 0)); err != nil {
			rec.Stop()
			return err
		}
	}
	pcs := r.Station.Devices()
	back := make([]FaultUnit, len(idx))
	for j, i := range idx {
		back[j] = FaultUnit{Unit: cfg.Units[i].ID, OnlineMs: F(math.NaN()), BackMs: F(math.NaN())}
	}
	share := request / float64(n)
	for deadline := restoreAt.Add(hold); time.Now().Before(deadline) && ctx.Err() == nil; {
		_, ackAt := r.Station.Acked()
		truth := r.Sim.Snapshot()
		now := time.Now()
		pending := false
		for j, i := range idx {
			dev := pcs[pcsIndex(cfg.Units, i)]
			if math.IsNaN(float64(back[j].OnlineMs)) && dev.Health().State == devices.Online {
				back[j].OnlineMs = F(now.Sub(restoreAt).Seconds() * 1000)
			}
			if math.IsNaN(float64(back[j].BackMs)) && ackAt[i].After(restoreAt) && truth.Units[i].PCS.PKW > 0.5*share {
				back[j].BackMs = F(now.Sub(restoreAt).Seconds() * 1000)
			}
			pending = pending || math.IsNaN(float64(back[j].BackMs)) || math.IsNaN(float64(back[j].OnlineMs))
		}
		if !pending {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	sleepCtx(ctx, time.Until(restoreAt.Add(hold)))
	rows, units := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	fs := ScoreFaults(rows, request, band, rec.Since(dropAt), rec.Since(restoreAt))
	var online, bk []float64
	for _, b := range back {
		online = append(online, float64(b.OnlineMs))
		bk = append(bk, float64(b.BackMs))
	}
	res.Detail = map[string]any{"dropped": back, "request_kw": request, "band_kw": band,
		"drop_s": rec.Since(dropAt), "restore_s": rec.Since(restoreAt)}
	res.Add("PCS dropped", float64(k), "")
	res.AddTarget("recovery within 1 % (longest excursion) after the drop", fs.LongestDropS*1000, "ms", "≤ 1000 ms", fs.LongestDropS <= 1)
	res.Add("time outside ±1 % after the drop", fs.OutsideDropS*1000, "ms")
	res.Add("settled (last sample outside ±1 %) after the drop", fs.RecoveryS*1000, "ms")
	res.Add("max |output - request| after the drop", fs.MaxDevDropPct, "% rated")
	res.Add("recovery within 1 % (longest excursion) after the restore", fs.LongestRestoreS*1000, "ms")
	res.Add("settled (last sample outside ±1 %) after the restore", fs.RecoveryRestoreS*1000, "ms")
	res.Add("max |output - request| after the restore", fs.MaxDevRestorePct, "% rated")
	res.Add("restore → PCS online, median", quantile(online, 0.5), "ms")
	res.Add("restore → PCS online, max", worst(online), "ms")
	res.Add("restore → PCS delivering again, median", quantile(bk, 0.5), "ms")
	res.Add("restore → PCS delivering again, max", worst(bk), "ms")
	res.Note("DropDevice closes the PCS's Modbus server only: the simulated converter keeps its last setpoint until its heartbeat watchdog (%v) stops it", heartbeatTimeout(e))
	res.Note("output = POI power + site load (the simulator's truth): the plant's own output, which a manual request sets; the POI also carries the site's auxiliary load")
	res.Note("recovery = the longest continuous time the output spent outside ±1 %% of rated around the request after the drop (restore); settled = the last sample outside, measured from the drop (restore), within %v. With control.pcs_watchdog the station counts a silent PCS at its last setpoint until its own watchdog can have stopped it, so the excursion comes when the converters stop, not when they fall silent", hold)
	return e.writeSeries(rows, units)
}

func heartbeatTimeout(e *env) time.Duration {
	if h := e.plant.Cfg.Simulator.PCS.HeartbeatTimeout; h != nil {
		return *h
	}
	return 5 * time.Second
}

// pcsIndex is the position of unit i's PCS in Station.Devices (the meter
// first, then each unit's PCS and BMS).
func pcsIndex(units []config.Unit, i int) int {
	k := 1
	for j := range i {
		k += 1 + len(units[j].BMS)
	}
	return k
}

// FaultScores are the figures of a fault run.
type FaultScores struct {
	RecoveryS, RecoveryRestoreS     float64 // from the drop (restore) to the last sample outside the band before the next event
	LongestDropS, LongestRestoreS   float64 // longest continuous time outside the band
	OutsideDropS, OutsideRestoreS   float64 // total time outside the band
	MaxDevDropPct, MaxDevRestorePct float64
}

// ScoreFaults scores a recorded fault run, the plant output (POI power plus
// site load) against the request: drop and restore are in t_s.
func ScoreFaults(rows []Sample, request, band, drop, restore float64) FaultScores {
	var s FaultScores
	var run, prevT float64
	prevPhase := 0
	for _, r := range rows {
		dev := math.Abs(r.POIKW + r.LoadKW - request)
		phase := 0
		switch {
		case r.T >= restore:
			phase = 2
			if dev > band {
				s.RecoveryRestoreS = r.T - restore
			}
			s.MaxDevRestorePct = math.Max(s.MaxDevRestorePct, dev/band)
		case r.T >= drop:
			phase = 1
			if dev > band {
				s.RecoveryS = r.T - drop
			}
			s.MaxDevDropPct = math.Max(s.MaxDevDropPct, dev/band)
		}
		if phase != prevPhase {
			run = 0
		} else if phase > 0 && dev > band {
			// Time outside the band, counted over the interval that ends here.
			dt := r.T - prevT
			run += dt
			if phase == 1 {
				s.OutsideDropS += dt
				s.LongestDropS = math.Max(s.LongestDropS, run)
			} else {
				s.OutsideRestoreS += dt
				s.LongestRestoreS = math.Max(s.LongestRestoreS, run)
			}
		} else {
			run = 0
		}
		prevT, prevPhase = r.T, phase
	}
	return s
}
