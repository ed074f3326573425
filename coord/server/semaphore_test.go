package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
)

// semStatus reads semaphore name's status.
func semStatus(t *testing.T, c *coord.Client, name string) *wire.SemaphoreStatusResponse {
	t.Helper()
	st, err := locks.SemaphoreStatus(ctxT(t, 5*time.Second), c, name)
	require.NoError(t, err)
	return st
}

// waitSemWaiters waits until semaphore name has n waiters.
func waitSemWaiters(t *testing.T, c *coord.Client, name string, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := locks.SemaphoreStatus(ctxT(t, time.Second), c, name)
		return err == nil && len(st.Waiters) == n
	}, 10*time.Second, 10*time.Millisecond, "waiting for %d waiters on semaphore %s", n, name)
}

// acquireAsync acquires sem in the background; the result arrives on the
// returned channel.
func acquireAsync(ctx context.Context, sem *locks.Semaphore) chan error {
	ch := make(chan error, 1)
	go func() { ch <- sem.Acquire(ctx) }()
	return ch
}

func granted(t *testing.T, ch chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		require.NoError(t, err, what)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not granted", what)
	}
}

func notGranted(t *testing.T, ch chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s: returned %v, want still waiting", what, err)
	default:
	}
}

// TestSemaphoreGrantOrderWithWeights runs the worked example of
// semaphorerules' doc through the server: weighted grants in arrival
// order (a small request does not pass a large one at the head), Try,
// a limit that disagrees, status with weights and lease TTLs, and a
// hand-off to two waiters in one command (one token) on release.
func TestSemaphoreGrantOrderWithWeights(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	st := semStatus(t, c, "S")
	require.Zero(t, st.Limit, "an unused semaphore has no limit")
	require.Empty(t, st.Holders)

	a := locks.NewSemaphore(newSession(t, c, 10), "S", 3, locks.WithWeight(2), locks.WithSemaphoreOwner([]byte("A")))
	require.NoError(t, a.Acquire(ctx))
	require.Positive(t, a.Token())
	require.Equal(t, int64(2), a.Weight())

	b := locks.NewSemaphore(newSession(t, tc.client(tc.endpoints()[1]), 10), "S", 3, locks.WithWeight(2), locks.WithSemaphoreOwner([]byte("B")))
	bgot := acquireAsync(ctx, b)
	waitSemWaiters(t, c, "S", 1)
	cc := locks.NewSemaphore(newSession(t, tc.client(tc.endpoints()[2]), 10), "S", 3, locks.WithSemaphoreOwner([]byte("C")))
	cgot := acquireAsync(ctx, cc)
	waitSemWaiters(t, c, "S", 2)
	notGranted(t, cgot, "C (weight 1, behind B though 1 permit is free)")

	st = semStatus(t, c, "S")
	require.Equal(t, int64(3), st.Limit)
	require.Equal(t, int64(2), st.Held)
	require.Len(t, st.Holders, 1)
	require.Equal(t, "A", string(st.Holders[0].Owner))
	require.Equal(t, int64(2), st.Holders[0].Weight)
	require.Equal(t, a.Token(), st.Holders[0].Token)
	require.Equal(t, a.Lease(), st.Holders[0].Lease)
	require.Positive(t, st.Holders[0].LeaseTTL)
	require.LessOrEqual(t, st.Holders[0].LeaseTTL, int64(10))
	require.Equal(t, []string{"B", "C"}, []string{string(st.Waiters[0].Owner), string(st.Waiters[1].Owner)})
	require.Equal(t, []int64{2, 1}, []int64{st.Waiters[0].Weight, st.Waiters[1].Weight})
	require.Positive(t, st.Waiters[0].LeaseTTL)

	d := locks.NewSemaphore(newSession(t, c, 10), "S", 3)
	err := d.TryAcquire(ctx)
	require.ErrorIs(t, err, coord.ErrLocked)
	require.Zero(t, d.Token())
	err = locks.NewSemaphore(newSession(t, c, 10), "S", 5).Acquire(ctx)
	require.ErrorIs(t, err, locks.ErrLimitMismatch)
	require.ErrorIs(t, err, coord.ErrInvalid)
	require.Contains(t, err.Error(), "limit of 3, not 5")
	err = locks.NewSemaphore(newSession(t, c, 10), "S", 3, locks.WithWeight(4)).Acquire(ctx)
	require.ErrorIs(t, err, coord.ErrInvalid)
	require.NotErrorIs(t, err, locks.ErrLimitMismatch)
	require.ErrorIs(t, d.Release(ctx), coord.ErrNotHolder, "a handle that holds nothing")

	// A leaves: B (2) and C (1) both fit, granted by the same command.
	require.NoError(t, a.Release(ctx))
	granted(t, bgot, "B")
	granted(t, cgot, "C")
	require.Equal(t, b.Token(), cc.Token(), "one command granted both")
	require.Greater(t, b.Token(), a.Token())
	st = semStatus(t, c, "S")
	require.Equal(t, int64(3), st.Held)
	require.Empty(t, st.Waiters)

	require.NoError(t, b.Release(ctx))
	require.NoError(t, cc.Release(ctx))
	require.ErrorIs(t, cc.Release(ctx), coord.ErrNotHolder)
	st = semStatus(t, c, "S")
	require.Zero(t, st.Limit, "empty again: the next acquirer sets the limit")
	e := locks.NewSemaphore(newSession(t, c, 10), "S", 5, locks.WithWeight(5))
	require.NoError(t, e.TryAcquire(ctx))
	require.NoError(t, e.Release(ctx))
}

