package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coord-io/coord/coord/wire"
)

// handshakeTimeout bounds how long a new connection may take to say hello.
const handshakeTimeout = 10 * time.Second

// rpcDoor is the msgpack door: the client listener (TLS or not), its
// accept loop, and per connection the framing, the handshake (with the
// cluster identity), the per-connection limits and the idle timeout. It
// turns each request frame into a Core.Call and its answers into frames.
//
// Goroutines: the accept loop; per connection a reader (serve, which
// owns the call table) and a writer (writeLoop, which owns the socket's
// write side); one goroutine per call in flight (at most
// maxCallsPerConn per connection); up to maxRefusing answering refused
// connections.
type rpcDoor struct {
	core    *Core
	ln      net.Listener
	tls     bool        // the listener speaks TLS
	closing atomic.Bool // the listener is closed: the member stops

	connMu sync.Mutex
	conns  map[*serverConn]struct{}
	connWG sync.WaitGroup
}

// newRPCDoor opens the client listener of core's member (Config:
// ListenClient, TLS) and counts its connections in the member's metrics.
func newRPCDoor(core *Core) (*rpcDoor, error) {
	tlsCfg, err := core.cfg.serverTLSConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", core.cfg.ListenClient)
	if err != nil {
		return nil, fmt.Errorf("listen-client: %w", err)
	}
	d := &rpcDoor{core: core, ln: ln, tls: tlsCfg != nil, conns: map[*serverConn]struct{}{}}
	if tlsCfg != nil {
		d.ln = &tlsListener{Listener: ln, cfg: tlsCfg, core: core}
	}
	core.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coord_client_connections", Help: "Open client connections, counted against --max-connections."},
		func() float64 {
			d.connMu.Lock()
			defer d.connMu.Unlock()
			return float64(len(d.conns))
		}))
	return d, nil
}

// addr is the listener's address.
func (d *rpcDoor) addr() string { return d.ln.Addr().String() }

// closeListener stops accepting connections.
func (d *rpcDoor) closeListener() {
	d.closing.Store(true)
	d.ln.Close()
}

// drain lets the calls in flight finish until ctx ends, then cuts them
// off; it returns once every connection is closed.
func (d *rpcDoor) drain(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		d.connMu.Lock()
		for c := range d.conns {
			c.drain()
		}
		d.connMu.Unlock()
		d.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		d.connMu.Lock()
		for c := range d.conns {
			c.close()
		}
		d.connMu.Unlock()
		<-done
	}
}

// connIDs numbers the client connections of the process (Caller.Conn).
var connIDs atomic.Uint64

// maxRefusing bounds the connections being refused at once (answered
// "too many client connections"); past it an extra connection is closed
// without an answer.
const maxRefusing = 64

func (d *rpcDoor) acceptLoop() {
	var delay time.Duration
	refusing := make(chan struct{}, maxRefusing)
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			if d.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			d.core.log.Warn("accept failed", "err", err, "retry-in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := &serverConn{
			d:      d,
			nc:     nc,
			id:     connIDs.Add(1),
			remote: nc.RemoteAddr().String(),
			sendc:  make(chan []byte, 256),
			done:   make(chan struct{}),
			calls:  map[uint64]context.CancelCauseFunc{},
			slots:  make(chan struct{}, maxCallsPerConn),

			authFails: newAuthBucket(time.Now()),
		}
		d.connMu.Lock()
		if d.closing.Load() {
			d.connMu.Unlock()
			nc.Close()
			return
		}
		if len(d.conns) >= d.core.cfg.MaxConnections {
			d.connMu.Unlock()
			d.refuseConn(nc, refusing)
			continue
		}
		d.conns[c] = struct{}{}
		d.connWG.Add(1)
		d.connMu.Unlock()
		go c.serve()
	}
}

