package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/command"
	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/ha"
	"github.com/emsd/emsd/internal/httpapi"
	"github.com/emsd/emsd/internal/station"
)

// newHA builds this controller's half of a hot-standby pair, or nil when
// the configuration has no ha section.
func newHA(cfg *config.Config, log *zap.Logger, onRole func(ha.Role, string), onElected func()) (*ha.Node, error) {
	if !cfg.HA.Enabled {
		return nil, nil
	}
	h := &cfg.HA
	n, err := ha.New(ha.Options{Endpoints: h.Etcd, Name: h.Name, Prefix: h.Prefix,
		TTL: h.LeaseTTL, Margin: h.FenceMargin, Log: log.Named("ha"), OnRole: onRole, OnElected: onElected})
	if err != nil {
		return nil, configErr(fmt.Errorf("%s: ha: %w", cfg.File, err))
	}
	return n, nil
}

// startHA campaigns and follows the replicated commands until stopHA; it
// outlives the signal context, so that a leader keeps its lease (and may
// write) through the shutdown ramp.
func (s *services) startHA() {
	if s.ha == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.haCancel = cancel
	s.haWG.Add(2)
	go func() { defer s.haWG.Done(); s.ha.Run(ctx) }()
	go func() {
		defer s.haWG.Done()
		s.ha.Follow(ctx, func(rev int64, cmd dispatch.Command) {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, err := s.disp.Submit(actx, cmd); err != nil {
				s.log.Warn("ha: replicated command refused here too", zap.Int64("revision", rev), zap.String("command", fmt.Sprintf("%T", cmd)), zap.Error(err))
				return
			}
			s.log.Info("ha: replicated command applied", zap.Int64("revision", rev), zap.String("command", fmt.Sprintf("%T", cmd)))
		})
	}()
	s.log.Info("hot standby: campaigning through etcd", zap.String("name", s.cfg.HA.Name), zap.Strings("etcd", s.cfg.HA.Etcd),
		zap.Duration("lease_ttl", s.cfg.HA.LeaseTTL))
}

// stopHA resigns (the lease is revoked, so the standby takes over at once)
// and closes the etcd client.
func (s *services) stopHA() {
	if s.ha == nil {
		return
	}
	if s.haCancel != nil {
		s.haCancel()
	}
	s.haWG.Wait()
	_ = s.ha.Close()
}

// onRole audits each role change (takeovers are events) and, on
// becoming the leader, has the writers send their orders at once.
func (s *services) onRole(r ha.Role, previous string) {
	if r == ha.Leader && s.st != nil {
		s.st.Kick()
	}
	if s.sinks == nil {
		return
	}
	reason := "this controller is now the active one"
	if r == ha.Leader && previous != "" && previous != s.cfg.HA.Name {
		reason += "; the previous one was " + previous
	}
	if r == ha.Standby {
		reason = "this controller is now the standby"
	}
	_ = s.sinks.Audit(command.Record{Time: time.Now(), Transport: "ha", Client: s.cfg.HA.Name, Name: "role_" + r.String(),
		Result: command.ResultOK, Reason: reason})
}

// onElected runs before the new leader's fence opens: the dispatcher
// starts again from the plant as measured (its orders as standby were
// never written), and the writers get one cycle's orders made that way,
// so the first write continues from what the PCS deliver now.
func (s *services) onElected() {
	n0 := s.cycles.Load()
	s.disp.Rebase()
	deadline := time.Now().Add(3*s.cfg.Control.Period + 500*time.Millisecond)
	for s.cycles.Load() < n0+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// role is this controller's role for the HTTP API and MQTT state.
func (s *services) role() httpapi.Role {
	return httpapi.Role{Role: s.ha.Role().String(), Active: s.ha.Leader(), Name: s.ha.Name()}
}

// handover hands the active role to the standby, audited.
func (s *services) handover(operator, client string) error {
	err := s.ha.Resign()
	rec := command.Record{Time: time.Now(), Transport: "http", Client: client, Operator: operator,
		Topic: "/api/handover", Name: "handover", Result: command.ResultOK, Reason: "the active role goes to the standby"}
	if err != nil {
		rec.Result, rec.Reason = command.ResultRefused, err.Error()
	}
	_ = s.sinks.Audit(rec)
	return err
}

// commandGate refuses operator commands on a controller that may not
// write (the standby, or a leader whose lease is running out).
func (s *services) commandGate() string {
	if s.ha.Writable() {
		return ""
	}
	return s.ha.RefuseReason()
}

// gate is the station's write gate: the fence of a pair's leader, or
// nil for a controller alone.
func gate(n *ha.Node) func() bool {
	if n == nil {
		return nil
	}
	return n.Writable
}

// bus lets operator commands reach the dispatcher. In a pair only the
// leader takes them, and only once they are replicated through etcd.
// Replicating and applying are one step under a lock, so that the
// standby applies commands in the order the leader did.
type bus struct {
	d  *station.Dispatcher
	ha *ha.Node
	mu *sync.Mutex
}

func (b bus) Submit(ctx context.Context, cmd dispatch.Command, _ command.Source) (time.Time, error) {
	if b.ha != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.ha.Writable() {
			return time.Time{}, errors.New(b.ha.RefuseReason())
		}
		if _, err := b.ha.Replicate(ctx, cmd); err != nil {
			if errors.Is(err, ha.ErrNotLeader) {
				return time.Time{}, errors.New(b.ha.RefuseReason())
			}
			return time.Time{}, fmt.Errorf("not applied: %w", err)
		}
	}
	return b.d.Submit(ctx, cmd)
}
