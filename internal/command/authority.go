package command

import "sync/atomic"

// Authority is the station's remote/local control switch (远方/就地).
// While remote control is disabled every command from a remote transport
// is refused. It is safe for concurrent use.
type Authority struct {
	remote atomic.Bool
}

// NewAuthority returns a switch in the given initial state.
func NewAuthority(remoteEnabled bool) *Authority {
	a := &Authority{}
	a.remote.Store(remoteEnabled)
	return a
}

// RemoteEnabled reports whether remote commands are accepted.
func (a *Authority) RemoteEnabled() bool { return a.remote.Load() }

// SetRemoteEnabled switches remote control on or off.
func (a *Authority) SetRemoteEnabled(on bool) { a.remote.Store(on) }
