package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue"
)

// rawConn is a hand-driven client connection.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *wire.FrameReader
}

// dialRaw connects and says hello; hello is the server's answer.
func dialRaw(t *testing.T, addr string) (*rawConn, *wire.Frame) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	rc := &rawConn{t: t, nc: nc, fr: wire.NewFrameReader(nc, 0)}
	body, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 99})
	rc.send(&wire.Frame{Type: wire.FrameHello, Body: body})
	return rc, rc.read()
}

// dialRawOK connects and requires the handshake to succeed.
func dialRawOK(t *testing.T, addr string) *rawConn {
	t.Helper()
	rc, hello := dialRaw(t, addr)
	require.NotNil(t, hello, "connection closed in the handshake")
	require.Nil(t, hello.Err, "handshake refused")
	return rc
}

func (rc *rawConn) send(f *wire.Frame) {
	rc.t.Helper()
	b, err := wire.AppendFrame(nil, f)
	require.NoError(rc.t, err)
	_ = rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err = rc.nc.Write(b)
	require.NoError(rc.t, err)
}

// read returns the next frame, or nil when the server closed the
// connection; it fails the test if neither happens within 10 s.
func (rc *rawConn) read() *wire.Frame {
	rc.t.Helper()
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f wire.Frame
	if err := rc.fr.Read(&f); err != nil {
		var ne net.Error
		require.False(rc.t, errors.As(err, &ne) && ne.Timeout(), "the server neither answered nor closed the connection")
		return nil
	}
	return &f
}

// answer reads frames until the final answer of call id.
func (rc *rawConn) answer(id uint64) *wire.Frame {
	rc.t.Helper()
	for {
		f := rc.read()
		require.NotNil(rc.t, f, "connection closed before call %d was answered", id)
		if f.ID == id && (!f.More || f.Err != nil) {
			return f
		}
	}
}

// call sends one request and returns its final answer.
func (rc *rawConn) call(id uint64, method string, req any) *wire.Frame {
	rc.t.Helper()
	body, err := wire.Marshal(req)
	require.NoError(rc.t, err)
	rc.send(&wire.Frame{Type: wire.FrameRequest, ID: id, Method: method, Body: body, TimeoutMillis: 5000})
	return rc.answer(id)
}

// watch opens a watch and returns its first answer (Created, or an error).
func (rc *rawConn) watch(id uint64, key string) *wire.Frame {
	rc.t.Helper()
	body, err := wire.Marshal(&wire.WatchRequest{Key: []byte(key)})
	require.NoError(rc.t, err)
	rc.send(&wire.Frame{Type: wire.FrameRequest, ID: id, Method: wire.MethodWatch, Body: body})
	for {
		f := rc.read()
		require.NotNil(rc.t, f, "connection closed before watch %d answered", id)
		if f.ID == id {
			return f
		}
	}
}

// closedByServer reports whether the server closed the connection within
// 10 s (whatever it sent first is skipped).
func (rc *rawConn) closedByServer() bool {
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, rc.nc)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestStalledHalfFrameIsCut: a client that starts a frame and stops
// sending in its middle is disconnected after the request read timeout;
// other clients are served.
func TestStalledHalfFrameIsCut(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) {
		c.RequestReadTimeout = 300 * time.Millisecond
		c.IdleTimeout = 0
	})
	addr := tc.Config(0).ListenClient
	rc := dialRawOK(t, addr)
	// Half of a 100-byte frame, then nothing.
	half := binary.BigEndian.AppendUint32(nil, 100)
	_, err := rc.nc.Write(append(half, make([]byte, 50)...))
	require.NoError(t, err)
	require.True(t, rc.closedByServer(), "a connection stalled in the middle of a frame must be closed")

	_, err = tc.client().Put(ctxT(t, 10*time.Second), "after-stall", "1")
	require.NoError(t, err)
}

// TestIdleConnectionClosedClientRedials: a connection with no call in
// flight is closed after the idle timeout, the Go client's next call
// redials without failing, and a connection with an open watch is not
// idle.
func TestIdleConnectionClosedClientRedials(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	addr := tc.Config(0).ListenClient
	ctx := ctxT(t, 20*time.Second)

	watcher := dialRawOK(t, addr)
	require.True(t, watcher.watch(1, "idle/w").More, "watch created")

	c := tc.client()
	_, err := c.Put(ctx, "idle/a", "1")
	require.NoError(t, err)
	require.Equal(t, addr, c.ActiveEndpoint())
	// The client's connection goes idle and is closed by the member.
	require.Eventually(t, func() bool { return c.ActiveEndpoint() == "" }, 10*time.Second, 20*time.Millisecond,
		"the idle connection was not closed")
	// The next call redials transparently.
	_, err = c.Put(ctx, "idle/w", "2")
	require.NoError(t, err)
	require.Equal(t, addr, c.ActiveEndpoint())

	// The watch's connection was idle at least as long, but it has a
	// stream: it stays, and the put above arrives on it.
	f := watcher.read()
	require.NotNil(t, f, "the connection with an open watch was closed")
	require.EqualValues(t, 1, f.ID)
	var wr wire.WatchResponse
	require.NoError(t, wire.Unmarshal(f.Body, &wr))
	require.Len(t, wr.Events, 1)
	require.Equal(t, "idle/w", string(wr.Events[0].Kv.Key))
}