// TestSemaphoreWaitResumesAcrossCallCap: waiters whose waits the server
// cuts at its (shortened) cap several times keep their places: the large
// one at the head is granted before the small one behind it.
func TestSemaphoreWaitResumesAcrossCallCap(t *testing.T) {
	shortCallCap(t, 300*time.Millisecond)
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	holder := locks.NewSemaphore(newSession(t, c, 30), "cap", 2, locks.WithWeight(2))
	require.NoError(t, holder.Acquire(ctx))
	big := locks.NewSemaphore(newSession(t, tc.client(), 30), "cap", 2, locks.WithWeight(2))
	bigGot := acquireAsync(ctx, big)
	waitSemWaiters(t, c, "cap", 1)
	noDeadline, stop := context.WithCancel(context.Background())
	defer stop()
	small := locks.NewSemaphore(newSession(t, tc.client(), 30), "cap", 2)
	smallGot := acquireAsync(noDeadline, small)
	waitSemWaiters(t, c, "cap", 2)
	waitCapHits(t, 3)
	waitSemWaiters(t, c, "cap", 2)

	require.NoError(t, holder.Release(ctx))
	granted(t, bigGot, "the large waiter at the head")
	notGranted(t, smallGot, "the small waiter behind it")
	require.NoError(t, big.Release(ctx))
	granted(t, smallGot, "the small waiter")
	require.Greater(t, small.Token(), big.Token())
	require.NoError(t, small.Release(ctx))
}

