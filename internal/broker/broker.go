// Package broker runs an embedded MQTT broker (mochi-mqtt) on a loopback
// address, so that the demo plant and commissioning setups can be operated
// over MQTT without an outside broker. It lets every client in and is not
// meant for production: stations run their own broker.
package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is a running embedded broker.
type Broker struct {
	srv  *mochi.Server
	addr string
}

// Start listens on addr, which must be a loopback host:port, and serves.
func Start(addr string) (*Broker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %q is not host:port: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("embedded broker: %q is not a loopback address; it admits every client", addr)
	}
	srv := mochi.New(&mochi.Options{InlineClient: false, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: addr}, nil
}

// URL is the broker's address as a client URL.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// closeWait bounds Close: mochi's Server.Close can deadlock on its own
// locks (a nested read lock), and a demo broker must never hang the
// daemon's shutdown.
const closeWait = 2 * time.Second

// Close stops the broker and disconnects its clients, giving up after
// closeWait (the listener is closed first, so no new client gets in).
func (b *Broker) Close() error {
	done := make(chan error, 1)
	go func() { done <- b.srv.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeWait):
		return fmt.Errorf("embedded broker: close did not finish within %v", closeWait)
	}
}
