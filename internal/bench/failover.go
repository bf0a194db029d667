package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/ha"
	"github.com/emsd/emsd/internal/plant"
)

func init() {
	register("failover", "configs/demo.yaml",
		"a hot-standby pair (two station runtimes, one etcd, lease TTL 2 s) at half rated power: the leader is cut off from etcd and keeps running; takeover time (last renewal possible → first PCS write by the new leader), POI excursion, writes by the stale leader after the takeover (must be 0)",
		runFailover)
}

// failoverTTL is the pair's lease in the failover scenario.
const failoverTTL = 2 * time.Second

// pairMember is one controller of the benchmark's pair.
type pairMember struct {
	rig  *Rig
	node *ha.Node
	stop context.CancelFunc
	done chan struct{}

	cycles atomic.Uint64
}

// rebase is what emsd does when elected, before its fence opens: the
// dispatcher starts again from the plant as measured, and one cycle of
// orders is made that way.
func (m *pairMember) rebase() {
	n0 := m.cycles.Load()
	m.rig.Disp.Rebase()
	deadline := time.Now().Add(3*m.rig.Cfg.Control.Period + 500*time.Millisecond)
	for m.cycles.Load() < n0+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

func (m *pairMember) close() {
	if m.stop != nil {
		m.stop()
		<-m.done
	}
	if m.rig != nil {
		_ = m.rig.Close()
	}
	if m.node != nil {
		_ = m.node.Close()
	}
}

// startMember starts one controller: its node campaigns and follows the
// replicated commands into its dispatcher; its station writes only
// through the node's fence.
func (e *env) startMember(name string, endpoints []string, o RigOptions) (*pairMember, error) {
	m := &pairMember{}
	n, err := ha.New(ha.Options{Endpoints: endpoints, Name: name, Prefix: "/emsd/bench", TTL: failoverTTL,
		Margin: 300 * time.Millisecond, Log: e.log.Named(name), OnElected: m.rebase, OnRole: m.onRole})
	if err != nil {
		return nil, err
	}
	m.node = n
	o.Station.Gate = n.Writable
	o.Station.OnCycle = func(*plant.View, plant.CycleKind) { m.cycles.Add(1) }
	if m.rig, err = e.rig(o); err != nil {
		_ = n.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.stop, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		go n.Follow(ctx, func(_ int64, cmd dispatch.Command) { _, _ = m.rig.Disp.Submit(ctx, cmd) })
		n.Run(ctx)
	}()
	return m, nil
}

// onRole has the writers of a new leader send their orders at once.
func (m *pairMember) onRole(r ha.Role, _ string) {
	if r == ha.Leader && m.rig != nil {
		m.rig.Station.Kick()
	}
}

// submit replicates commands through the leader and applies them there.
func (m *pairMember) submit(cmds ...dispatch.Command) error {
	for _, c := range cmds {
		if _, err := m.node.Replicate(context.Background(), c); err != nil {
			return fmt.Errorf("%T: %w", c, err)
		}
	}
	return m.rig.Submit(cmds...)
}

func runFailover(ctx context.Context, e *env, res *Result) error {
	endpoint, stopEtcd, err := startEtcd(ctx)
	if err != nil {
		return err
	}
	defer stopEtcd()
	pl, t0, err := StartSim(e.plant, e.log)
	if err != nil {
		return err
	}
	// The first controller reaches etcd through a proxy that can cut it off.
	proxy, err := newCutProxy(strings.TrimPrefix(endpoint, "http://"))
	if err != nil {
		pl.Close()
		return err
	}
	defer proxy.Close()
	a, err := e.startMember("ctl-a", []string{"http://" + proxy.Addr()}, RigOptions{Sim: pl, SimStart: t0})
	if err != nil {
		pl.Close()
		return err
	}
	defer a.close()
	if !waitUntil(ctx, 20*time.Second, a.node.Writable) {
		return errors.New("the first controller did not lead")
	}
	b, err := e.startMember("ctl-b", []string{endpoint}, RigOptions{NoSim: true})
	if err != nil {
		return err
	}
	defer b.close()
	request := 0.5 * a.rig.RatedKW
	if err := a.submit(dispatch.ManualSetpoint{P: request}, dispatch.SetMode{Mode: dispatch.ModeManual}); err != nil {
		return err
	}
	output := func() float64 { poi := pl.Snapshot().POI; return poi.PKW + poi.LoadKW }
	if !waitUntil(ctx, 30*time.Second, func() bool { return math.Abs(output()-request) < 0.002*a.rig.RatedKW }) {
		return fmt.Errorf("the plant did not reach %.0f kW", request)
	}
	if !waitUntil(ctx, 10*time.Second, func() bool { return b.rig.Disp.Mode() == dispatch.ModeManual }) {
		return errors.New("the standby did not receive the replicated mode")
	}
	sleepCtx(ctx, time.Second)
	var cmd Value
	cmd.Set(request)
	rec := Record(pl, time.Now(), 1, 5*time.Millisecond, 0, &cmd)
	sleepCtx(ctx, 500*time.Millisecond)
	oldConns := map[string]uint64{} // the leader's connections: the only ones that wrote so far
	for _, w := range pl.Writes() {
		oldConns[w.Device+" "+w.Client] = w.Writes
	}
	e.progress("failover: cutting the leader off from etcd at %.0f kW", request)
	cut := time.Now()
	proxy.Cut() // a partition: no renewal gets through; the leader keeps running
	var first time.Time
	waitUntil(ctx, 15*time.Second, func() bool {
		for _, w := range pl.Writes() {
			if _, old := oldConns[w.Device+" "+w.Client]; !old && !w.First.IsZero() {
				first = w.First
				return true
			}
		}
		return false
	})
	sleepCtx(ctx, 5*time.Second)
	rows, _ := rec.Stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	if first.IsZero() {
		return errors.New("the standby never wrote")
	}
	var stale uint64
	var staleLast time.Time
	for _, w := range pl.Writes() {
		if n, old := oldConns[w.Device+" "+w.Client]; old && w.Last.After(first) {
			stale += w.Writes - n
			staleLast = w.Last
		}
	}
	band := 0.01 * a.rig.RatedKW
	fs := ScoreFaults(rows, request, band, rec.Since(cut), math.Inf(1))
	takeover := first.Sub(cut)
	res.Detail = map[string]any{"request_kw": request, "lease_ttl_s": failoverTTL.Seconds(), "cut_s": rec.Since(cut)}
	res.AddTarget("takeover (cut → first PCS write by the new leader)", takeover.Seconds()*1000, "ms", "≤ TTL + 1 s = 3000 ms", takeover <= failoverTTL+time.Second)
	res.Add("max |output - request| during the takeover", fs.MaxDevDropPct, "% rated")
	res.Add("time outside ±1 % during the takeover", fs.OutsideDropS*1000, "ms")
	res.AddTarget("writes by the stale leader after the takeover", float64(stale), "", "0", stale == 0)
	if stale > 0 {
		res.Note("the stale leader's last write: %v after the takeover", staleLast.Sub(first))
	}
	res.Note("the leader is cut off from etcd (a proxy stops forwarding, connections stay open) and keeps running: it stops writing when its lease deadline passes (TTL %v less a 300 ms margin after its last granted renewal); the PCS hold their last setpoint until the new leader writes", failoverTTL)
	res.Note("output = POI power + site load (the simulator's truth); writes are counted per client connection by the simulator")
	return nil
}

// startEtcd runs a single-member etcd (Debian's etcd-server) on free
// loopback ports with a temporary data directory.
func startEtcd(ctx context.Context) (string, func(), error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return "", nil, errors.New("failover needs etcd on PATH (Debian: apt-get install etcd-server; scripts/test-deps.sh installs it)")
	}
	dir, err := os.MkdirTemp("", "emsbench-etcd-")
	if err != nil {
		return "", nil, err
	}
	ports := make([]string, 2)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", nil, err
		}
		ports[i] = l.Addr().String()
		l.Close()
	}
	client, peer := "http://"+ports[0], "http://"+ports[1]
	cmd := exec.CommandContext(ctx, bin, "--name", "bench", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "bench="+peer)
	var logb strings.Builder
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	var exited atomic.Bool
	go func() { _ = cmd.Wait(); exited.Store(true) }()
	stop := func() {
		_ = cmd.Process.Kill()
		for !exited.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		os.RemoveAll(dir)
	}
	if !waitUntil(ctx, 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", ports[0], 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil || exited.Load()
	}) || exited.Load() {
		stop()
		return "", nil, fmt.Errorf("etcd did not start")
	}
	return client, stop, nil
}
