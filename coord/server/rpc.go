package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// handshakeTimeout bounds how long a new connection may take to say hello.
const handshakeTimeout = 10 * time.Second

// waitingMethods block until something happens; without a deadline of
// their own they are not cut off by maxCallTimeout.
var waitingMethods = map[string]bool{
	wire.MethodLock: true, wire.MethodCampaign: true, wire.MethodWatch: true, wire.MethodLeader: true,
	wire.MethodQueueWait: true, wire.MethodBarrier: true,
}

// maxCallTimeout caps the deadline of a call that brings none.
const maxCallTimeout = 5 * time.Minute

func (s *Server) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.log.Warn("accept failed", "err", err, "retry-in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		c := &serverConn{
			s:     s,
			nc:    nc,
			sendc: make(chan []byte, 256),
			done:  make(chan struct{}),
			calls: map[uint64]context.CancelFunc{},
			slots: make(chan struct{}, maxCallsPerConn),
		}
		s.connMu.Lock()
		if s.stopping.Load() {
			s.connMu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.connMu.Unlock()
		go c.serve()
	}
}

// serverConn is one client connection. The reader goroutine (serve) owns
// the call table; each call runs in its own goroutine and hands its encoded
// answer to the writer goroutine.
type serverConn struct {
	s        *Server
	nc       net.Conn
	clientID uint64
	sendc    chan []byte
	done     chan struct{}
	once     sync.Once
	calls    map[uint64]context.CancelFunc
	callsMu  sync.Mutex
	inflight sync.WaitGroup
	draining bool
	// slots bounds the calls in flight on the connection; a call over the
	// bound is refused.
	slots chan struct{}
}

// maxCallsPerConn bounds the calls one connection may have in flight.
var maxCallsPerConn = 4096

// close cuts the connection and cancels its calls.
func (c *serverConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
		c.callsMu.Lock()
		for _, cancel := range c.calls {
			cancel()
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
	s := c.s
	defer func() {
		c.close()
		c.inflight.Wait()
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
		s.connWG.Done()
	}()
	fr := wire.NewFrameReader(c.nc, s.cfg.MaxRequestSize+64<<10)
	if !c.handshake(fr) {
		return
	}
	go c.writeLoop()
	for {
		f := new(wire.Frame)
		if err := fr.Read(f); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("closing client connection", "remote", c.nc.RemoteAddr().String(), "err", err)
				s.metrics.badFrames.Inc()
			}
			return
		}
		switch f.Type {
		case wire.FrameRequest:
			select {
			case c.slots <- struct{}{}:
				c.startCall(f)
			default:
				// Refuse rather than stop reading: a Cancel or the Unlock
				// that frees the waiting calls must still get through.
				c.send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID,
					Err: wire.Errorf(wire.CodeTooLarge, "too many calls in flight on one connection (limit %d)", maxCallsPerConn)})
			}
		case wire.FrameCancel:
			c.callsMu.Lock()
			if cancel, ok := c.calls[f.ID]; ok {
				cancel()
			}
			c.callsMu.Unlock()
		default:
			s.log.Debug("closing client connection: unexpected frame", "remote", c.nc.RemoteAddr().String(), "type", f.Type)
			s.metrics.badFrames.Inc()
			return
		}
	}
}

func (c *serverConn) handshake(fr *wire.FrameReader) bool {
	_ = c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	var f wire.Frame
	if err := fr.Read(&f); err != nil {
		c.s.metrics.badFrames.Inc()
		return false
	}
	var h wire.Hello
	if f.Type != wire.FrameHello || wire.Unmarshal(f.Body, &h) != nil || h.Magic != wire.Magic {
		c.s.metrics.badFrames.Inc()
		return false
	}
	reply := &wire.Frame{Type: wire.FrameHello}
	if h.Version != wire.ProtocolVersion {
		reply.Err = wire.Errorf(wire.CodeUnimplemented, "protocol version %d not supported (server speaks %d)", h.Version, wire.ProtocolVersion)
	} else {
		reply.Body, _ = wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: c.s.cfg.Name, MaxRequestSize: c.s.cfg.MaxRequestSize, Shards: len(c.s.shards)})
	}
	b, _ := wire.AppendFrame(nil, reply)
	if _, err := c.nc.Write(b); err != nil || reply.Err != nil {
		return false
	}
	_ = c.nc.SetDeadline(time.Time{})
	c.clientID = h.ClientID
	return true
}

func (c *serverConn) writeLoop() {
	if err := wire.WriteQueued(c.nc, c.sendc, c.done); err != nil {
		c.close()
	}
}

// send queues one frame for the writer; it gives up when the connection dies.
func (c *serverConn) send(f *wire.Frame) {
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		b, _ = wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameResponse, ID: f.ID,
			Err: wire.Errorf(wire.CodeUnknown, "encode response: %v", err)})
	}
	select {
	case c.sendc <- b:
	case <-c.done:
	}
}

// call is one request being served.
type call struct {
	c     *serverConn
	frame *wire.Frame
}