// TestMaxConnections: with the member at its connection limit, one more
// connection is refused in the handshake with a clear error and closed,
// the others keep working, a Go client moves on to another member, and a
// freed slot can be taken again.
func TestMaxConnections(t *testing.T) {
	tc := newTestCluster(t, 2, 1, func(c *Config) {
		if c.Name == "n1" {
			c.MaxConnections = 2
		}
	})
	addr := tc.Config(0).ListenClient
	ctx := ctxT(t, 20*time.Second)
	first := dialRawOK(t, addr)
	second := dialRawOK(t, addr)

	extra, hello := dialRaw(t, addr)
	require.NotNil(t, hello, "the refused connection must get a reason before it is closed")
	require.NotNil(t, hello.Err, "a connection over the limit was accepted")
	require.Equal(t, wire.CodeUnavailable, hello.Err.Code)
	require.Contains(t, hello.Err.Message, "too many client connections (limit 2)")
	require.True(t, extra.closedByServer())

	// The first two are served.
	for i, rc := range []*rawConn{first, second} {
		r := rc.call(uint64(i+1), wire.MethodStatus, &wire.StatusRequest{})
		require.Nil(t, r.Err)
	}

	// A client that can only reach the full member fails at once, clearly.
	only, err := coord.New(coord.Config{Endpoints: []string{addr}, DialTimeout: time.Second})
	require.NoError(t, err)
	defer only.Close()
	_, err = only.Put(ctx, "maxconn/a", "1")
	require.ErrorIs(t, err, coord.ErrUnavailable)
	require.Contains(t, err.Error(), "too many client connections")
	// One that knows another member goes there.
	c := tc.client(addr, tc.Config(1).ListenClient)
	_, err = c.Put(ctx, "maxconn/b", "1")
	require.NoError(t, err)
	require.Equal(t, tc.Config(1).ListenClient, c.ActiveEndpoint())

	// A closed connection frees its slot.
	first.nc.Close()
	require.Eventually(t, func() bool {
		rc, hello := dialRaw(t, addr)
		defer rc.nc.Close()
		return hello != nil && hello.Err == nil
	}, 10*time.Second, 20*time.Millisecond)
}

// TestWatchesPerConnectionBounded: one watch more than a connection may
// hold is cancelled with a clear error; the others and other calls on
// the connection are unaffected.
func TestWatchesPerConnectionBounded(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.MaxWatchesPerConn = 2 })
	ctx := ctxT(t, 20*time.Second)
	c := tc.client()
	w1 := c.Watch(ctx, "watches/1")
	w2 := c.Watch(ctx, "watches/2")
	for _, w := range []coord.WatchChan{w1, w2} {
		r := <-w
		require.True(t, r.Created)
		require.NoError(t, r.Err())
	}
	r, ok := <-c.Watch(ctx, "watches/3")
	require.True(t, ok)
	require.True(t, r.Canceled, "a third watch on the connection was created")
	require.ErrorIs(t, r.Err(), coord.ErrTooLarge)
	require.Contains(t, r.Err().Error(), "too many watches on one connection (limit 2)")

	_, err := c.Put(ctx, "watches/1", "v")
	require.NoError(t, err)
	r = <-w1
	require.Len(t, r.Events, 1)
}

