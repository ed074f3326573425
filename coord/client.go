package coord

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// Config configures a Client.
type Config struct {
	// Endpoints are the client addresses of members ("host:port"). The
	// client talks to one at a time and moves to the next when it fails.
	// Unless StaticEndpoints, it also learns the client address of every
	// member from the cluster's member registry each time it connects,
	// and forgets an endpoint whose member answers that it was removed
	// from the cluster: a client keeps working when the members it was
	// given are replaced (coord member add, remove).
	Endpoints []string
	// StaticEndpoints keeps the client to Endpoints (for example when
	// they are proxies or load balancers in front of the members).
	StaticEndpoints bool
	// DialTimeout bounds connecting to one endpoint (default 2s).
	DialTimeout time.Duration
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// Username names the user every connection authenticates as, with
	// Password, or with Token (from Client.Authenticate on the same
	// member); empty for none. A cluster with auth enabled refuses the
	// calls of a connection without a user (ErrPermissionDenied) and the
	// handshake of one with wrong credentials (ErrAuthFailed). With a
	// client certificate and a cluster started with --client-cert-auth,
	// the certificate's common name is the user and these may stay empty.
	Username string
	Password string
	Token    string
	// RetryWindow bounds how long a write is retried after it was first
	// sent (default 1 minute). Past it the call fails with
	// ErrOutcomeUnknown instead of trying again: the cluster remembers an
	// idle client's writes for a limited time (coord serve
	// --dedup-retention, 10 minutes by default) and answers a retry first
	// sent more than half of it before with "outcome unknown", so keep the
	// window well under half the cluster's retention. A write no member
	// received is retried until ctx ends; a write whose call waits
	// (Lock, Campaign, Dequeue, Barrier) is bounded by ctx only.
	RetryWindow time.Duration
}

// DefaultRetryWindow is the default of Config.RetryWindow.
const DefaultRetryWindow = time.Minute

// Client is a connection to a Coord cluster. It is safe for concurrent
// use; calls are pipelined over one connection.
//
// Writes are exactly-once: each carries the client's ID and a sequence
// number, so when a write is retried after a timeout or a broken
// connection the cluster applies it at most once and answers the retry
// with the first result. A write is retried for Config.RetryWindow at
// most; when it could not get an answer in that time it fails with
// ErrOutcomeUnknown (it may or may not have been applied, once).
type Client struct {
	cfg Config
	id  uint64

	mu      sync.Mutex
	eps     []string // the endpoints: Config.Endpoints and those learned
	cur     *conn
	next    int // index of the endpoint to try next
	closed  bool
	dialing chan struct{} // non-nil while a dial is in progress

	// cluster is the identity of the cluster the client talks to: the
	// first one a member reported; 0 until then.
	cluster atomic.Uint64

	seqMu   sync.Mutex
	nextSeq uint64
	lowest  uint64 // every seq below has finished
	done    map[uint64]bool
}

// New returns a client for the given endpoints. It does not connect until
// the first call.
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: no endpoints given", ErrInvalid)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.RetryWindow <= 0 {
		cfg.RetryWindow = DefaultRetryWindow
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := binary.LittleEndian.Uint64(b[:]) | 1 // never 0: 0 disables de-duplication
	return &Client{cfg: cfg, id: id, eps: append([]string(nil), cfg.Endpoints...), nextSeq: 1, lowest: 1, done: map[uint64]bool{}}, nil
}

// Close closes the client's connection. Calls in flight fail.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cur != nil {
		c.cur.close(ErrClosed)
		c.cur = nil
	}
	return nil
}

// Endpoints returns the endpoints the client uses: the configured ones
// and those it learned from the cluster, less those removed from it.
func (c *Client) Endpoints() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.eps...)
}

// learnEndpoints adds the client addresses of the cluster's members, as
// the member at cn reports them, to the endpoints (in the background
// after each new connection; best effort).
func (c *Client) learnEndpoints(cn *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.DialTimeout)
	defer cancel()
	body, _ := wire.Marshal(&wire.StatusRequest{})
	r, err := cn.unary(ctx, &wire.Frame{Method: wire.MethodStatus, Body: body})
	if err != nil || r.Err != nil {
		return
	}
	var st wire.StatusResponse
	if wire.Unmarshal(r.Body, &st) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range st.Members {
		if !usableEndpoint(m.ClientAddr) || slices.Contains(c.eps, m.ClientAddr) {
			continue
		}
		c.eps = append(c.eps, m.ClientAddr)
	}
}

// usableEndpoint reports whether a member's published client address can
// be dialed (not "", not a wildcard listen address).
func usableEndpoint(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host != "" && (ip == nil || !ip.IsUnspecified())
}

// forgetEndpoint drops addr, whose member was removed from the cluster,
// unless it is the last endpoint.
func (c *Client) forgetEndpoint(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.eps, addr); i >= 0 && len(c.eps) > 1 {
		c.eps = slices.Delete(c.eps, i, i+1)
		if c.next >= len(c.eps) {
			c.next = 0
		}
	}
}

