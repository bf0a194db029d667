package devices

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/goburrow/modbus"

	"github.com/emsd/emsd/internal/procimg"
)

// The poll benchmark runs its Modbus servers in a separate process (this
// test binary re-executed into TestHelperServers) so that getrusage of
// the benchmark process measures the client alone.
const (
	helperEnv     = "EMSD_DEVICES_HELPER_SERVERS"
	benchDevices  = 1000
	benchPeriod   = 100 * time.Millisecond
	benchWarmup   = 1500 * time.Millisecond
	benchWindow   = 3 * time.Second
	histBucket    = 5 * time.Microsecond
	histBuckets   = 40000 // 200 ms; slower reads land in the last bucket
	helperTimeout = 30 * time.Second
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopHelper()
	os.Exit(code)
}

// TestHelperServers is not a test: re-executed with helperEnv=N it starts
// N raw Modbus servers on loopback, prints "ready <addr>,<addr>,..." and
// serves until its stdin closes (the parent exited or is done).
func TestHelperServers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(helperEnv))
	if n <= 0 {
		t.Skip("helper process for BenchmarkPoll1000")
	}
	addrs := make([]string, n)
	for i := range n {
		s, err := newRawServer("127.0.0.1:0", nil)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		addrs[i] = s.addr
	}
	fmt.Println("ready " + strings.Join(addrs, ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

var helper struct {
	once  sync.Once
	cmd   *exec.Cmd
	stdin io.Closer
	addrs []string
	err   error
}

// helperServers starts (once per process) the server process and returns
// its server addresses.
func helperServers(n int) ([]string, error) {
	helper.once.Do(func() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServers$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", helperEnv, n))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			helper.err = err
			return
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			helper.err = err
			return
		}
		if err := cmd.Start(); err != nil {
			helper.err = err
			return
		}
		helper.cmd, helper.stdin = cmd, stdin
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "ready ") {
					lines <- sc.Text()
				}
			}
			close(lines)
		}()
		select {
		case l, ok := <-lines:
			if !ok {
				helper.err = fmt.Errorf("helper exited before ready")
				return
			}
			helper.addrs = strings.Split(strings.TrimPrefix(l, "ready "), ",")
		case <-time.After(helperTimeout):
			helper.err = fmt.Errorf("helper not ready after %v", helperTimeout)
		}
	})
	if helper.err == nil && len(helper.addrs) < n {
		return nil, fmt.Errorf("helper has %d servers, want %d", len(helper.addrs), n)
	}
	return helper.addrs[:n], helper.err
}

func stopHelper() {
	if helper.cmd != nil {
		helper.stdin.Close()
		done := make(chan struct{})
		go func() { _ = helper.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = helper.cmd.Process.Kill()
		}
	}
}

// hist is a lock-free latency histogram.
type hist struct {
	b [histBuckets]atomic.Uint64
}

func (h *hist) add(d time.Duration) {
	i := int(d / histBucket)
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.b[i].Add(1)
}

func (h *hist) reset() {
	for i := range h.b {
		h.b[i].Store(0)
	}
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *hist) quantile(q float64) time.Duration {
	var total uint64
	for i := range h.b {
		total += h.b[i].Load()
	}
	want := uint64(q * float64(total))
	var n uint64
	for i := range h.b {
		n += h.b[i].Load()
		if n > want {
			return time.Duration(i+1) * histBucket
		}
	}
	return histBuckets * histBucket
}

// benchObserver counts reads and their latencies.
type benchObserver struct {
	h          hist
	reads      atomic.Uint64
	errs       atomic.Uint64
	lastErrMsg atomic.Value
}

