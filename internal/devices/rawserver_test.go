package devices

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// rawReq is one Modbus TCP request as a raw test server saw it.
type rawReq struct {
	conn  int64  // 1-based number of the connection it came on
	seq   int64  // 1-based number of the request across all connections
	tid   uint16 // transaction id
	unit  byte
	fc    byte
	addr  uint16
	count uint16
	data  []byte   // register bytes of a write (valid during the handler only)
	c     net.Conn // the connection, for handlers that misbehave on it
}

// rawHandler builds the reply to req by appending a whole ADU to out and
// returning it; returning nil sends nothing. It may block (to answer late).
type rawHandler func(s *rawServer, req *rawReq, out []byte) []byte

// rawServer is a minimal Modbus TCP server over a plain net.Listener,
// so tests control every byte on the wire: late answers, garbage frames,
// silence. By default input registers read back their own address
// (register a holds a), so a reply given to the wrong request is visible,
// and holding registers read back what was written.
type rawServer struct {
	ln     net.Listener
	addr   string
	handle rawHandler

	conns atomic.Int64
	reqs  atomic.Int64

	mu      sync.Mutex
	open    map[net.Conn]struct{}
	holding map[uint16]uint16
	log     []rawReq // requests seen, when logging
	logging bool
	wg      sync.WaitGroup
}

// newRawServer listens on addr ("127.0.0.1:0" for any port).
func newRawServer(addr string, h rawHandler) (*rawServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveRaw(ln, h), nil
}

// serveRaw serves on a listener the caller made.
func serveRaw(ln net.Listener, h rawHandler) *rawServer {
	s := &rawServer{ln: ln, addr: ln.Addr().String(), handle: h, open: map[net.Conn]struct{}{}, holding: map[uint16]uint16{}}
	if s.handle == nil {
		s.handle = answer
	}
	s.wg.Add(1)
	go s.accept()
	return s
}

func (s *rawServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.open[c] = struct{}{}
		s.mu.Unlock()
		n := s.conns.Add(1)
		s.wg.Add(1)
		go s.serve(c, n)
	}
}

func (s *rawServer) serve(c net.Conn, n int64) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	var hdr [7]byte
	var pdu [256]byte
	out := make([]byte, 0, 300)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		l := int(binary.BigEndian.Uint16(hdr[4:]))
		if l < 2 || l > 254 {
			return
		}
		if _, err := io.ReadFull(r, pdu[:l-1]); err != nil {
			return
		}
		req := rawReq{c: c, conn: n, tid: binary.BigEndian.Uint16(hdr[:]), unit: hdr[6], fc: pdu[0]}
		if l-1 >= 5 {
			req.addr = binary.BigEndian.Uint16(pdu[1:])
			req.count = binary.BigEndian.Uint16(pdu[3:])
		}
		if req.fc == 16 && l-1 >= 6 {
			req.data = pdu[6 : l-1]
		}
		req.seq = s.reqs.Add(1)
		if s.logging {
			s.mu.Lock()
			cp := req
			cp.data = append([]byte(nil), req.data...)
			cp.c = nil
			s.log = append(s.log, cp)
			s.mu.Unlock()
		}
		reply := s.handle(s, &req, out[:0])
		if reply == nil {
			continue
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// requests returns a copy of the request log (logging must be on).
func (s *rawServer) requests() []rawReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rawReq(nil), s.log...)
}

// holdingAt returns a holding register's value.
func (s *rawServer) holdingAt(a uint16) uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holding[a]
}

// Close stops listening and drops every connection.
func (s *rawServer) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// adu appends an MBAP header for req and a PDU of the given bytes.
func adu(out []byte, req *rawReq, pdu ...byte) []byte {
	out = binary.BigEndian.AppendUint16(out, req.tid)
	out = append(out, 0, 0)
	out = binary.BigEndian.AppendUint16(out, uint16(len(pdu)+1))
	out = append(out, req.unit)
	return append(out, pdu...)
}

// answer is the well-behaved reply: input register a holds a, holding
// registers hold what was written, FC16 is acknowledged.
func answer(s *rawServer, req *rawReq, out []byte) []byte {
	switch req.fc {
	case 3, 4:
		if req.count < 1 || req.count > 125 {
			return adu(out, req, req.fc|0x80, 3)
		}
		out = binary.BigEndian.AppendUint16(out, req.tid)
		out = append(out, 0, 0)
		out = binary.BigEndian.AppendUint16(out, uint16(3+2*req.count))
		out = append(out, req.unit, req.fc, byte(2*req.count))
		if req.fc == 3 {
			s.mu.Lock()
			for i := range req.count {
				out = binary.BigEndian.AppendUint16(out, s.holding[req.addr+i])
			}
			s.mu.Unlock()
			return out
		}
		for i := range req.count {
			out = binary.BigEndian.AppendUint16(out, req.addr+i)
		}
		return out
	case 16:
		if len(req.data) != 2*int(req.count) {
			return adu(out, req, req.fc|0x80, 3)
		}
		s.mu.Lock()
		for i := range req.count {
			s.holding[req.addr+i] = binary.BigEndian.Uint16(req.data[2*i:])
		}
		s.mu.Unlock()
		return adu(out, req, 16, byte(req.addr>>8), byte(req.addr), byte(req.count>>8), byte(req.count))
	}
	return adu(out, req, req.fc|0x80, 1)
}