// refuseConn answers a connection over MaxConnections with a reason in
// place of the handshake, then closes it; refusing bounds the goroutines
// doing so.
func (d *rpcDoor) refuseConn(nc net.Conn, refusing chan struct{}) {
	d.core.metrics.limitHits.WithLabelValues(limitConnections).Inc()
	select {
	case refusing <- struct{}{}:
	default:
		nc.Close()
		return
	}
	d.core.log.Debug("refusing client connection: too many", "remote", nc.RemoteAddr().String(), "limit", d.core.cfg.MaxConnections)
	go func() {
		defer func() { <-refusing }()
		replyPlain(nc, wire.Errorf(wire.CodeUnavailable,
			"member %s has too many client connections (limit %d); try another member or later", d.core.cfg.Name, d.core.cfg.MaxConnections))
		nc.Close()
	}()
}

// serverConn is one client connection. The reader goroutine (serve) owns
// the call table; each call runs in its own goroutine and hands its encoded
// answer to the writer goroutine.
type serverConn struct {
	d        *rpcDoor
	nc       net.Conn
	id       uint64 // Caller.Conn
	remote   string
	clientID uint64
	// ident is how the connection authenticated (nil: no user), set by
	// the handshake; authFails its allowance of failed auth.authenticate
	// calls.
	ident     *identity
	authFails *authBucket
	sendc     chan []byte
	done      chan struct{}
	once      sync.Once
	calls     map[uint64]context.CancelCauseFunc
	callsMu   sync.Mutex
	inflight  sync.WaitGroup
	draining  bool
	// slots bounds the calls in flight on the connection; a call over the
	// bound is refused.
	slots chan struct{}
	// reqBytes is the size of the requests in flight (requestBytes), and
	// watches the number of open watches and observations (Caller's
	// streams, counted by Core.admit); a call that would pass
	// Config.MaxInflightBytesPerConn or MaxWatchesPerConn is refused.
	reqBytes atomic.Int64
	watches  atomic.Int32
}

// errIdle ends a connection that had no call in flight for IdleTimeout.
var errIdle = errors.New("idle connection")

// requestBytes is what a request counts against the in-flight bytes limit.
func requestBytes(f *wire.Frame) int64 { return int64(len(f.Method) + len(f.Body)) }

// busy reports whether the connection has calls in flight (streams and
// waiting calls included).
func (c *serverConn) busy() bool {
	c.callsMu.Lock()
	defer c.callsMu.Unlock()
	return len(c.calls) > 0
}

// awaitFrame waits for the first byte of the next frame. With an idle
// timeout it gives up once the connection had no call in flight for that
// long: the check runs at each timeout, and a connection found busy at
// the previous one gets another period, so a connection is closed between
// one and two idle timeouts after its last call ended.
func (c *serverConn) awaitFrame(fr *wire.FrameReader) error {
	idle := c.d.core.cfg.IdleTimeout
	if idle <= 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		return fr.Wait()
	}
	wasBusy := c.busy()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		err := fr.Wait()
		if err == nil || !isTimeout(err) {
			return err
		}
		busy := c.busy()
		if !busy && !wasBusy {
			return errIdle
		}
		wasBusy = busy
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeTimeout bounds one write to a client: a client that does not
// read its answers for that long is disconnected. (The Go client always
// reads: a stream it cannot deliver is dropped, not left unread.)
var writeTimeout = 30 * time.Second

// maxCallsPerConn bounds the calls one connection may have in flight.
var maxCallsPerConn = 4096

// close cuts the connection and cancels its calls.
func (c *serverConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
		c.callsMu.Lock()
		for _, cancel := range c.calls {
			cancel(errConnClosed)
		}
		c.callsMu.Unlock()
	})
}

// drain stops the connection from taking new calls; it closes once the
// calls in flight have answered.
func (c *serverConn) drain() {
	c.callsMu.Lock()
	c.draining = true
	idle := len(c.calls) == 0
	c.callsMu.Unlock()
	if idle {
		c.close()
	}
}

