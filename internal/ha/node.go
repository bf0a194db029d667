package ha

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// Role is a node's part in the pair.
type Role int

// Roles.
const (
	Standby Role = iota // polls, refuses commands, does not write
	Leader              // the active controller
)

func (r Role) String() string {
	if r == Leader {
		return "leader"
	}
	return "standby"
}

// Options configure a Node.
type Options struct {
	// Endpoints are the etcd client URLs. Required.
	Endpoints []string
	// Name identifies this controller to the other one. Required.
	Name string
	// Prefix roots this pair's keys in etcd. Required.
	Prefix string
	// TTL is the lease's time to live, whole seconds, >= 2 s.
	TTL time.Duration
	// Margin is taken off the lease for the local deadline.
	Margin time.Duration
	// Log receives role changes; nil logs nowhere.
	Log *zap.Logger
	// OnRole, if set, is called on each role change with the new role and
	// the name of the previous leader ("" if none was known).
	OnRole func(r Role, previous string)
	// OnElected, if set, is called when the node wins the election, before
	// its fence opens: the place to make the first orders start from the
	// plant as measured. It must return within a fraction of the TTL.
	OnElected func()
}

// Node is one controller of the pair.
type Node struct {
	o     Options
	cli   *clientv3.Client
	fence *Fence
	log   *zap.Logger

	role      atomic.Int32
	takeovers atomic.Uint64
	resign    chan struct{}
	instance  string // name and start time: tells this process's replicated commands apart

	mu     sync.Mutex
	leader string                // name of the active controller, as etcd last said
	elec   *concurrency.Election // while leading
}

// New connects to etcd (lazily: an unreachable etcd is not an error here).
func New(o Options) (*Node, error) {
	if len(o.Endpoints) == 0 || o.Name == "" || o.Prefix == "" {
		return nil, errors.New("ha: endpoints, name and prefix are required")
	}
	if o.TTL < 2*time.Second || o.TTL%time.Second != 0 {
		return nil, fmt.Errorf("ha: ttl %v must be whole seconds, at least 2s", o.TTL)
	}
	if o.Margin < 0 || o.Margin >= o.TTL/2 {
		return nil, fmt.Errorf("ha: margin %v must be within 0..ttl/2", o.Margin)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: o.Endpoints, DialTimeout: o.TTL,
		DialKeepAliveTime: o.TTL / 2, DialKeepAliveTimeout: o.TTL / 2, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("ha: etcd: %w", err)
	}
	return &Node{o: o, cli: cli, fence: NewFence(), log: o.Log, resign: make(chan struct{}, 1),
		instance: fmt.Sprintf("%s@%d", o.Name, time.Now().UnixNano())}, nil
}

// Close ends the etcd connection; the lease then runs out.
func (n *Node) Close() error { return n.cli.Close() }

// Client is the etcd client.
func (n *Node) Client() *clientv3.Client { return n.cli }

// Fence is the node's write permission.
func (n *Node) Fence() *Fence { return n.fence }

// Writable reports whether the node may write now: it leads and its lease
// deadline has not passed.
func (n *Node) Writable() bool { return n.fence.Open() }

// Role is the node's current role.
func (n *Node) Role() Role { return Role(n.role.Load()) }

// Name is this node's name.
func (n *Node) Name() string { return n.o.Name }

// Leader is the name of the active controller, "" if none is known.
func (n *Node) Leader() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader
}

// Takeovers counts the times this node became the leader.
func (n *Node) Takeovers() uint64 { return n.takeovers.Load() }

// StandbyReason is why a standby refuses a command.
func (n *Node) StandbyReason() string {
	l := n.Leader()
	if l == "" || l == n.o.Name {
		l = "unknown (election in progress)"
	}
	return "standby; the active controller is " + l
}

// Resign hands the active role over: the leader gives up its lease's
// election key and campaigns again behind the other node. It returns an
// error when this node is not the leader.
func (n *Node) Resign() error {
	if n.Role() != Leader {
		return errors.New(n.StandbyReason())
	}
	select {
	case n.resign <- struct{}{}:
	default:
	}
	return nil
}

func (n *Node) key(s string) string { return n.o.Prefix + "/" + s }

