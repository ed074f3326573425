package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/barrier"
	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
)

// Tests of blocking calls at the edges (issue 11, items 2–5): waits that
// outlive the server's call cap or a connection, waiters that give up
// while the shard has no quorum, releases by someone else than the owner,
// and the exactly-once watermark of a client that waits.

// shortCallCap shortens the server's cap on call duration for one test.
func shortCallCap(t *testing.T, d time.Duration) {
	old := maxCallTimeout
	maxCallTimeout = d
	t.Cleanup(func() { maxCallTimeout = old })
}

// waitCapHits waits until n more calls than now have been ended by the
// server's cap.
func waitCapHits(t *testing.T, n int64) {
	t.Helper()
	start := callCapHits.Load()
	require.Eventually(t, func() bool { return callCapHits.Load() >= start+n }, 30*time.Second, 10*time.Millisecond,
		"waiting for %d calls to reach the server's cap", n)
}

// TestLockWaitKeepsPlaceAcrossCallCap: two waiters whose waits are cut
// by the server's (shortened) cap several times keep their places: they
// are granted in arrival order.
func TestLockWaitKeepsPlaceAcrossCallCap(t *testing.T) {
	shortCallCap(t, 300*time.Millisecond)
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	holder := locks.NewMutex(newSession(t, c, 30), "cap")
	require.NoError(t, holder.Lock(ctx))
	// The first waiter has a deadline longer than the cap (the server cuts
	// its call at the cap), the second none.
	noDeadline, stop := context.WithCancel(context.Background())
	defer stop()
	wctxs := []context.Context{ctxT(t, 50*time.Second), noDeadline}
	grants := make(chan int, 2)
	errs := make(chan error, 2)
	ms := make([]*locks.Mutex, 2)
	for i := range ms {
		ms[i] = locks.NewMutex(newSession(t, tc.client(), 30), "cap")
		go func(i int) {
			if err := ms[i].Lock(wctxs[i]); err != nil {
				errs <- err
				return
			}
			grants <- i
		}(i)
		waitWaiters(t, c, "cap", int64(i+1))
	}
	waitCapHits(t, 3)
	waitWaiters(t, c, "cap", 2)

	require.NoError(t, holder.Unlock(ctx))
	for want := 0; want < 2; want++ {
		select {
		case got := <-grants:
			require.Equal(t, want, got, "granted out of arrival order: a waiter lost its place at the cap")
			require.NoError(t, ms[got].Unlock(ctx))
		case err := <-errs:
			t.Fatalf("waiter failed: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("waiter %d not granted", want)
		}
	}
}

// TestDoubleBarrierEnterAcrossCallCap: a participant whose Enter waits
// through several caps is still in the barrier when the last one enters.
func TestDoubleBarrierEnterAcrossCallCap(t *testing.T) {
	shortCallCap(t, 300*time.Millisecond)
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	wctx := ctxT(t, 40*time.Second)
	first := barrier.NewDouble(newSession(t, c, 30), "capb", 2)
	entered := make(chan error, 1)
	go func() { entered <- first.Enter(wctx) }()
	waitCapHits(t, 3)
	second := barrier.NewDouble(newSession(t, tc.client(), 30), "capb", 2)
	ctx := ctxT(t, 15*time.Second)
	require.NoError(t, second.Enter(ctx), "the first participant must still be in")
	select {
	case err := <-entered:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("first participant never saw the barrier ready")
	}
}

// frameConn is a connection speaking frames directly, as client id.
type frameConn struct {
	nc     net.Conn
	frames chan *wire.Frame
}

func dialFrames(t *testing.T, addr string, id uint64) *frameConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: id})
	require.Nil(t, rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello}).Err)
	rc := &frameConn{nc: nc, frames: make(chan *wire.Frame, 64)}
	go func() {
		defer close(rc.frames)
		for {
			f := new(wire.Frame)
			if fr.Read(f) != nil {
				return
			}
			rc.frames <- f
		}
	}()
	return rc
}

func (rc *frameConn) send(t *testing.T, f *wire.Frame) {
	t.Helper()
	f.Type = wire.FrameRequest
	b, err := wire.AppendFrame(nil, f)
	require.NoError(t, err)
	_, err = rc.nc.Write(b)
	require.NoError(t, err)
}

// final returns the last frame of call id (skipping its More frames).
func (rc *frameConn) final(t *testing.T, id uint64) *wire.Frame {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case f, ok := <-rc.frames:
			require.True(t, ok, "connection closed")
			if f.ID == id && !f.More {
				return f
			}
		case <-timeout:
			t.Fatalf("no answer to call %d", id)
		}
	}
}