func (c *serverConn) serve() {
	d, s := c.d, c.d.core
	defer func() {
		c.close()
		c.inflight.Wait()
		d.connMu.Lock()
		delete(d.conns, c)
		d.connMu.Unlock()
		d.connWG.Done()
	}()
	fr := wire.NewFrameReader(c.nc, s.cfg.MaxRequestSize+64<<10)
	if !c.handshake(fr) {
		return
	}
	go c.writeLoop()
	for {
		// Wait for a frame under the idle timeout, then read it under the
		// request read timeout, unless it has all arrived already.
		if !fr.Buffered() {
			if err := c.awaitFrame(fr); err != nil {
				c.readFailed(err)
				return
			}
			if !fr.Buffered() {
				_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.RequestReadTimeout))
			}
		}
		f := new(wire.Frame)
		if err := fr.Read(f); err != nil {
			c.readFailed(err)
			return
		}
		switch f.Type {
		case wire.FrameRequest:
			if werr := c.admit(f); werr != nil {
				c.send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: werr})
				continue
			}
			select {
			case c.slots <- struct{}{}:
				c.startCall(f)
			default:
				// Refuse rather than stop reading: a Cancel or the Unlock
				// that frees the waiting calls must still get through.
				c.reqBytes.Add(-requestBytes(f))
				s.metrics.limitHits.WithLabelValues(limitCalls).Inc()
				c.send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID,
					Err: wire.Errorf(wire.CodeTooLarge, "too many calls in flight on one connection (limit %d)", maxCallsPerConn)})
			}
		case wire.FrameCancel:
			c.callsMu.Lock()
			if cancel, ok := c.calls[f.ID]; ok {
				cancel(errCallCancelled)
			}
			c.callsMu.Unlock()
		default:
			s.log.Debug("closing client connection: unexpected frame", "remote", c.nc.RemoteAddr().String(), "type", f.Type)
			s.metrics.badFrames.Inc()
			return
		}
	}
}

// readFailed records why the connection's reader stopped.
func (c *serverConn) readFailed(err error) {
	s := c.d.core
	remote := c.nc.RemoteAddr().String()
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
	case errors.Is(err, errIdle):
		s.metrics.limitHits.WithLabelValues(limitIdle).Inc()
		s.log.Debug("closing idle client connection", "remote", remote, "idle-timeout", s.cfg.IdleTimeout)
	case isTimeout(err):
		s.metrics.limitHits.WithLabelValues(limitRequestRead).Inc()
		s.log.Debug("closing client connection: request not received in time", "remote", remote, "request-read-timeout", s.cfg.RequestReadTimeout)
	default:
		s.log.Debug("closing client connection", "remote", remote, "err", err)
		s.metrics.badFrames.Inc()
	}
}

// admit counts a request against the connection's in-flight bytes, or
// refuses it. startCall gives the bytes back when the call ends.
func (c *serverConn) admit(f *wire.Frame) *wire.Error {
	n := requestBytes(f)
	if c.reqBytes.Add(n) > int64(c.d.core.cfg.MaxInflightBytesPerConn) {
		c.reqBytes.Add(-n)
		c.d.core.metrics.limitHits.WithLabelValues(limitInflightBytes).Inc()
		return wire.Errorf(wire.CodeTooLarge, "too many request bytes in flight on one connection (limit %d); wait for answers before sending more", c.d.core.cfg.MaxInflightBytesPerConn)
	}
	return nil
}

