package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	register("poll-scale", "configs/station-800mwh-string.yaml",
		"the ~900-PCS station at its normal poll rates: transactions/s, CPU cores, RSS, GC pause p99, poll-deadline misses",
		runPollScale)
}

// usage is a point-in-time reading of this process's resource counters.
type usage struct {
	at             time.Time
	cpu            time.Duration
	reads, writes  uint64
	overruns, errs uint64
	gc             *metrics.Float64Histogram
}

const gcPauseMetric = "/sched/pauses/total/gc:seconds"

func (e *env) usage(r *Rig) usage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	u := usage{at: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for _, d := range r.Station.Devices() {
		h := d.Health()
		u.reads += h.Reads
		u.writes += h.Writes
		u.overruns += h.Overruns
		u.errs += h.Errors
	}
	s := []metrics.Sample{{Name: gcPauseMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindFloat64Histogram {
		u.gc = s[0].Value.Float64Histogram()
	}
	return u
}

// gcPauseQuantile is the q-quantile of the GC pauses between two
// histogram readings (the upper edge of the bucket that holds it).
func gcPauseQuantile(a, b *metrics.Float64Histogram, q float64) (float64, uint64) {
	if a == nil || b == nil {
		return 0, 0
	}
	var total uint64
	d := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		d[i] = b.Counts[i] - a.Counts[i]
		total += d[i]
	}
	if total == 0 {
		return 0, 0
	}
	need := uint64(float64(total)*q + 0.999999)
	var acc uint64
	for i, c := range d {
		acc += c
		if acc >= need {
			return b.Buckets[i+1], total
		}
	}
	return b.Buckets[len(b.Buckets)-1], total
}

// procStatus reads a kB field of /proc/<pid>/status.
func procStatus(pid, field string) float64 {
	raw, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// procCPU is a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func runPollScale(ctx context.Context, e *env, res *Result) error {
	window := e.duration(30 * time.Second)
	o := RigOptions{}
	var child *exec.Cmd
	if e.o.ChildPlant != nil {
		args := append(append([]string(nil), e.o.ChildPlant[1:]...), e.o.Config)
		child = exec.Command(e.o.ChildPlant[0], args...)
		child.Stderr = os.Stderr
		stdin, err := child.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := child.StdoutPipe()
		if err != nil {
			return err
		}
		if err := child.Start(); err != nil {
			return err
		}
		defer func() {
			stdin.Close()
			_ = child.Wait()
		}()
		if _, err := fmt.Fprintf(stdin, "%s\n\n", strings.Join(e.plant.Addresses(), "\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			return fmt.Errorf("plant child process: %q %v", line, err)
		}
		o.NoSim = true
		res.Plant = "child process"
	}
	r, err := e.rig(o)
	if err != nil {
		return err
	}
	defer r.Close()
	e.progress("poll-scale: warm-up 5 s, then a %v window", window)
	if !sleepCtx(ctx, 5*time.Second) {
		return ctx.Err()
	}
	a := e.usage(r)
	var childA time.Duration
	if child != nil {
		childA = procCPU(child.Process.Pid)
	}
	rssMax := 0.0
	for end := a.at.Add(window); time.Now().Before(end) && ctx.Err() == nil; {
		sleepCtx(ctx, time.Second)
		rssMax = max(rssMax, procStatus("self", "VmRSS"))
	}
	b := e.usage(r)
	if err := ctx.Err(); err != nil {
		return err
	}
	wall := b.at.Sub(a.at).Seconds()
	reads, writes := float64(b.reads-a.reads), float64(b.writes-a.writes)
	cores := (b.cpu - a.cpu).Seconds() / wall
	gcP99, pauses := gcPauseQuantile(a.gc, b.gc, 0.99)
	miss := float64(b.overruns-a.overruns) / reads
	res.Detail = map[string]any{"window_s": wall, "reads": reads, "writes": writes, "overruns": b.overruns - a.overruns,
		"errors": b.errs - a.errs, "gc_pauses": pauses}
	res.Add("transactions/s", (reads+writes)/wall, "1/s")
	res.Add("reads/s", reads/wall, "1/s")
	res.Add("writes/s", writes/wall, "1/s")
	res.AddTarget("poll-deadline misses (overruns/reads)", miss*100, "%", "0 (all polls on time)", b.overruns == a.overruns)
	res.Add("transaction errors", float64(b.errs-a.errs), "")
	what := "runtime + in-process plant"
	if child != nil {
		what = "runtime only"
	}
	res.AddTarget("CPU ("+what+")", cores, "cores", "≤ 1 core", cores <= 1)
	if child != nil {
		res.Add("CPU (plant child process)", (procCPU(child.Process.Pid)-childA).Seconds()/wall, "cores")
	}
	res.AddTarget("RSS max ("+what+")", rssMax, "MB", "≤ 150 MB", rssMax <= 150)
	res.Add("RSS high-water mark", procStatus("self", "VmHWM"), "MB")
	res.Add("GC pause p99", gcP99*1000, "ms")
	res.Add("GC pauses in window", float64(pauses), "")
	res.Note("measured over a %.0f s window after 5 s of warm-up; CPU is getrusage (user+system) / wall; GC pauses from runtime/metrics %s (bucket upper edge)", wall, gcPauseMetric)
	if child == nil {
		res.Note("the simulated plant runs in this process: CPU, RSS and GC include it (use -plant child for the runtime's own share)")
	}
	return nil
}