// stream sends one intermediate message of a streaming call. It reports
// false once the connection is gone.
func (cl *call) stream(body any) bool {
	b, err := wire.Marshal(body)
	if err != nil {
		return false
	}
	cl.c.send(&wire.Frame{Type: wire.FrameResponse, ID: cl.frame.ID, More: true, Body: b})
	select {
	case <-cl.c.done:
		return false
	default:
		return true
	}
}

func (c *serverConn) startCall(f *wire.Frame) {
	timeout := maxCallTimeout
	if f.TimeoutMillis > 0 && time.Duration(f.TimeoutMillis)*time.Millisecond < timeout {
		timeout = time.Duration(f.TimeoutMillis) * time.Millisecond
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if f.TimeoutMillis == 0 && waitingMethods[f.Method] {
		// A blocking call without a deadline waits as long as its
		// connection lives.
		ctx, cancel = context.WithCancel(context.Background())
	} else {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	c.callsMu.Lock()
	if c.draining {
		c.callsMu.Unlock()
		cancel()
		<-c.slots
		c.send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: wire.Errorf(wire.CodeUnavailable, "member %s is stopping", c.s.cfg.Name)})
		return
	}
	if old, dup := c.calls[f.ID]; dup {
		old()
	}
	c.calls[f.ID] = cancel
	c.inflight.Add(1)
	c.callsMu.Unlock()
	go func() {
		defer c.inflight.Done()
		defer func() { <-c.slots }()
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
		start := time.Now()
		body, werr := c.s.dispatch(ctx, &call{c: c, frame: f})
		c.s.metrics.observe(f.Method, werr, time.Since(start))
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

// dispatch runs one call and returns its response body or error.
func (s *Server) dispatch(ctx context.Context, cl *call) (any, *wire.Error) {
	if s.stopping.Load() {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	f := cl.frame
	switch f.Method {
	case wire.MethodPut:
		var req wire.PutRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.put(ctx, cl, &req)
	case wire.MethodRange:
		var req wire.RangeRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.rangeKeys(ctx, &req)
	case wire.MethodDelete:
		var req wire.DeleteRangeRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.deleteRange(ctx, cl, &req)
	case wire.MethodTxn:
		var req wire.TxnRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.txn(ctx, cl, &req)
	case wire.MethodCompact:
		var req wire.CompactRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.compact(ctx, cl, &req)
	case wire.MethodStatus:
		return s.status(), nil
	case wire.MethodWatch:
		var req wire.WatchRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.watch(ctx, cl, &req)
	case wire.MethodLeaseGrant:
		var req wire.LeaseGrantRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.leaseGrant(ctx, cl, &req)
	case wire.MethodLeaseRevoke:
		var req wire.LeaseRevokeRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.leaseRevoke(ctx, cl, &req)
	case wire.MethodLeaseKeepAlive:
		var req wire.LeaseKeepAliveRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.leaseKeepAlive(ctx, &req)
	case wire.MethodLeaseTimeToLive:
		var req wire.LeaseTimeToLiveRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.leaseTimeToLive(ctx, &req)
	case wire.MethodLeaseLeases:
		return s.leaseLeases(ctx)
	case wire.MethodLock:
		var req wire.LockRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.lock(ctx, cl, &req)
	case wire.MethodUnlock:
		var req wire.UnlockRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.unlock(ctx, cl, &req)
	case wire.MethodLockStatus:
		var req wire.LockStatusRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.lockStatus(ctx, &req)
	case wire.MethodCampaign:
		var req wire.CampaignRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.campaign(ctx, cl, &req)
	case wire.MethodProclaim:
		var req wire.ProclaimRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.proclaim(ctx, cl, &req)
	case wire.MethodResign:
		var req wire.ResignRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.resign(ctx, cl, &req)
	case wire.MethodEnqueue:
		var req wire.EnqueueRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.enqueue(ctx, cl, &req)
	case wire.MethodDequeue:
		var req wire.DequeueRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.dequeue(ctx, cl, &req)
	case wire.MethodQueueWait:
		var req wire.QueueWaitRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.queueWait(ctx, &req)
	case wire.MethodAck:
		var req wire.AckRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.ack(ctx, cl, &req)
	case wire.MethodQueueInfo:
		var req wire.QueueInfoRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.queueInfo(ctx, &req)
	case wire.MethodBarrier:
		var req wire.BarrierRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.barrier(ctx, cl, &req)
	case wire.MethodLeader:
		var req wire.LeaderRequest
		if err := decode(f.Body, &req); err != nil {
			return nil, err
		}
		return s.leaderCall(ctx, cl, &req)
	default:
		return nil, wire.Errorf(wire.CodeUnimplemented, "unknown method %q", f.Method)
	}
}

func decode(b []byte, v any) *wire.Error {
	if err := wire.Unmarshal(b, v); err != nil {
		return wire.Errorf(wire.CodeInvalid, "malformed request: %v", err)
	}
	return nil
}