func (c *serverConn) handshake(fr *wire.FrameReader) bool {
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	var f wire.Frame
	if err := fr.Read(&f); err != nil {
		c.d.core.metrics.badFrames.Inc()
		return false
	}
	var h wire.Hello
	if f.Type != wire.FrameHello || wire.Unmarshal(f.Body, &h) != nil || h.Magic != wire.Magic {
		c.d.core.metrics.badFrames.Inc()
		return false
	}
	reply := &wire.Frame{Type: wire.FrameHello}
	var ident *identity
	if h.Version != wire.ProtocolVersion {
		reply.Err = wire.Errorf(wire.CodeUnimplemented, "protocol version %d not supported (server speaks %d)", h.Version, wire.ProtocolVersion)
	} else if ident, reply.Err = c.authenticate(&h); reply.Err == nil {
		hr := &wire.HelloResponse{Version: wire.ProtocolVersion, Member: c.d.core.cfg.Name, MaxRequestSize: c.d.core.cfg.MaxRequestSize, Shards: c.d.core.Shards(), ClusterID: c.d.core.ClusterID()}
		if ident != nil {
			hr.User = ident.user
		}
		reply.Body, _ = wire.Marshal(hr)
	}
	b, _ := wire.AppendFrame(nil, reply)
	if _, err := c.nc.Write(b); err != nil || reply.Err != nil {
		return false
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.ident = ident
	c.clientID = h.ClientID
	if ident != nil {
		c.clientID = boundClientID(ident.user, h.ClientID)
	}
	return true
}

// authenticate checks the credentials of a hello: a user with a password
// or a token, or (Config.ClientCertAuth) the common name of the client's
// verified certificate. It returns the connection's identity, nil for
// none. While auth is off, a user the store does not know is not checked
// (the connection is bound to no user), as etcd ignores credentials then;
// a user it knows must give the right password.
func (c *serverConn) authenticate(h *wire.Hello) (*identity, *wire.Error) {
	s := c.d.core
	cn := c.certName()
	if h.User == "" {
		if h.Password != "" || h.Token != "" {
			return nil, wire.Errorf(wire.CodeAuthFailed, "authentication failed: a password or token without a user name")
		}
		if cn != "" {
			return &identity{user: cn, cert: true}, nil
		}
		return nil, nil
	}
	if h.Token != "" {
		id, werr := s.checkToken(c.remote, h.User, h.Token)
		if werr != nil {
			return nil, werr
		}
		return &id, nil
	}
	if h.Password == "" && cn == h.User {
		return &identity{user: cn, cert: true}, nil
	}
	st, werr := s.authState()
	if werr != nil {
		return nil, werr
	}
	if !st.Enabled && st.Users[h.User] == nil {
		return nil, nil
	}
	id, werr := s.checkPassword(c.remote, nil, h.User, h.Password)
	if werr != nil {
		return nil, werr
	}
	return &id, nil
}

// certName is the common name of the client's verified certificate when
// Config.ClientCertAuth makes it the user, "" otherwise.
func (c *serverConn) certName() string {
	if !c.d.core.cfg.ClientCertAuth {
		return ""
	}
	tc, ok := c.nc.(*tlsConn)
	if !ok {
		return ""
	}
	cs := tc.ConnectionState()
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}

// boundClientID is the exactly-once client ID of a connection of user
// that claims id: a hash of both, so that no connection can use or
// advance another user's ID (0, no ID, stays 0).
func boundClientID(user string, id uint64) uint64 {
	if id == 0 || user == "" {
		return id
	}
	h := sha256.New()
	h.Write([]byte(user))
	var b [9]byte
	binary.BigEndian.PutUint64(b[1:], id)
	h.Write(b[:])
	v := binary.BigEndian.Uint64(h.Sum(nil))
	if v == 0 {
		v = 1
	}
	return v
}

func (c *serverConn) writeLoop() {
	if err := wire.WriteQueued(deadlineWriter{c.nc}, c.sendc, c.done); err != nil {
		if isTimeout(err) {
			c.d.core.metrics.limitHits.WithLabelValues(limitWriteTimeout).Inc()
			c.d.core.log.Debug("closing client connection: it does not read its answers", "remote", c.nc.RemoteAddr().String(), "write-timeout", writeTimeout)
		}
		c.close()
	}
}

// deadlineWriter gives each write to the connection writeTimeout.
type deadlineWriter struct{ nc net.Conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	_ = w.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.nc.Write(p)
}

// send queues one frame for the writer; it gives up when the connection dies.
func (c *serverConn) send(f *wire.Frame) {
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		b, _ = wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameResponse, ID: f.ID,
			Err: wire.Errorf(wire.CodeUnknown, "encode response: %v", err)})
	} else if len(b)-4 > wire.MaxResponseFrameSize {
		// Clients cannot read it: the call fails instead (paged responses
		// never get here).
		b, _ = wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameResponse, ID: f.ID,
			Err: wire.Errorf(wire.CodeTooLarge, "response of %d bytes is over the limit of %d bytes a client reads", len(b)-4, wire.MaxResponseFrameSize)})
	}
	select {
	case c.sendc <- b:
	case <-c.done:
	}
}