// TestInflightBytesPerConnectionBounded: requests whose bytes in flight
// on one connection would pass the limit are refused with a clear error;
// smaller calls still go through.
func TestInflightBytesPerConnectionBounded(t *testing.T) {
	const limit = 4 << 10
	tc := newTestCluster(t, 1, 1, func(c *Config) {
		c.MaxKeySize, c.MaxValueSize, c.MaxRequestSize = 1000, 1000, 2000
		c.MaxInflightBytesPerConn = limit
	})
	rc := dialRawOK(t, tc.Config(0).ListenClient)
	key := strings.Repeat("k", 1000)
	body, _ := wire.Marshal(&wire.WatchRequest{Key: []byte(key)})
	size := len(body) + len(wire.MethodWatch) // what a watch holds in flight
	fit := limit / size
	for id := 1; id <= fit; id++ {
		f := rc.watch(uint64(id), key)
		require.Nil(t, f.Err, "watch %d of %d bytes", id, size)
	}
	f := rc.watch(uint64(fit+1), key)
	require.NotNil(t, f.Err, "a watch over the in-flight bytes limit was accepted")
	require.Equal(t, wire.CodeTooLarge, f.Err.Code)
	require.Contains(t, f.Err.Message, fmt.Sprintf("request bytes in flight on one connection (limit %d)", limit))
	// A small call fits.
	require.Nil(t, rc.call(1000, wire.MethodStatus, &wire.StatusRequest{}).Err)
	// Cancelling a watch makes room again.
	rc.send(&wire.Frame{Type: wire.FrameCancel, ID: 1})
	rc.answer(1)
	require.Eventually(t, func() bool {
		id := uint64(2000 + rand.Intn(1000))
		f := rc.watch(id, key)
		return f.Err == nil
	}, 10*time.Second, 20*time.Millisecond)
}

// TestLeaseTTLOverMax: a grant over the maximum TTL is refused with an
// error that names the maximum.
func TestLeaseTTLOverMax(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.MaxLeaseTTL = time.Hour })
	ctx := ctxT(t, 20*time.Second)
	c := tc.client()
	_, err := c.Grant(ctx, 3601)
	require.ErrorIs(t, err, coord.ErrInvalid, "a TTL over the maximum was granted")
	require.Contains(t, err.Error(), "lease TTL 3601 s is over the maximum of 3600 s")
	g, err := c.Grant(ctx, 3600)
	require.NoError(t, err)
	require.EqualValues(t, 3600, g.TTL)
}

// TestKeepAliveTooManyLeases: a keep-alive of more lease IDs than allowed
// is refused with an error that names the limit.
func TestKeepAliveTooManyLeases(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.MaxKeepAliveLeases = 100 })
	ctx := ctxT(t, 20*time.Second)
	c := tc.client()
	g, err := c.Grant(ctx, 60)
	require.NoError(t, err)
	ids := make([]int64, 101)
	for i := range ids {
		ids[i] = g.ID
	}
	var resp wire.LeaseKeepAliveResponse
	err = c.Call(ctx, wire.MethodLeaseKeepAlive, &wire.LeaseKeepAliveRequest{IDs: ids}, &resp)
	require.ErrorIs(t, err, coord.ErrTooLarge, "a keep-alive of too many leases was served")
	require.Contains(t, err.Error(), "101 leases in one keep-alive, over the limit of 100")
	require.NoError(t, c.Call(ctx, wire.MethodLeaseKeepAlive, &wire.LeaseKeepAliveRequest{IDs: ids[:100]}, &resp))
	require.EqualValues(t, 60, resp.TTLs[0])
}

// TestUnknownMethodsAddNoSeries: calls of a thousand made-up methods are
// answered "unimplemented" and counted under one label, not one series
// each.
func TestUnknownMethodsAddNoSeries(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	s := tc.Member(0)
	series := func() int {
		mfs, err := s.metrics.reg.Gather()
		require.NoError(t, err)
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "coord_request") {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	rc := dialRawOK(t, tc.Config(0).ListenClient)
	// Once first, so the label that unknown methods share exists.
	require.Equal(t, wire.CodeUnimplemented, rc.call(1, "xfirst", &wire.StatusRequest{}).Err.Code)
	before := series()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for id := uint64(2); id < 1002; id++ {
		rc.send(&wire.Frame{Type: wire.FrameRequest, ID: id, Method: fmt.Sprintf("x%x", rng.Uint64()), Body: []byte{0x80}})
	}
	for i := 0; i < 1000; i++ {
		f := rc.read()
		require.NotNil(t, f)
		require.NotNil(t, f.Err)
		require.Equal(t, wire.CodeUnimplemented, f.Err.Code)
	}
	require.Equal(t, before, series(), "unknown methods added metric series")
}

// TestLimitsValidated: the limits must make sense together.
func TestLimitsValidated(t *testing.T) {
	for _, tt := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.MaxConnections = 0 }, "max connections must be at least 1"},
		{func(c *Config) { c.IdleTimeout = -time.Second }, "idle timeout must not be negative"},
		{func(c *Config) { c.RequestReadTimeout = 0 }, "request read timeout must be positive"},
		{func(c *Config) { c.MaxWatchesPerConn = 0 }, "max watches per connection must be at least 1"},
		{func(c *Config) { c.MaxInflightBytesPerConn = c.MaxRequestSize - 1 }, "must be at least max request size"},
		{func(c *Config) { c.MaxLeaseTTL = 1500 * time.Millisecond }, "max lease TTL must be whole seconds"},
		{func(c *Config) { c.MaxKeepAliveLeases = 0 }, "max keep-alive leases must be at least 1"},
		{func(c *Config) { c.MaxKeepAliveLeases = 1 << 17 }, "max keep-alive leases must be at most 65536"},
		{func(c *Config) { c.MaxTxnOps = 1 << 17 }, "max txn ops must be at most 65536"},
	} {
		cfg := DefaultConfig()
		require.NoError(t, cfg.Validate())
		tt.change(&cfg)
		require.ErrorContains(t, cfg.Validate(), tt.want)
	}
}