// TestSemaphoreWithdrawnAndExpiredHolder: a waiter that gives up leaves
// the queue (the one behind it moves up), and a holder whose session
// stops renewing gives its permits back within the TTL.
func TestSemaphoreWithdrawnAndExpiredHolder(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	hs, err := coord.NewSession(c, coord.WithTTL(2))
	require.NoError(t, err)
	holder := locks.NewSemaphore(hs, "W", 2, locks.WithWeight(2))
	require.NoError(t, holder.Acquire(ctx))

	wctx, giveUp := context.WithCancel(ctx)
	quitter := locks.NewSemaphore(newSession(t, c, 10), "W", 2, locks.WithWeight(2))
	qgot := acquireAsync(wctx, quitter)
	waitSemWaiters(t, c, "W", 1)
	next := locks.NewSemaphore(newSession(t, tc.client(tc.endpoints()[1]), 10), "W", 2)
	ngot := acquireAsync(ctx, next)
	waitSemWaiters(t, c, "W", 2)
	giveUp()
	select {
	case err := <-qgot:
		require.ErrorIs(t, err, coord.ErrCanceled)
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled Acquire did not return")
	}
	waitSemWaiters(t, c, "W", 1)
	require.Zero(t, quitter.Token())

	hs.Orphan()
	start := time.Now()
	granted(t, ngot, "the waiter after the holder's session expired")
	t.Logf("granted %v after the holder stopped renewing (TTL 2s)", time.Since(start))
	require.Greater(t, next.Token(), holder.Token())
	st := semStatus(t, c, "W")
	require.Equal(t, int64(1), st.Held)
	require.Len(t, st.Holders, 1)
	require.Equal(t, next.Key(), st.Holders[0].Key)
}

// TestSemaphoreRetryNeverReportsReleasedGrant: an acquire queued, then
// granted, then released (as a withdrawal racing the grant does) must
// not be reported granted to the client's retry of the same write: the
// retry's answer is checked by a resumed wait, which reads the owner
// first.
func TestSemaphoreRetryNeverReportsReleasedGrant(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 30*time.Second)
	addr := tc.Config(0).ListenClient

	holder := locks.NewSemaphore(newSession(t, c, 30), "R", 1)
	require.NoError(t, holder.Acquire(ctx))
	ws := newSession(t, c, 30)
	lw, err := ws.Lease(ctx, string(locks.SemaphorePrefix("R")))
	require.NoError(t, err)

	acquire, _ := wire.Marshal(&wire.SemaphoreAcquireRequest{Name: "R", Lease: lw, Limit: 1, Owner: []byte("W")})
	a := dialFrames(t, addr, 5353)
	a.send(t, &wire.Frame{ID: 1, Method: wire.MethodSemAcquire, Seq: 1, AckBelow: 1, TimeoutMillis: 20000, Body: acquire})
	waitSemWaiters(t, c, "R", 1)

	require.NoError(t, holder.Release(ctx))
	g := a.final(t, 1)
	require.Nil(t, g.Err)
	var got wire.SemaphoreAcquireResponse
	require.NoError(t, wire.Unmarshal(g.Body, &got))
	require.NotZero(t, got.Token)
	require.NoError(t, c.Call(ctx, wire.MethodSemRelease, &wire.SemaphoreReleaseRequest{Name: "R", Key: got.Key, Lease: lw}, &wire.SemaphoreReleaseResponse{}))

	// A resumed wait of the released owner says it is gone.
	resume, _ := wire.Marshal(&wire.SemaphoreAcquireRequest{Name: "R", Lease: lw, Limit: 1, Resume: got.Key})
	b := dialFrames(t, addr, 5353)
	b.send(t, &wire.Frame{ID: 2, Method: wire.MethodSemAcquire, TimeoutMillis: 5000, Body: resume})
	r := b.final(t, 2)
	require.NotNil(t, r.Err, "a resume reported a grant that was released")
	require.Equal(t, wire.CodeCanceled, r.Err.Code)

	// The same write retried: its first result (a waiter) is replayed,
	// and the wait after it reads the present: gone.
	b.send(t, &wire.Frame{ID: 3, Method: wire.MethodSemAcquire, Seq: 1, AckBelow: 1, TimeoutMillis: 5000, Body: acquire})
	r = b.final(t, 3)
	if r.Err == nil {
		var stale wire.SemaphoreAcquireResponse
		require.NoError(t, wire.Unmarshal(r.Body, &stale))
		require.Zero(t, stale.Token, "the retry reported a grant (token %d) that was released", stale.Token)
	}
	require.Zero(t, semStatus(t, c, "R").Held)
}
