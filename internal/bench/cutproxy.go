package bench

import (
	"net"
	"sync"
	"sync/atomic"
)

// cutProxy forwards TCP connections to a target until it is cut; from
// then on it forwards nothing in either direction and keeps the
// connections open: a network partition, not a closed connection.
type cutProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(target string) (*cutProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &cutProxy{ln: ln, target: target}
	go p.serve()
	return p, nil
}

// Addr is the proxy's address.
func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

// Cut stops all forwarding, now and for new connections.
func (p *cutProxy) Cut() { p.cut.Store(true) }

// Close closes the listener and every connection.
func (p *cutProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		t, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, t)
		p.mu.Unlock()
		go p.pipe(t, c)
		go p.pipe(c, t)
	}
}

// pipe copies from src to dst while the proxy is not cut; once cut it
// reads and drops.
func (p *cutProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