// TestRenewalBatchBounded: the keep-alives coalesced into one renewal
// proposal bring a bounded number of lease IDs, however many are queued.
func TestRenewalBatchBounded(t *testing.T) {
	reqs := make(chan *renewReq, 16)
	for i := 0; i < 10; i++ {
		reqs <- &renewReq{ids: make([]int64, 300)}
	}
	first := &renewReq{ids: make([]int64, 300)}
	batch := collectRenewals(first, reqs, 1000)
	require.Len(t, batch, 4, "300 IDs each, up to the first batch of 1000 or more")
	require.Same(t, first, batch[0])
	require.Len(t, reqs, 7, "the rest stay queued for the next proposal")
	// A single keep-alive over the bound is still served, alone.
	big := &renewReq{ids: make([]int64, 5000)}
	require.Len(t, collectRenewals(big, reqs, 1000), 1)
}

// TestClientThatDoesNotReadIsCut: a client that sends requests and never
// reads the answers is disconnected once a write to it has waited for
// writeTimeout, instead of holding its calls for ever.
func TestClientThatDoesNotReadIsCut(t *testing.T) {
	old := writeTimeout
	writeTimeout = 300 * time.Millisecond
	defer func() { writeTimeout = old }()
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.IdleTimeout = 0 })
	s := tc.Member(0)
	ctx := ctxT(t, 20*time.Second)
	_, err := tc.client().Put(ctx, "big", strings.Repeat("v", 1<<20))
	require.NoError(t, err)
	hits := func() float64 {
		mfs, err := s.metrics.reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() != "coord_limit_hits_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == limitWriteTimeout {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return -1
	}
	conns := func() int {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		return len(s.conns)
	}
	require.Zero(t, hits())
	before := conns()
	rc := dialRawOK(t, tc.Config(0).ListenClient)
	body, _ := wire.Marshal(&wire.RangeRequest{Key: []byte("big")})
	// 64 answers of 1 MiB are more than the socket buffers hold.
	for id := uint64(1); id <= 64; id++ {
		b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameRequest, ID: id, Method: wire.MethodRange, Body: body})
		_ = rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := rc.nc.Write(b); err != nil {
			break // the member cut the connection already
		}
	}
	require.Eventually(t, func() bool { return hits() == 1 }, 10*time.Second, 20*time.Millisecond,
		"the connection of a client that does not read was not cut")
	require.Eventually(t, func() bool { return conns() == before }, 10*time.Second, 20*time.Millisecond,
		"the cut connection's calls were not released")
	_, err = tc.client().Get(ctx, "big")
	require.NoError(t, err)
}

// TestVisibilityOverMaxLeaseTTL: a dequeue's visibility timeout becomes a
// lease, so it is bounded by the maximum lease TTL like a grant.
func TestVisibilityOverMaxLeaseTTL(t *testing.T) {
	tc := newTestCluster(t, 1, 1, func(c *Config) { c.MaxLeaseTTL = time.Hour })
	ctx := ctxT(t, 20*time.Second)
	c := tc.client()
	g, err := c.Grant(ctx, 60, coord.WithLeaseKey(string(queue.Prefix("vis"))))
	require.NoError(t, err)
	err = c.Call(ctx, wire.MethodEnqueue, &wire.EnqueueRequest{Name: "vis", Values: [][]byte{[]byte("a")}}, nil)
	require.NoError(t, err)
	var resp wire.DequeueResponse
	err = c.Call(ctx, wire.MethodDequeue, &wire.DequeueRequest{Name: "vis", Lease: g.ID, VisibilitySeconds: 3601}, &resp)
	require.ErrorIs(t, err, coord.ErrInvalid, "a visibility timeout over the maximum lease TTL was accepted")
	require.Contains(t, err.Error(), "over the maximum of 3600 s")
	require.NoError(t, c.Call(ctx, wire.MethodDequeue, &wire.DequeueRequest{Name: "vis", Lease: g.ID, VisibilitySeconds: 3600}, &resp))
	require.EqualValues(t, 1, resp.Item.Seq)
}
