package coord

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// errConnBroken reports that a connection failed while a call was in
// flight: the call may be retried on another connection.
var errConnBroken = errors.New("coord: connection broken")

// conn is one multiplexed connection to one member. Calls are pipelined:
// any number may be in flight, each identified by its frame ID. One writer
// goroutine batches outgoing frames into as few writes as possible; one
// reader goroutine routes responses to their calls.
type conn struct {
	addr     string
	nc       net.Conn
	member   string
	maxReq   int
	shards   int
	cluster  uint64 // the member's cluster identity, 0 if it did not know it
	sendc    chan []byte
	done     chan struct{} // closed when the connection is dead
	mu       sync.Mutex
	pending  map[uint64]chan *wire.Frame
	nextID   uint64
	err      error
	closeOne sync.Once
}

func dialConn(ctx context.Context, addr string, cfg *Config, clientID uint64) (*conn, error) {
	nc, fr, hr, err := handshake(ctx, addr, cfg, clientID)
	if err != nil {
		return nil, err
	}
	// A response too large to read fails its call alone (readLoop).
	fr.SkipOversized()
	c := &conn{
		addr:    addr,
		nc:      nc,
		member:  hr.Member,
		maxReq:  hr.MaxRequestSize,
		shards:  hr.Shards,
		cluster: hr.ClusterID,
		sendc:   make(chan []byte, 1024),
		done:    make(chan struct{}),
		pending: make(map[uint64]chan *wire.Frame),
	}
	go c.readLoop(fr)
	go c.writeLoop()
	return c, nil
}

// handshake dials addr and makes the protocol's handshake, synchronously:
// the connection, its frame reader and the member's answer.
func handshake(ctx context.Context, addr string, cfg *Config, clientID uint64) (net.Conn, *wire.FrameReader, *wire.HelloResponse, error) {
	tlsCfg, dialTimeout := cfg.TLS, cfg.DialTimeout
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	var nc net.Conn
	var err error
	if tlsCfg != nil {
		td := tls.Dialer{NetDialer: &d, Config: tlsCfg}
		nc, err = td.DialContext(ctx, "tcp", addr)
	} else {
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	// Handshake, synchronously, before the goroutines start.
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: clientID,
		User: cfg.Username, Password: cfg.Password, Token: cfg.Token})
	b, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: hello})
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	deadline := time.Now().Add(dialTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetDeadline(deadline)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	fr := wire.NewFrameReader(nc, wire.MaxResponseFrameSize)
	var f wire.Frame
	if err := fr.Read(&f); err != nil {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("handshake with %s: %w", addr, err)
	}
	if f.Err != nil {
		nc.Close()
		return nil, nil, nil, fromWire(f.Err)
	}
	var hr wire.HelloResponse
	if f.Type != wire.FrameHello || wire.Unmarshal(f.Body, &hr) != nil {
		nc.Close()
		return nil, nil, nil, fmt.Errorf("handshake with %s: not a coord server", addr)
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, fr, &hr, nil
}

func (c *conn) close(err error) {
	c.closeOne.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) broken() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) readLoop(fr *wire.FrameReader) {
	for {
		f := new(wire.Frame)
		if err := fr.Read(f); err != nil {
			var big *wire.OversizedFrameError
			if !errors.As(err, &big) || big.Type != wire.FrameResponse {
				c.close(err)
				return
			}
			// The frame was passed over: its call fails, the others go on.
			f = &wire.Frame{Type: wire.FrameResponse, ID: big.ID, Err: wire.Errorf(wire.CodeTooLarge,
				"response of %d bytes is over the client's limit of %d bytes", big.Size, big.Limit)}
			c.mu.Lock()
			ch, ok := c.pending[f.ID]
			delete(c.pending, f.ID)
			c.mu.Unlock()
			c.cancel(big.ID) // a stream must stop on the server too
			if ok {
				select {
				case ch <- f:
				default:
					close(ch) // a stream that does not keep up: as below
				}
			}
			continue
		}
		c.mu.Lock()
		ch, ok := c.pending[f.ID]
		if ok && !f.More {
			delete(c.pending, f.ID)
		}
		c.mu.Unlock()
		if !ok {
			continue // a cancelled call's late answer
		}
		select {
		case ch <- f:
		default:
			// A stream consumer that does not keep up loses its stream
			// (it resumes on a new call) rather than stalling every other
			// call on the connection.
			if f.More {
				c.mu.Lock()
				_, still := c.pending[f.ID]
				delete(c.pending, f.ID)
				c.mu.Unlock()
				if still {
					close(ch)
					c.cancel(f.ID)
				}
			}
		}
	}
}

func (c *conn) writeLoop() {
	if err := wire.WriteQueued(c.nc, c.sendc, c.done); err != nil {
		c.close(err)
	}
}

// send queues an encoded frame, or fails if the connection is dead.
func (c *conn) send(ctx context.Context, b []byte) error {
	select {
	case c.sendc <- b:
		return nil
	case <-c.done:
		return errConnBroken
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start registers a call and sends its request frame. The returned channel
// receives the call's responses; buffer is its capacity.
func (c *conn) start(ctx context.Context, f *wire.Frame, buffer int) (uint64, chan *wire.Frame, error) {
	ch := make(chan *wire.Frame, buffer)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return 0, nil, errConnBroken
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	f.ID = id
	f.Type = wire.FrameRequest
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms < 1 {
			ms = 1
		}
		f.TimeoutMillis = ms
	}
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		c.forget(id)
		return 0, nil, err
	}
	if c.maxReq > 0 && len(b) > c.maxReq+4096 {
		c.forget(id)
		return 0, nil, &Error{Wire: wire.Errorf(wire.CodeTooLarge, "request of %d bytes is over the server's limit of %d bytes", len(b), c.maxReq), sentinel: ErrTooLarge}
	}
	if err := c.send(ctx, b); err != nil {
		c.forget(id)
		return 0, nil, err
	}
	return id, ch, nil
}

func (c *conn) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// cancel tells the server to stop working on call id.
func (c *conn) cancel(id uint64) {
	c.forget(id)
	b, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameCancel, ID: id})
	if err != nil {
		return
	}
	select {
	case c.sendc <- b:
	default:
	}
}

// unary runs one request/response call.
func (c *conn) unary(ctx context.Context, f *wire.Frame) (*wire.Frame, error) {
	id, ch, err := c.start(ctx, f, 1)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return nil, errConnBroken
	case <-ctx.Done():
		c.cancel(id)
		return nil, ctx.Err()
	}
}
