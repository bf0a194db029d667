package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/dispatch"
)

// commandTypes are the operator commands that can be replicated, by name.
var commandTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, c := range []dispatch.Command{dispatch.SetMode{}, dispatch.ManualSetpoint{}, dispatch.ScheduleUpload{},
		dispatch.SetPeakShaving{}, dispatch.AGCTarget{}, dispatch.SetAGCParams{}, dispatch.SetPFR{},
		dispatch.SetFFR{}, dispatch.EStop{}, dispatch.Reset{}} {
		t := reflect.TypeOf(c)
		m[t.Name()] = t
	}
	return m
}()

// op is one replicated command as stored in etcd.
type op struct {
	Type string          `json:"type"`
	Cmd  json.RawMessage `json:"cmd"`
	By   string          `json:"by"` // instance that applied it first
}

// EncodeCommand encodes cmd for replication.
func EncodeCommand(cmd dispatch.Command, by string) ([]byte, error) {
	t := reflect.TypeOf(cmd)
	if t == nil || commandTypes[t.Name()] != t {
		return nil, fmt.Errorf("command %T cannot be replicated", cmd)
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	return json.Marshal(op{Type: t.Name(), Cmd: b, By: by})
}

// DecodeCommand decodes a replicated command and the instance that sent it.
func DecodeCommand(b []byte) (dispatch.Command, string, error) {
	var o op
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, "", err
	}
	t, ok := commandTypes[o.Type]
	if !ok {
		return nil, o.By, fmt.Errorf("unknown command type %q", o.Type)
	}
	v := reflect.New(t)
	if err := json.Unmarshal(o.Cmd, v.Interface()); err != nil {
		return nil, o.By, fmt.Errorf("%s: %w", o.Type, err)
	}
	return v.Elem().Interface().(dispatch.Command), o.By, nil
}

// ErrNotLeader refuses a replication by a node that does not lead.
var ErrNotLeader = errors.New("not the active controller")

// Replicate records an operator command in etcd, in one transaction that
// succeeds only while this node's election key is the leader's, and
// returns its revision. The leader applies a command only once it is
// replicated, so the standby never misses one the leader applied.
func (n *Node) Replicate(ctx context.Context, cmd dispatch.Command) (int64, error) {
	n.mu.Lock()
	e := n.elec
	n.mu.Unlock()
	if e == nil || !n.Writable() {
		return 0, ErrNotLeader
	}
	b, err := EncodeCommand(cmd, n.instance)
	if err != nil {
		return 0, err
	}
	key := n.key("ops/") + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + n.instance
	resp, err := n.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev())).
		Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return 0, fmt.Errorf("replicating through etcd: %w", err)
	}
	if !resp.Succeeded {
		return 0, ErrNotLeader
	}
	return resp.Header.Revision, nil
}

// Follow applies, in revision order, every replicated command this
// instance did not apply itself: first those already in etcd, then new
// ones as they come, until ctx ends. It retries on etcd errors.
func (n *Node) Follow(ctx context.Context, apply func(rev int64, cmd dispatch.Command)) {
	pfx := n.key("ops/")
	var from int64 // last revision seen
	handle := func(rev int64, v []byte) {
		from = max(from, rev)
		cmd, by, err := DecodeCommand(v)
		if err != nil {
			n.log.Error("ha: replicated command unreadable; skipped", zap.Int64("revision", rev), zap.Error(err))
			return
		}
		if by != n.instance {
			apply(rev, cmd)
		}
	}
	for ctx.Err() == nil {
		if from == 0 {
			resp, err := n.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
			if err != nil {
				n.wait(ctx, "reading the replicated commands", err)
				continue
			}
			for _, kv := range resp.Kvs {
				handle(kv.ModRevision, kv.Value)
			}
			from = max(resp.Header.Revision, 1)
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range n.cli.Watch(wctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(from+1)) {
			if err := wr.Err(); err != nil {
				n.log.Warn("ha: watching the replicated commands", zap.Error(err))
				break
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					handle(ev.Kv.ModRevision, ev.Kv.Value)
				}
			}
		}
		cancel()
		n.wait(ctx, "watching the replicated commands", nil)
	}
}

func (n *Node) wait(ctx context.Context, what string, err error) {
	if err != nil {
		n.log.Warn("ha: "+what, zap.Error(err))
	}
	select {
	case <-ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
}