func (o *benchObserver) Transaction(_ string, op Op, took time.Duration, err error) {
	if err != nil {
		o.errs.Add(1)
		o.lastErrMsg.Store(err.Error())
		return
	}
	if op == Read {
		o.reads.Add(1)
		o.h.add(took)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// measure waits out the warm-up, then reports throughput, latency, client
// CPU and allocations over b.N windows.
func measure(b *testing.B, o *benchObserver) {
	time.Sleep(benchWarmup)
	o.h.reset()
	e0 := o.errs.Load()
	r0, c0, m0, t0 := o.reads.Load(), cpuTime(), mallocs(), time.Now()
	b.ResetTimer()
	for range b.N {
		time.Sleep(benchWindow)
	}
	b.StopTimer()
	r1, c1, m1, t1 := o.reads.Load(), cpuTime(), mallocs(), time.Now()
	tx := float64(r1 - r0)
	if tx == 0 {
		b.Fatal("no reads")
	}
	b.ReportMetric(tx/t1.Sub(t0).Seconds(), "tx/s")
	b.ReportMetric(float64(o.h.quantile(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(o.h.quantile(0.99).Microseconds()), "p99-µs")
	b.ReportMetric((c1-c0).Seconds()/(tx/1000), "cpu-s/ktx")
	b.ReportMetric(float64(m1-m0)/tx, "allocs/tx")
	if e := o.errs.Load() - e0; e > 0 {
		b.ReportMetric(float64(e), "errors")
		b.Logf("%d errors, last: %v", e, o.lastErrMsg.Load())
	}
}

// BenchmarkPoll1000 polls 1000 simulated PCS (sim-pcs, one 6-register
// read per 100 ms) over loopback: "emsd" through Device, "goburrow" with a
// bare loop of one goroutine and one goburrow client per device, the
// floor emsd is compared with. Run it with -benchtime=1x; each op is a
// 3 s measurement window after a 1.5 s warm-up.
func BenchmarkPoll1000(b *testing.B) {
	addrs, err := helperServers(benchDevices)
	if err != nil {
		b.Fatal(err)
	}
	prof := builtinProfile(b, "sim-pcs")

	b.Run("emsd", func(b *testing.B) {
		img := procimg.New()
		o := &benchObserver{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		devs := make([]*Device, len(addrs))
		for i, a := range addrs {
			d, err := New(Options{
				Name: fmt.Sprintf("u%d.pcs", i), Address: a, Profile: prof,
				Periods: map[string]time.Duration{"fast": benchPeriod},
				Timeout: time.Second, Observer: o,
			}, img, nil)
			if err != nil {
				b.Fatal(err)
			}
			devs[i] = d
			wg.Add(1)
			go func() { defer wg.Done(); d.Run(ctx) }()
		}
		measure(b, o)
		var overruns uint64
		for _, d := range devs {
			overruns += d.Health().Overruns
		}
		b.ReportMetric(float64(overruns), "overruns")
		cancel()
		wg.Wait()
	})

	b.Run("goburrow", func(b *testing.B) {
		o := &benchObserver{}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, a := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bareLoop(ctx, a, o)
			}()
		}
		measure(b, o)
		cancel()
		wg.Wait()
	})
}

// bareLoop is the floor: goburrow reading the sim-pcs fast block every
// period on a deadline schedule with the same random start phase, and
// nothing else.
func bareLoop(ctx context.Context, addr string, o *benchObserver) {
	h := modbus.NewTCPClientHandler(addr)
	h.Timeout = time.Second
	h.IdleTimeout = 0
	c := modbus.NewClient(h)
	defer h.Close()
	phase := time.Duration(rand.Int64N(int64(benchPeriod)))
	next := time.Now().Add(phase)
	t := time.NewTimer(phase)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t0 := time.Now()
		_, err := c.ReadInputRegisters(0, 6)
		o.Transaction("", Read, time.Since(t0), err)
		if err != nil {
			h.Close()
		}
		next = next.Add(benchPeriod)
		t.Reset(time.Until(next))
	}
}

// BenchmarkDeviceRead is one device reading back to back (period 1 µs)
// from an in-process server: per-transaction cost and allocations of the
// whole read path, server included.
func BenchmarkDeviceRead(b *testing.B) {
	srv, err := newRawServer("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	o := &benchObserver{}
	d, err := New(Options{Name: "one", Address: srv.addr, Profile: builtinProfile(b, "sim-pcs"),
		Periods: map[string]time.Duration{"fast": time.Microsecond}, Observer: o}, procimg.New(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for o.reads.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	r0 := o.reads.Load()
	for o.reads.Load()-r0 < uint64(b.N) {
		runtime.Gosched()
	}
	b.StopTimer()
	cancel()
	<-done
}
