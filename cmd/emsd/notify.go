package main

import (
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// sdNotifier reports to systemd over $NOTIFY_SOCKET; without it, calls do nothing.
type sdNotifier struct {
	log      *zap.Logger
	interval time.Duration // minimum time between watchdog pings

	mu   sync.Mutex
	last time.Time
}

// newNotifier pings the watchdog at a third of WatchdogSec when systemd asks for it.
func newNotifier(log *zap.Logger) *sdNotifier {
	n := &sdNotifier{log: log}
	if d, err := daemon.SdWatchdogEnabled(false); err == nil && d > 0 {
		n.interval = d / 3
		log.Info("systemd watchdog enabled", zap.Duration("watchdog", d))
	}
	return n
}

func (n *sdNotifier) send(state string) {
	if ok, err := daemon.SdNotify(false, state); err != nil && n.log != nil {
		n.log.Warn("sd_notify failed", zap.String("state", state), zap.Error(err))
	} else if ok && n.log != nil {
		n.log.Debug("sd_notify", zap.String("state", state))
	}
}

// Ready sends READY=1.
func (n *sdNotifier) Ready() { n.send(daemon.SdNotifyReady) }

// Stopping sends STOPPING=1.
func (n *sdNotifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Watchdog sends WATCHDOG=1, at most once per interval. It is called from
// the control loop after each completed cycle, so a stuck loop stops the pings.
func (n *sdNotifier) Watchdog() {
	if n.interval == 0 {
		return
	}
	n.mu.Lock()
	now := time.Now()
	due := now.Sub(n.last) >= n.interval
	if due {
		n.last = now
	}
	n.mu.Unlock()
	if due {
		n.send(daemon.SdNotifyWatchdog)
	}
}
