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

// TestRWLockReadersGrantedTogether: two readers queued behind a writer are
// both told of their grant when the writer unlocks (not only the one at
// the head), with one token; no writer fences while they hold; a writer
// behind them gets in when both are gone.
func TestRWLockReadersGrantedTogether(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	w := locks.NewRWMutex(newSession(t, c, 10), "RW", locks.WithOwner([]byte("writer")))
	require.NoError(t, w.Lock(ctx))
	require.ErrorIs(t, locks.NewRWMutex(newSession(t, c, 10), "RW").TryRLock(ctx), coord.ErrLocked)

	readers := []*locks.RWMutex{
		locks.NewRWMutex(newSession(t, tc.client(tc.endpoints()[1]), 10), "RW"),
		locks.NewRWMutex(newSession(t, tc.client(tc.endpoints()[2]), 10), "RW"),
	}
	got := make(chan int, len(readers))
	for i, r := range readers {
		go func() {
			if err := r.RLock(ctx); err == nil {
				got <- i
			}
		}()
		waitWaiters(t, c, "RW", int64(i+1))
	}
	require.NoError(t, w.Unlock(ctx))
	for range readers {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("a reader queued behind the writer was not told of its grant")
		}
	}
	require.Equal(t, readers[0].RToken(), readers[1].RToken(), "granted by one command")
	require.Greater(t, readers[0].RToken(), w.Token())
	r, err := c.Txn(ctx).If(locks.LockToken("RW", 0)).Commit()
	require.NoError(t, err)
	require.True(t, r.Succeeded, "no writer holds: the lock's token is 0")

	st, err := locks.Status(ctx, c, "RW")
	require.NoError(t, err)
	require.True(t, st.Held)
	require.Equal(t, int64(2), st.Readers)
	require.Len(t, st.Holders, 2)
	for _, h := range st.Holders {
		require.True(t, h.Shared)
		require.Greater(t, h.LeaseTTL, int64(0), "each holder's lease TTL")
	}

	w2 := locks.NewRWMutex(newSession(t, c, 10), "RW")
	done := make(chan error, 1)
	go func() { done <- w2.Lock(ctx) }()
	waitWaiters(t, c, "RW", 1)
	st, err = locks.Status(ctx, c, "RW")
	require.NoError(t, err)
	require.Len(t, st.Queue, 1)
	require.False(t, st.Queue[0].Shared)
	require.Greater(t, st.Queue[0].LeaseTTL, int64(0), "a waiter's lease TTL")
	for _, r := range readers {
		require.NoError(t, r.RUnlock(ctx))
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("writer not granted after the readers left")
	}
	r, err = c.Txn(ctx).If(locks.LockToken("RW", w2.Token())).Commit()
	require.NoError(t, err)
	require.True(t, r.Succeeded, "the writer's token fences")
}

// TestRWLockResumeShared: a resumed wait of a shared owner that holds,
// but is not the head of the queue, answers with its grant at once.
func TestRWLockResumeShared(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 30*time.Second)
	a := locks.NewRWMutex(newSession(t, c, 10), "RS")
	require.NoError(t, a.RLock(ctx))
	bs := newSession(t, c, 10)
	b := locks.NewRWMutex(bs, "RS")
	require.NoError(t, b.RLock(ctx))

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var resp wire.LockResponse
	req := &wire.LockRequest{Name: "RS", Lease: b.ReadLocker().Lease(), Resume: b.ReadLocker().Key(), Shared: true}
	require.NoError(t, c.Call(rctx, wire.MethodLock, req, &resp))
	require.Equal(t, b.RToken(), resp.Token)
	require.Equal(t, b.ReadLocker().Key(), resp.Key)
}

// TestRWLockResumedReaderGranted: a reader queued second behind a writer
// whose wait is cut off (its member stops) resumes on another member and
// is granted with the reader ahead of it: the client's Resume repeats
// Shared.
func TestRWLockResumedReaderGranted(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	leader := tc.leaderOfMost()
	var others []string
	for i, cfg := range tc.Configs() {
		if i != leader {
			others = append(others, cfg.ListenClient)
		}
	}
	stopped := -1
	for i, cfg := range tc.Configs() {
		if cfg.ListenClient == others[0] {
			stopped = i
		}
	}
	c := tc.client(tc.Configs()[leader].ListenClient)
	w := locks.NewRWMutex(newSession(t, c, 10), "RR")
	require.NoError(t, w.Lock(ctx))
	first := locks.NewRWMutex(newSession(t, c, 10), "RR")
	got := make(chan error, 2)
	go func() { got <- first.RLock(ctx) }()
	waitWaiters(t, c, "RR", 1)
	// The second reader waits on others[0], then resumes on others[1].
	second := locks.NewRWMutex(newSession(t, tc.client(others...), 10), "RR")
	go func() { got <- second.RLock(ctx) }()
	waitWaiters(t, c, "RR", 2)
	tc.stop(stopped)
	require.NoError(t, w.Unlock(ctx))
	for i := 0; i < 2; i++ {
		select {
		case err := <-got:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("a reader was not granted after its wait was cut off and resumed")
		}
	}
	require.Equal(t, first.RToken(), second.RToken())
}