// TestLockRetryNeverReportsReleasedGrant constructs the race of a cut-off
// waiter: its Lock was queued, then granted, then released (as the
// server's withdrawal of a waiter whose call ended does) and the lock
// handed on; the client's retry of the same write must not report the
// grant that is gone.
func TestLockRetryNeverReportsReleasedGrant(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 30*time.Second)
	addr := tc.Config(0).ListenClient

	holder := locks.NewMutex(newSession(t, c, 30), "S")
	require.NoError(t, holder.Lock(ctx))
	ws := newSession(t, c, 30)
	lw, err := ws.Lease(ctx, string(locks.Prefix("S")))
	require.NoError(t, err)

	// W queues with (client 4343, seq 1).
	lock, _ := wire.Marshal(&wire.LockRequest{Name: "S", Lease: lw, Owner: []byte("W")})
	a := dialFrames(t, addr, 4343)
	a.send(t, &wire.Frame{ID: 1, Method: wire.MethodLock, Seq: 1, AckBelow: 1, TimeoutMillis: 20000, Body: lock})
	waitWaiters(t, c, "S", 1)
	// X queues behind it.
	x := locks.NewMutex(newSession(t, c, 30), "S", locks.WithOwner([]byte("X")))
	xgot := make(chan error, 1)
	go func() { xgot <- x.Lock(ctx) }()
	waitWaiters(t, c, "S", 2)

	// W is granted...
	require.NoError(t, holder.Unlock(ctx))
	g := a.final(t, 1)
	require.Nil(t, g.Err)
	var granted wire.LockResponse
	require.NoError(t, wire.Unmarshal(g.Body, &granted))
	require.NotZero(t, granted.Token)
	// ...and released at once, as a withdrawal racing the grant does; X
	// holds now.
	unlock := map[string]any{"n": "S", "k": granted.Key, "l": lw}
	require.NoError(t, c.Call(ctx, wire.MethodUnlock, unlock, &wire.UnlockResponse{}))
	select {
	case err := <-xgot:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("X not granted")
	}

	// W's client never saw the grant and retries the same write.
	b := dialFrames(t, addr, 4343)
	b.send(t, &wire.Frame{ID: 1, Method: wire.MethodLock, Seq: 1, AckBelow: 1, TimeoutMillis: 5000, Body: lock})
	r := b.final(t, 1)
	if r.Err == nil {
		var stale wire.LockResponse
		require.NoError(t, wire.Unmarshal(r.Body, &stale))
		t.Fatalf("the retry reported a grant (token %d) that was released; X holds with token %d", stale.Token, x.Token())
	}
	st, err := locks.Status(ctx, c, "S")
	require.NoError(t, err)
	require.Equal(t, "X", string(st.Owner))
	require.Equal(t, x.Token(), st.Token)
}

// TestCancelledWaiterWithdrawnAfterQuorumReturns: a waiter gives up while
// its shard has no quorum; once the quorum is back its key is gone and
// the waiter behind it is granted when the holder unlocks.
func TestCancelledWaiterWithdrawnAfterQuorumReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("stops and restarts two members of three: not in -short")
	}
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 90*time.Second)
	c := tc.client(tc.endpoints()[0]) // the member that stays up

	holder := locks.NewMutex(newSession(t, c, 60), "Q")
	require.NoError(t, holder.Lock(ctx))
	quitter := locks.NewMutex(newSession(t, c, 60), "Q")
	qctx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	qerr := make(chan error, 1)
	go func() { qerr <- quitter.Lock(qctx) }()
	waitWaiters(t, c, "Q", 1)
	next := locks.NewMutex(newSession(t, c, 60), "Q")
	ngot := make(chan error, 1)
	go func() { ngot <- next.Lock(ctx) }()
	waitWaiters(t, c, "Q", 2)

	tc.stop(1)
	tc.stop(2)
	giveUp()
	select {
	case err := <-qerr:
		require.ErrorIs(t, err, coord.ErrCanceled)
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled Lock did not return")
	}
	// The member has answered the cancelled call (and so made whatever
	// attempt to withdraw it makes while answering) before the quorum
	// comes back.
	require.Eventually(t, func() bool { return callsEnded(tc.Member(0), wire.MethodLock, wire.CodeCanceled) >= 1 },
		30*time.Second, 10*time.Millisecond)
	tc.start(1)
	tc.start(2)
	tc.waitReady()

	waitWaiters(t, c, "Q", 1)
	require.NoError(t, holder.Unlock(ctx))
	select {
	case err := <-ngot:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the waiter behind the cancelled one was not granted")
	}
	require.Zero(t, quitter.Token())
	st, err := locks.Status(ctx, c, "Q")
	require.NoError(t, err)
	require.Equal(t, next.Token(), st.Token)
	require.Zero(t, st.Waiters)
}