// call is one request being served: the Caller the handlers see, and
// the Sender that sends its intermediate messages as frames.
type call struct {
	Caller
	c  *serverConn
	id uint64 // the request frame's
}

// Send sends one intermediate message of the call (a frame with More
// set). It fails once the connection is gone.
func (cl *call) Send(body any) error {
	b, err := wire.Marshal(body)
	if err != nil {
		return err
	}
	cl.c.send(&wire.Frame{Type: wire.FrameResponse, ID: cl.id, More: true, Body: b})
	select {
	case <-cl.c.done:
		return errConnClosed
	default:
		return nil
	}
}

func (c *serverConn) startCall(f *wire.Frame) {
	received := time.Now()
	// The call's context ends with a cause: the caller's Cancel frame or
	// deadline, the connection closing, or the server's cap.
	base, cancelCause := context.WithCancelCause(context.Background())
	ctx, stopTimer := base, context.CancelFunc(func() {})
	deadline := time.Duration(f.TimeoutMillis) * time.Millisecond
	switch {
	case f.TimeoutMillis > 0 && deadline < maxCallTimeout:
		ctx, stopTimer = context.WithTimeout(base, deadline)
	case f.TimeoutMillis == 0 && waitsUncapped(f.Method):
		// A blocking call without a deadline that cannot be resumed
		// waits as long as its connection lives.
	default:
		ctx, stopTimer = context.WithTimeoutCause(base, maxCallTimeout, errCallCap)
	}
	cancel := func() {
		stopTimer()
		cancelCause(nil)
	}
	c.callsMu.Lock()
	if c.draining {
		c.callsMu.Unlock()
		cancel()
		<-c.slots
		c.reqBytes.Add(-requestBytes(f))
		c.send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: wire.Errorf(wire.CodeUnavailable, "member %s is stopping", c.d.core.cfg.Name)})
		return
	}
	if old, dup := c.calls[f.ID]; dup {
		old(errCallCancelled)
	}
	c.calls[f.ID] = cancelCause
	c.inflight.Add(1)
	c.callsMu.Unlock()
	go func() {
		defer c.inflight.Done()
		defer func() { <-c.slots }()
		defer c.reqBytes.Add(-requestBytes(f))
		defer func() {
			cancel()
			c.callsMu.Lock()
			delete(c.calls, f.ID)
			idle := c.draining && len(c.calls) == 0
			c.callsMu.Unlock()
			if idle {
				c.close()
			}
		}()
		cl := &call{c: c, id: f.ID, Caller: Caller{
			ClientID: c.clientID, Conn: c.id, Remote: c.remote,
			Seq: f.Seq, AckBelow: f.AckBelow, Received: received, AgeMillis: f.AgeMillis,
			streams: &c.watches, ident: c.ident, authFails: c.authFails,
		}}
		if c.ident != nil {
			cl.User = c.ident.user
		}
		body, werr := c.d.core.Call(ctx, &cl.Caller, f.Method, func(req any) *wire.Error { return decode(f.Body, req) }, cl)
		if errors.Is(context.Cause(ctx), errCallCap) {
			callCapHits.Add(1)
		}
		resp := &wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: werr}
		if werr == nil && body != nil {
			b, err := wire.Marshal(body)
			if err != nil {
				resp.Err = wire.Errorf(wire.CodeUnknown, "encode response: %v", err)
			} else {
				resp.Body = b
			}
		}
		c.send(resp)
	}()
}

// waitsUncapped reports whether a call of method without a deadline of
// its own waits as long as its connection lives: a call that waits and
// cannot be resumed (see wire.Method).
func waitsUncapped(method string) bool {
	m, ok := wire.LookupMethod(method)
	return ok && m.Waits && !m.Resumable
}

// decode reads a msgpack request body into v.
func decode(b []byte, v any) *wire.Error {
	if err := wire.UnmarshalRequest(b, v); err != nil {
		return wire.Errorf(wire.CodeInvalid, "malformed request: %v", err)
	}
	return nil
}