// getConn returns the live connection, dialing endpoints in turn if there is none.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if c.cur != nil && !c.cur.broken() {
			cn := c.cur
			c.mu.Unlock()
			return cn, nil
		}
		if c.dialing != nil {
			wait := c.dialing
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wait := make(chan struct{})
		c.dialing = wait
		start := c.next
		eps := append([]string(nil), c.eps...)
		c.mu.Unlock()

		var cn *conn
		var errs []error
		var mismatch error
		n := len(eps)
		for i := 0; i < n && ctx.Err() == nil; i++ {
			idx := (start + i) % n
			addr := eps[idx]
			var err error
			cn, err = dialConn(ctx, addr, &c.cfg, c.id)
			if err == nil {
				if err = c.checkCluster(cn); err != nil {
					cn.close(err)
					cn, mismatch = nil, err
				}
			}
			if err == nil {
				c.mu.Lock()
				c.next = (idx + 1) % n
				c.mu.Unlock()
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		}
		c.mu.Lock()
		c.dialing = nil
		close(wait)
		if cn != nil {
			if c.closed {
				cn.close(ErrClosed)
				c.mu.Unlock()
				return nil, ErrClosed
			}
			c.cur = cn
		}
		c.mu.Unlock()
		if cn != nil {
			if !c.cfg.StaticEndpoints {
				go c.learnEndpoints(cn)
			}
			return cn, nil
		}
		if mismatch != nil {
			// Retrying cannot help: the client's cluster is gone from
			// these addresses.
			return nil, mismatch
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", ErrNoEndpoints, errors.Join(errs...))
	}
}

// checkCluster remembers the cluster identity of the first member that
// reports one and refuses a member of another cluster (ErrClusterMismatch,
// as a server refusal, which call does not retry). A member that does not
// know its identity yet (a new cluster electing its first leaders, a
// member without quorum) answers no call but status: it is skipped like
// an unavailable one, so the client only ever uses connections whose
// cluster it checked.
func (c *Client) checkCluster(cn *conn) error {
	if cn.cluster == 0 {
		return fmt.Errorf("%w: member %s has not learned its cluster's identity yet", ErrUnavailable, cn.member)
	}
	return c.sameCluster(cn.addr, cn.cluster)
}

// sameCluster checks a cluster identity reported by the member at addr.
func (c *Client) sameCluster(addr string, id uint64) error {
	if id == 0 || c.cluster.CompareAndSwap(0, id) {
		return nil
	}
	if want := c.cluster.Load(); want != id {
		return &Error{Wire: wire.Errorf(wire.CodeClusterMismatch,
			"endpoint %s belongs to cluster %016x, not to cluster %016x this client talked to (was the cluster replaced? start a new client)", addr, id, want),
			sentinel: ErrClusterMismatch}
	}
	return nil
}

// ClusterID returns the identity of the cluster the client talks to, 0
// before it has reached a member that knows it.
func (c *Client) ClusterID() uint64 { return c.cluster.Load() }

// ActiveEndpoint returns the endpoint the client is connected to, or "".
func (c *Client) ActiveEndpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.broken() {
		return ""
	}
	return c.cur.addr
}

// shardCount returns the cluster's number of shards (from the handshake).
func (c *Client) shardCount(ctx context.Context) (int, error) {
	cn, err := c.getConn(ctx)
	if err != nil {
		return 0, ctxError(err)
	}
	if cn.shards < 1 {
		return 1, nil
	}
	return cn.shards, nil
}

// ShardOf returns the shard of key in the connected cluster.
func (c *Client) ShardOf(ctx context.Context, key string) (uint32, error) {
	n, err := c.shardCount(ctx)
	if err != nil {
		return 0, err
	}
	return wire.ShardOf([]byte(key), n), nil
}

// dropConn discards cn if it is still the current connection, so the next
// call moves on to another endpoint.
func (c *Client) dropConn(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
	cn.close(errConnBroken)
}

func (c *Client) allocSeq() uint64 {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	s := c.nextSeq
	c.nextSeq++
	return s
}

func (c *Client) finishSeq(s uint64) {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	c.done[s] = true
	for c.done[c.lowest] {
		delete(c.done, c.lowest)
		c.lowest++
	}
}

func (c *Client) ackBelow() uint64 {
	c.seqMu.Lock()
	defer c.seqMu.Unlock()
	return c.lowest
}

func ctxError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w", ErrCanceled, err)
	}
	return err
}

