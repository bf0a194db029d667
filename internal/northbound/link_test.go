package northbound

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/command"
)

// commands records what the Link submits.
type commands struct {
	mu   sync.Mutex
	got  []string
	fail string
}

func (c *commands) Handle(_ context.Context, name string, payload []byte, src command.Source) command.Reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, src.Transport+" "+name+" "+string(payload))
	if c.fail != "" {
		return command.Reply{Error: c.fail}
	}
	return command.Reply{OK: true}
}

func (c *commands) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got...)
}

func TestLinkFallbackOnlyWhenArmedAndAllLost(t *testing.T) {
	cmds := &commands{}
	l := NewLink(LinkConfig{Fallback: Zero}, cmds, nil)
	l.Connected()
	l.Disconnected()
	if l.Fallbacks() != 0 || len(cmds.all()) != 0 {
		t.Fatalf("fallback without a dispatch setpoint in force: %v", cmds.all())
	}
	l.Connected()
	l.Connected()
	l.refreshed()
	l.Disconnected()
	if l.Fallbacks() != 0 {
		t.Fatal("fallback with one connection left")
	}
	l.Disconnected()
	got := cmds.all()
	if l.Fallbacks() != 1 || len(got) != 1 || got[0][:len("northbound agc_target {")] != "northbound agc_target {" {
		t.Fatalf("fallbacks %d, commands %v", l.Fallbacks(), got)
	}
	// Not armed again until a new setpoint is accepted.
	l.Connected()
	l.Disconnected()
	if l.Fallbacks() != 1 {
		t.Errorf("fallback applied twice for one setpoint")
	}
}

func TestLinkHoldSubmitsNothing(t *testing.T) {
	cmds := &commands{}
	l := NewLink(LinkConfig{SetpointTimeout: 50 * time.Millisecond}, cmds, nil)
	l.refreshed()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for l.Fallbacks() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fallback after the setpoint timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := cmds.all(); len(got) != 0 {
		t.Errorf("hold submitted %v", got)
	}
}

func TestLinkZeroRefusedIsLoggedNotRetried(t *testing.T) {
	cmds := &commands{fail: "remote control disabled (local mode)"}
	l := NewLink(LinkConfig{Fallback: Zero}, cmds, nil)
	l.Connected()
	l.refreshed()
	l.Disconnected()
	if got := cmds.all(); l.Fallbacks() != 1 || len(got) != 1 {
		t.Fatalf("fallbacks %d, commands %v", l.Fallbacks(), got)
	}
}

func TestLinkScheduleSwitchesMode(t *testing.T) {
	cmds := &commands{}
	l := NewLink(LinkConfig{Fallback: Schedule}, cmds, nil)
	l.Connected()
	l.refreshed()
	l.Disconnected()
	got := cmds.all()
	if len(got) != 1 || !strings.HasPrefix(got[0], "northbound mode {") || !strings.HasSuffix(got[0], `"mode":"schedule"}`) {
		t.Fatalf("schedule fallback submitted %v", got)
	}
}

func TestNilLinkIsInert(t *testing.T) {
	var l *Link
	l.Connected()
	l.Disconnected()
	l.refreshed()
}