// callsEnded reads the member's count of method calls that ended with code.
func callsEnded(s *Server, method string, code wire.Code) float64 {
	var m dto.Metric
	_ = s.metrics.requests.WithLabelValues(method, code.String()).Write(&m)
	return m.GetCounter().GetValue()
}

// TestForeignReleaseRefused: Unlock, Resign and Proclaim with another
// lease than the owner's (or none) fail with ErrNotOwner and change
// nothing; the owner's own release works.
func TestForeignReleaseRefused(t *testing.T) {
	tc := newTestCluster(t, 1, 2)
	c := tc.client()
	ctx := ctxT(t, 30*time.Second)

	holder := locks.NewMutex(newSession(t, c, 30), "own", locks.WithOwner([]byte("me")))
	require.NoError(t, holder.Lock(ctx))
	foreign := newSession(t, tc.client(), 30)
	fl, err := foreign.Lease(ctx, string(locks.Prefix("own")))
	require.NoError(t, err)
	for _, lease := range []int64{fl, 0} {
		err := c.Call(ctx, wire.MethodUnlock, map[string]any{"n": "own", "k": holder.Key(), "l": lease}, &wire.UnlockResponse{})
		require.ErrorIs(t, err, coord.ErrNotOwner, "unlock with lease %x", lease)
	}
	st, err := locks.Status(ctx, c, "own")
	require.NoError(t, err)
	require.True(t, st.Held)
	require.Equal(t, "me", string(st.Owner))
	require.Equal(t, holder.Token(), st.Token)
	require.NoError(t, holder.Unlock(ctx))

	e := election.New(newSession(t, c, 30), "own")
	require.NoError(t, e.Campaign(ctx, "v1"))
	el, err := foreign.Lease(ctx, string(election.Prefix("own")))
	require.NoError(t, err)
	for _, lease := range []int64{el, 0} {
		err := c.Call(ctx, wire.MethodResign, map[string]any{"n": "own", "k": e.Key(), "l": lease}, &wire.LeaderResponse{})
		require.ErrorIs(t, err, coord.ErrNotOwner, "resign with lease %x", lease)
		err = c.Call(ctx, wire.MethodProclaim, map[string]any{"n": "own", "k": e.Key(), "v": []byte("stolen"), "l": lease}, &wire.LeaderResponse{})
		require.ErrorIs(t, err, coord.ErrNotOwner, "proclaim with lease %x", lease)
	}
	l, err := election.Leader(ctx, c, "own")
	require.NoError(t, err)
	require.Equal(t, "v1", string(l.Value))
	require.Equal(t, e.Term(), l.Term)
	require.NoError(t, e.Proclaim(ctx, "v2"))
	require.NoError(t, e.Resign(ctx))
	_, err = election.Leader(ctx, c, "own")
	require.ErrorIs(t, err, coord.ErrNotFound)
}

// closeClientConns cuts every client connection of a member, as a network
// failure does.
func (s *Server) closeClientConns() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c := range s.conns {
		c.close()
	}
}

// TestWaitingLockDoesNotHoldAckWatermark: a client waits in Lock while
// it makes 3,000 other writes, then its connection breaks. No write is
// answered "duplicate", and the Lock still waits in its place and is
// granted: its write was finished when it was queued, so the client's
// acknowledgement watermark moved on and the server kept no pile of
// results (before, the Lock's retry fell below the forgotten results and
// failed with ErrDuplicate).
func TestWaitingLockDoesNotHoldAckWatermark(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 120*time.Second)
	h := tc.client()
	holder := locks.NewMutex(newSession(t, h, 30), "D")
	require.NoError(t, holder.Lock(ctx))

	c := tc.client()
	m := locks.NewMutex(newSession(t, c, 30), "D")
	got := make(chan error, 1)
	go func() { got <- m.Lock(ctx) }()
	waitWaiters(t, h, "D", 1)

	const writes, workers = 3000, 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < writes; i += workers {
				if _, err := c.Put(ctx, fmt.Sprintf("{D}/k%d", i), "v"); err != nil {
					mu.Lock()
					failed = append(failed, err)
					mu.Unlock()
					return
				}
			}
		}(w)
	}
	wg.Wait()
	require.Empty(t, failed)

	tc.Member(0).closeClientConns()
	// The Lock resumes on a new connection and keeps waiting.
	waitWaiters(t, h, "D", 1)
	require.NoError(t, holder.Unlock(ctx))
	select {
	case err := <-got:
		require.NoError(t, err)
		require.False(t, errors.Is(err, coord.ErrDuplicate))
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting Lock was not granted")
	}
	st, err := locks.Status(ctx, h, "D")
	require.NoError(t, err)
	require.Equal(t, m.Token(), st.Token)
}
