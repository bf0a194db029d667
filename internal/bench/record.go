package bench

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emsd/emsd/internal/sim"
)

// Value is a float64 shared between a scenario's driver and the recorder.
type Value struct{ bits atomic.Uint64 }

// Set stores v.
func (v *Value) Set(x float64) { v.bits.Store(math.Float64bits(x)) }

// Get loads v.
func (v *Value) Get() float64 { return math.Float64frombits(v.bits.Load()) }

// Sample is one row of the plant series (series.csv).
type Sample struct {
	T      float64 // scenario time, s: wall time since T0 × speed
	CmdKW  float64 // what the plant was asked for at the POI, kW (scenario-specific, see docs/benchmarks.md)
	FHz    float64 // grid frequency at the POI
	POIKW  float64 // POI active power, + export
	SOCPct float64 // plant SOC, capacity-weighted
	LoadKW float64 // site load behind the POI
	Wall   float64 // wall time since T0, s
}

// UnitSample is one row of the per-unit series (units.csv).
type UnitSample struct {
	T          float64
	Unit       string
	PKW, SetKW float64 // PCS output and the setpoint it was last written
	SOCPct     float64
}

// Recorder samples the simulated plant's ground truth at a fixed interval.
type Recorder struct {
	plant     *sim.Plant
	t0        time.Time
	speed     float64
	cmd       *Value
	unitEvery int // every n-th sample also records each unit; 0 never

	mu    sync.Mutex
	rows  []Sample
	units []UnitSample
	stop  chan struct{}
	done  chan struct{}
}

// Record starts sampling plant every interval; scenario time is wall time
// since t0 times speed. cmd is read for the CmdKW column. Every unitEvery-th
// sample records every unit too (0: never).
func Record(plant *sim.Plant, t0 time.Time, speed float64, every time.Duration, unitEvery int, cmd *Value) *Recorder {
	r := &Recorder{plant: plant, t0: t0, speed: speed, cmd: cmd, unitEvery: unitEvery,
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run(every)
	return r
}

func (r *Recorder) run(every time.Duration) {
	defer close(r.done)
	tk := time.NewTicker(every)
	defer tk.Stop()
	for n := 0; ; n++ {
		r.take(n)
		select {
		case <-r.stop:
			r.take(-1)
			return
		case <-tk.C:
		}
	}
}

func (r *Recorder) take(n int) {
	st := r.plant.Snapshot()
	wall := st.At.Sub(r.t0).Seconds()
	t := wall * r.speed
	var e, c float64
	withUnits := r.unitEvery > 0 && n >= 0 && n%r.unitEvery == 0
	var us []UnitSample
	if withUnits {
		us = make([]UnitSample, 0, len(st.Units))
	}
	for _, u := range st.Units {
		var ue, uc float64
		for _, b := range u.BMS {
			ue += b.SOCPct * b.CapacityKWh
			uc += b.CapacityKWh
		}
		e += ue
		c += uc
		if withUnits {
			us = append(us, UnitSample{T: t, Unit: u.ID, PKW: u.PCS.PKW, SetKW: u.PCS.PSetKW, SOCPct: ue / uc})
		}
	}
	s := Sample{T: t, FHz: st.POI.FHz, POIKW: st.POI.PKW, SOCPct: e / c, LoadKW: st.POI.LoadKW, Wall: wall}
	if r.cmd != nil {
		s.CmdKW = r.cmd.Get()
	}
	r.mu.Lock()
	r.rows = append(r.rows, s)
	r.units = append(r.units, us...)
	r.mu.Unlock()
}

// Stop ends sampling (after one last sample) and returns the series.
func (r *Recorder) Stop() ([]Sample, []UnitSample) {
	close(r.stop)
	<-r.done
	return r.rows, r.units
}

// Since converts a wall-clock instant into scenario time.
func (r *Recorder) Since(at time.Time) float64 { return at.Sub(r.t0).Seconds() * r.speed }

// SeriesHeader is the header of series.csv.
const SeriesHeader = "t_s,cmd_kw,f_hz,poi_kw,soc_pct,load_kw,wall_s"

// UnitsHeader is the header of units.csv.
const UnitsHeader = "t_s,unit,p_kw,setpoint_kw,soc_pct"

// WriteSeries writes series.csv and, if units is not empty, units.csv into dir.
func WriteSeries(dir string, rows []Sample, units []UnitSample) error {
	if err := writeCSV(filepath.Join(dir, "series.csv"), SeriesHeader, len(rows), func(b []byte, i int) []byte {
		s := &rows[i]
		return appendFloats(b, s.T, s.CmdKW, s.FHz, s.POIKW, s.SOCPct, s.LoadKW, s.Wall)
	}); err != nil {
		return err
	}
	if len(units) == 0 {
		return nil
	}
	return writeCSV(filepath.Join(dir, "units.csv"), UnitsHeader, len(units), func(b []byte, i int) []byte {
		u := &units[i]
		b = strconv.AppendFloat(b, u.T, 'f', -1, 64)
		b = append(b, ',')
		b = append(b, u.Unit...)
		b = append(b, ',')
		return appendFloats(b, u.PKW, u.SetKW, u.SOCPct)
	})
}

// appendFloats appends comma-separated values in the shortest form that
// reads back exactly, so a re-scoring sees the numbers the bench scored.
func appendFloats(b []byte, vs ...float64) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

func writeCSV(path, header string, n int, row func([]byte, int) []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	fmt.Fprintln(w, header)
	var b []byte
	for i := range n {
		b = row(b[:0], i)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
