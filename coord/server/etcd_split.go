package server

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// The etcd door's plaintext port carries two protocols, as etcd's 2379
// does (etcd splits it with cmux): gRPC, which without TLS is HTTP/2 with
// prior knowledge and so starts with HTTP/2's client preface, and the
// JSON gateway's HTTP/1. connSplitter reads the first bytes of each
// accepted connection and hands it to one of two listeners: the preface
// to the gRPC server's own transport (grpc.Server.Serve, much faster than
// grpc.Server.ServeHTTP under net/http's HTTP/2 server), anything else to
// the gateway's http.Server. The bytes read are replayed to the server
// that gets the connection.
//
// Goroutines: the accept loop (run) and one per connection while its
// first bytes are read (at most the read timeout).

// http2Preface is what an HTTP/2 client sends first (RFC 9113 §3.4).
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// connSplitter splits the connections of ln between grpc (HTTP/2 with
// prior knowledge) and http (anything else).
type connSplitter struct {
	ln      net.Listener
	timeout time.Duration // to send the first bytes; 0: no limit
	log     *slog.Logger
	wrap    func(*sniffedConn) net.Conn // what the servers get; nil: the sniffedConn
	grpc    *chanListener
	http    *chanListener
}

func newConnSplitter(ln net.Listener, timeout time.Duration, log *slog.Logger) *connSplitter {
	return &connSplitter{ln: ln, timeout: timeout, log: log, grpc: newChanListener(ln.Addr()), http: newChanListener(ln.Addr())}
}

// run accepts connections until ln is closed, then closes both listeners.
func (s *connSplitter) run() {
	defer s.grpc.Close()
	defer s.http.Close()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Debug("etcd door: accept failed, retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			s.log.Error("etcd door: accept failed", "err", err)
			return
		}
		backoff = 0
		go s.route(c)
	}
}

// route reads c's first bytes and hands it on: the whole HTTP/2 preface to
// grpc, the first byte that differs from it to http. A connection that
// closes or stays silent for the timeout before either is closed.
func (s *connSplitter) route(c net.Conn) {
	if s.timeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(s.timeout))
	}
	buf := make([]byte, len(http2Preface))
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if !strings.HasPrefix(http2Preface, string(buf[:n])) {
			break
		}
		if err != nil && n < len(buf) {
			c.Close()
			return
		}
	}
	if s.timeout > 0 {
		_ = c.SetReadDeadline(time.Time{})
	}
	sc := &sniffedConn{Conn: c, peeked: buf[:n]}
	var out net.Conn = sc
	if s.wrap != nil {
		out = s.wrap(sc)
	}
	to := s.http
	if n == len(http2Preface) && string(buf) == http2Preface {
		to = s.grpc
	}
	to.deliver(out)
}

// sniffedConn is a connection whose first bytes were read: Read returns
// them first.
type sniffedConn struct {
	net.Conn
	peeked []byte
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	if len(c.peeked) > 0 {
		n := copy(p, c.peeked)
		c.peeked = c.peeked[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a net.Listener whose connections come from a
// connSplitter.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closer sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// deliver hands c to Accept, or closes it once the listener is closed.
func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closer.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