// Run campaigns, leads and campaigns again until ctx ends.
func (n *Node) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := n.term(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("ha: election", zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	n.stepDown("stopping")
}

// term is one session: campaign, lead while the lease holds, step down.
//
// The node renews its lease itself, every TTL/4, for the whole term (the
// session's own keep-alive gives up when etcd is away longer than the TTL,
// though etcd may still hold the lease when it comes back, e.g. after a
// restart). The term ends only when etcd says the lease is gone, on a
// hand-over, or when ctx ends.
func (n *Node) term(ctx context.Context) error {
	ttl := int(n.o.TTL / time.Second)
	sess, err := concurrency.NewSession(n.cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer n.release(sess)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var leading atomic.Bool
	lost := make(chan struct{})
	go func() {
		if n.keep(sctx, sess.Lease(), &leading) {
			close(lost)
			cancel()
		}
	}()
	e := concurrency.NewElection(sess, n.key("leader"))
	go n.observe(sctx, e)
	if err := e.Campaign(sctx, n.o.Name); err != nil {
		return err
	}
	prev := n.Leader()
	if n.o.OnElected != nil {
		n.o.OnElected()
	}
	// Open the fence from a renewal sent after winning: the lease was
	// renewed no earlier than this.
	leading.Store(true)
	if !n.renew(sctx, sess.Lease()) {
		n.stepDown("lease lost right after winning the election")
		return nil
	}
	n.mu.Lock()
	n.leader, n.elec = n.o.Name, e
	n.mu.Unlock()
	n.role.Store(int32(Leader))
	n.takeovers.Add(1)
	n.log.Warn("ha: takeover: this controller is now the active one", zap.String("previous", prev),
		zap.Duration("fence", n.fence.Remaining(time.Now())))
	if n.o.OnRole != nil {
		n.o.OnRole(Leader, prev)
	}
	why := "stopping"
	select {
	case <-sctx.Done():
		select {
		case <-lost:
			why = "lease lost"
		default:
		}
	case <-n.resign:
		why = "handover"
	}
	leading.Store(false)
	n.stepDown(why)
	if why == "handover" {
		rctx, rcancel := context.WithTimeout(context.Background(), n.o.TTL)
		_ = e.Resign(rctx)
		rcancel()
	}
	return nil
}

// keep renews the lease every TTL/4 until ctx ends, extending the fence
// while leading; it returns true when etcd says the lease is gone.
func (n *Node) keep(ctx context.Context, id clientv3.LeaseID, leading *atomic.Bool) bool {
	t := time.NewTicker(n.o.TTL / 4)
	defer t.Stop()
	fenced := false // logged that the fence closed for want of renewals
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, n.o.TTL/4)
		ok, lost := n.renewOnce(rctx, id, leading.Load())
		cancel()
		if lost {
			return true
		}
		if !leading.Load() {
			continue
		}
		switch open := n.fence.Open(); {
		case !ok && !open && !fenced:
			n.log.Error("ha: lease not renewed in time: writes stop until etcd answers")
			fenced = true
		case ok && fenced:
			n.log.Warn("ha: lease renewed again: writes resume")
			fenced = false
		}
	}
}

// renew renews once, retrying until it succeeds or ctx ends, and opens
// the fence from it.
func (n *Node) renew(ctx context.Context, id clientv3.LeaseID) bool {
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, n.o.TTL/4)
		ok, lost := n.renewOnce(rctx, id, true)
		cancel()
		if ok {
			return true
		}
		if lost {
			return false
		}
	}
	return false
}

// renewOnce sends one renewal and, if etcd grants it and fence is set,
// extends the fence from the time it was sent (unless the node stepped
// down meanwhile). lost means the lease no longer exists.
func (n *Node) renewOnce(ctx context.Context, id clientv3.LeaseID, fence bool) (ok, lost bool) {
	epoch := n.fence.Epoch()
	sent := time.Now()
	resp, err := n.cli.KeepAliveOnce(ctx, id)
	if err != nil {
		return false, errors.Is(err, rpcLeaseNotFound) || isLeaseNotFound(err)
	}
	if fence {
		ttl := min(time.Duration(resp.TTL)*time.Second, n.o.TTL)
		n.fence.Extend(epoch, Deadline(sent, ttl, n.o.Margin))
	}
	return true, false
}

// release ends a session: its lease is revoked (its election key goes
// with it), so that a standby need not wait for it to run out. The fence
// is closed before.
func (n *Node) release(sess *concurrency.Session) {
	sess.Orphan()
	ctx, cancel := context.WithTimeout(context.Background(), n.o.TTL/2)
	defer cancel()
	_, _ = n.cli.Revoke(ctx, sess.Lease())
}

// stepDown closes the fence and makes the node a standby.
func (n *Node) stepDown(why string) {
	n.fence.Close()
	select { // a hand-over asked for in this term is done
	case <-n.resign:
	default:
	}
	n.mu.Lock()
	n.elec = nil
	n.mu.Unlock()
	if Role(n.role.Swap(int32(Standby))) == Leader {
		n.log.Warn("ha: stepped down: this controller is now the standby", zap.String("why", why))
		if n.o.OnRole != nil {
			n.o.OnRole(Standby, n.o.Name)
		}
	}
}

// observe follows who leads.
func (n *Node) observe(ctx context.Context, e *concurrency.Election) {
	for r := range e.Observe(ctx) {
		if len(r.Kvs) == 0 {
			continue
		}
		n.mu.Lock()
		if n.elec == nil { // while leading, the node knows
			n.leader = string(r.Kvs[0].Value)
		}
		n.mu.Unlock()
	}
}

// Leading reports whether this node is the elected leader (its fence may
// still be closed if its lease is running out).
func (n *Node) Leading() bool { return n.Role() == Leader }

// RefuseReason is why this node does not take a command now.
func (n *Node) RefuseReason() string {
	if n.Role() == Leader {
		return "not applied: this controller's etcd lease is not renewed, so it does not command the plant until etcd answers"
	}
	return n.StandbyReason()
}