// call runs one unary method, retrying on broken connections, unavailable
// members and (for writes, which are de-duplicated) timeouts, until ctx
// ends, or for a write that may have reached a member, until
// Config.RetryWindow after it was first sent (then ErrOutcomeUnknown).
// Whether req is a write the method table says; a method it does not
// know is sent as a read (the member refuses it).
func (c *Client) call(ctx context.Context, method string, req, resp any) error {
	body, err := wire.Marshal(req)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	m, known := wire.LookupMethod(method)
	write := known && m.IsWrite(req)
	var seq uint64
	var firstSent time.Time // of a write; zero until an attempt may have reached a member
	if write {
		seq = c.allocSeq()
		defer c.finishSeq(seq)
	}
	backoff := 20 * time.Millisecond
	var lastErr error
	// expired fails a write once its window has passed: no attempt is
	// sent after it.
	expired := func() error {
		if firstSent.IsZero() || time.Since(firstSent) <= c.cfg.RetryWindow {
			return nil
		}
		return fmt.Errorf("%w: no answer to the write after retrying it for %v; it may or may not have been applied (last error: %w)",
			ErrOutcomeUnknown, c.cfg.RetryWindow, lastErr)
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				if lastErr != nil {
					return fmt.Errorf("%w (last error: %w)", ctxError(ctx.Err()), lastErr)
				}
				return ctxError(ctx.Err())
			}
			if backoff < 500*time.Millisecond {
				backoff *= 2
			}
			if err := expired(); err != nil {
				return err
			}
		}
		cn, err := c.getConn(ctx)
		if err != nil {
			var refused *Error
			if errors.Is(err, ErrClosed) || ctx.Err() != nil {
				return ctxError(err)
			}
			if errors.As(err, &refused) {
				// A member answered the handshake with a refusal (TLS
				// required, protocol version): retrying cannot help.
				return err
			}
			lastErr = err
			continue
		}
		if err := expired(); err != nil {
			return err
		}
		f := &wire.Frame{Method: method, Body: body, Seq: seq}
		if write {
			f.AckBelow = c.ackBelow()
			if firstSent.IsZero() {
				firstSent = time.Now()
			} else {
				f.AgeMillis = time.Since(firstSent).Milliseconds()
			}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); write && (!ok || dl.After(firstSent.Add(c.cfg.RetryWindow))) {
			// The attempt ends with the window (the server learns it
			// from the frame's timeout) — unless ctx ends first anyway.
			actx, cancel = context.WithDeadline(ctx, firstSent.Add(c.cfg.RetryWindow))
		}
		r, err := cn.unary(actx, f)
		windowEnded := ctx.Err() == nil && actx.Err() != nil // before cancel, which ends actx too
		cancel()
		if err != nil {
			if errors.Is(err, errConnBroken) {
				c.dropConn(cn)
				lastErr = fmt.Errorf("connection to %s lost", cn.addr)
				continue
			}
			if windowEnded {
				lastErr = ctxError(context.DeadlineExceeded)
				continue // expired() ends the call
			}
			return ctxError(err)
		}
		if r.Err != nil {
			switch r.Err.Code {
			case wire.CodeUnavailable:
				// This member cannot serve now (no quorum, stopping):
				// try another one.
				c.dropConn(cn)
				lastErr = fromWire(r.Err)
				continue
			case wire.CodeMemberRemoved:
				// This member left the cluster for good.
				c.forgetEndpoint(cn.addr)
				c.dropConn(cn)
				lastErr = fromWire(r.Err)
				continue
			case wire.CodeTimeout:
				if ctx.Err() == nil {
					lastErr = fromWire(r.Err)
					continue
				}
			}
			return fromWire(r.Err)
		}
		if resp != nil {
			if err := wire.Unmarshal(r.Body, resp); err != nil {
				return fmt.Errorf("%w: bad response to %s: %v", ErrUnknown, method, err)
			}
		}
		return nil
	}
}

// Status asks the member at endpoint (which need not be one of the
// client's endpoints) for its status.
func (c *Client) Status(ctx context.Context, endpoint string) (*StatusResponse, error) {
	var resp StatusResponse
	if err := c.callEndpoint(ctx, endpoint, wire.MethodStatus, &wire.StatusRequest{}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// callEndpoint makes one call to the member at endpoint alone, on a
// connection of its own, without retries.
func (c *Client) callEndpoint(ctx context.Context, endpoint, method string, req, resp any) error {
	cn, err := dialConn(ctx, endpoint, &c.cfg, c.id)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, endpoint, err)
	}
	defer cn.close(ErrClosed)
	body, err := wire.Marshal(req)
	if err != nil {
		return fmt.Errorf("%w: encode %s: %v", ErrInvalid, method, err)
	}
	r, err := cn.unary(ctx, &wire.Frame{Method: method, Body: body})
	if err != nil {
		if errors.Is(err, errConnBroken) {
			return fmt.Errorf("%w: %s: connection lost", ErrUnavailable, endpoint)
		}
		return ctxError(err)
	}
	if r.Err != nil {
		return fromWire(r.Err)
	}
	if err := wire.Unmarshal(r.Body, resp); err != nil {
		return fmt.Errorf("%w: bad %s response: %v", ErrUnknown, method, err)
	}
	return nil
}

// currentConn returns the connection calls use now, or nil.
func (c *Client) currentConn() *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}
