package server

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
)

func newSession(t *testing.T, c *coord.Client, ttl int64) *coord.Session {
	t.Helper()
	s, err := coord.NewSession(c, coord.WithTTL(ttl))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func waitWaiters(t *testing.T, c *coord.Client, name string, n int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, err := locks.Status(ctxT(t, time.Second), c, name)
		return err == nil && st.Waiters == n
	}, 10*time.Second, 10*time.Millisecond, "waiting for %d waiters on %s", n, name)
}

func TestMutexFIFOHandOffAndFencing(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	holder := locks.NewMutex(newSession(t, c, 10), "L", locks.WithOwner([]byte("first")))
	require.NoError(t, holder.Lock(ctx))
	t0 := holder.Token()
	require.Greater(t, t0, int64(0))

	other := locks.NewMutex(newSession(t, c, 10), "L")
	err := other.TryLock(ctx)
	require.ErrorIs(t, err, coord.ErrLocked)
	require.Contains(t, err.Error(), "first")

	// Three waiters queue in a known order.
	type grant struct {
		who   int
		token int64
	}
	grants := make(chan grant, 3)
	ms := make([]*locks.Mutex, 3)
	for i := 0; i < 3; i++ {
		ms[i] = locks.NewMutex(newSession(t, tc.client(tc.endpoints()[i]), 10), "L")
		go func(i int) {
			if err := ms[i].Lock(ctx); err == nil {
				grants <- grant{i, ms[i].Token()}
			}
		}(i)
		waitWaiters(t, c, "L", int64(i+1))
	}
	st, err := locks.Status(ctx, c, "L")
	require.NoError(t, err)
	require.True(t, st.Held)
	require.Equal(t, "first", string(st.Owner))
	require.Equal(t, t0, st.Token)
	require.Greater(t, st.LeaseTTL, int64(0))

	// A fenced write with the holder's token passes; hand-offs go in
	// arrival order with increasing tokens, and the old token is refused.
	fenced := func(token int64) bool {
		r, err := c.Txn(ctx).If(locks.LockToken("L", token)).Then(coord.OpPut("{L}/data", fmt.Sprint(token))).Commit()
		require.NoError(t, err)
		return r.Succeeded
	}
	require.True(t, fenced(t0))
	require.NoError(t, holder.Unlock(ctx))
	last := t0
	for want := 0; want < 3; want++ {
		select {
		case g := <-grants:
			require.Equal(t, want, g.who, "FIFO order")
			require.Greater(t, g.token, last, "tokens strictly increase")
			require.False(t, fenced(last), "a stale token is refused")
			require.True(t, fenced(g.token))
			last = g.token
			require.NoError(t, ms[g.who].Unlock(ctx))
		case <-time.After(10 * time.Second):
			t.Fatalf("waiter %d not granted", want)
		}
	}
	st, err = locks.Status(ctx, c, "L")
	require.NoError(t, err)
	require.False(t, st.Held)
	require.Zero(t, st.Waiters)
}

func TestMutexCancelledWaiterAndExpiredHolder(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	hs, err := coord.NewSession(c, coord.WithTTL(2))
	require.NoError(t, err)
	holder := locks.NewMutex(hs, "M")
	require.NoError(t, holder.Lock(ctx))

	// A waiter that gives up leaves the queue and is never granted.
	wctx, cancel := context.WithCancel(ctx)
	quitter := locks.NewMutex(newSession(t, c, 10), "M")
	errc := make(chan error, 1)
	go func() { errc <- quitter.Lock(wctx) }()
	waitWaiters(t, c, "M", 1)
	cancel()
	require.ErrorIs(t, <-errc, coord.ErrCanceled)
	waitWaiters(t, c, "M", 0)

	// The holder crashes (its session stops renewing): the next waiter is
	// granted within the TTL and a tick or two.
	next := locks.NewMutex(newSession(t, c, 10), "M")
	got := make(chan error, 1)
	go func() { got <- next.Lock(ctx) }()
	waitWaiters(t, c, "M", 1)
	hs.Orphan()
	start := time.Now()
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("not granted after the holder's session expired")
	}
	t.Logf("granted %v after the holder stopped renewing (TTL 2s)", time.Since(start))
	require.Greater(t, next.Token(), holder.Token())
	require.Equal(t, quitter.Token(), int64(0))
}

// TestMutexWaiterSurvivesLeaderLoss stops the member leading the lock's
// shard while a waiter waits: the waiter is still granted, exactly once.
func TestMutexWaiterSurvivesLeaderLoss(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	leader := tc.leaderOfMost()
	var others []string
	for i, cfg := range tc.Configs() {
		if i != leader {
			others = append(others, cfg.ListenClient)
		}
	}
	c := tc.client(others...)
	holder := locks.NewMutex(newSession(t, c, 10), "F")
	require.NoError(t, holder.Lock(ctx))
	waiter := locks.NewMutex(newSession(t, c, 10), "F")
	got := make(chan error, 1)
	go func() { got <- waiter.Lock(ctx) }()
	waitWaiters(t, c, "F", 1)

	tc.stop(leader)
	require.NoError(t, holder.Unlock(ctx))
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("waiter not granted after a leader change")
	}
	st, err := locks.Status(ctx, c, "F")
	require.NoError(t, err)
	require.True(t, st.Held)
	require.Equal(t, waiter.Token(), st.Token)
	require.Zero(t, st.Waiters, "granted exactly once: no leftover waiter")
}

// TestMutexHistory runs many clients locking a few names under a seeded
// schedule. Each holder writes its token to a register fenced by the lock
// and records its hold; the history is checked for no two holders of one
// lock at once (their holds, in revisions, never overlap) and strictly
// increasing tokens per lock.
func TestMutexHistory(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	tc := newTestCluster(t, 3, 2)
	ctx := ctxT(t, 120*time.Second)
	names := []string{"a", "b", "c"}
	type hold struct {
		name            string
		token, released int64
	}
	var mu sync.Mutex
	var holds []hold
	clients, rounds := 8, 12
	if testing.Short() {
		clients, rounds = 6, 8
	}
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(w)))
			c := tc.client(tc.endpoints()[w%3])
			s := newSession(t, c, 10)
			for r := 0; r < rounds; r++ {
				name := names[rng.Intn(len(names))]
				m := locks.NewMutex(s, name)
				if !assertNoErr(t, m.Lock(ctx)) {
					return
				}
				tok := m.Token()
				resp, err := c.Txn(ctx).If(locks.LockToken(name, tok)).Then(coord.OpPut("{"+name+"}/reg", fmt.Sprint(tok))).Commit()
				if !assertNoErr(t, err) || !resp.Succeeded {
					t.Errorf("seed %d: fenced write by holder %s/%d refused", seed, name, tok)
					return
				}
				time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond)
				u, err := c.Txn(ctx).If(locks.LockToken(name, tok)).Then(coord.OpGet("{" + name + "}/reg")).Commit()
				if !assertNoErr(t, err) || !u.Succeeded {
					return
				}
				released := u.Header.Revision
				if !assertNoErr(t, m.Unlock(ctx)) {
					return
				}
				mu.Lock()
				holds = append(holds, hold{name, tok, released})
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	require.Len(t, holds, clients*rounds)
	byName := map[string][]hold{}
	for _, h := range holds {
		byName[h.name] = append(byName[h.name], h)
	}
	for name, hs := range byName {
		sort.Slice(hs, func(i, j int) bool { return hs[i].token < hs[j].token })
		for i := 1; i < len(hs); i++ {
			require.Greater(t, hs[i].token, hs[i-1].token, "seed %d: lock %s token reused", seed, name)
			require.Greater(t, hs[i].token, hs[i-1].released, "seed %d: lock %s granted at %d while held until %d", seed, name, hs[i].token, hs[i-1].released)
		}
	}
}

func TestElection(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	octx, stopObserving := context.WithCancel(ctx)
	defer stopObserving()
	obs := election.Observe(octx, c, "E")

	s1, err := coord.NewSession(c, coord.WithTTL(2))
	require.NoError(t, err)
	e1 := election.New(s1, "E")
	require.NoError(t, e1.Campaign(ctx, "one"))
	l, err := election.Leader(ctx, c, "E")
	require.NoError(t, err)
	require.Equal(t, "one", string(l.Value))
	require.Equal(t, e1.Term(), l.Term)

	e2 := election.New(newSession(t, c, 10), "E")
	led := make(chan error, 1)
	go func() { led <- e2.Campaign(ctx, "two") }()
	require.ErrorIs(t, e2.Proclaim(ctx, "x"), coord.ErrNotLeader)
	require.NoError(t, e1.Proclaim(ctx, "one-b"))

	// The leader's process dies: the next candidate leads within TTL + 1s.
	s1.Orphan()
	select {
	case err := <-led:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("second candidate did not lead")
	}
	require.Greater(t, e2.Term(), e1.Term())

	var seen []string
	var terms []int64
	deadline := time.After(10 * time.Second)
	for len(seen) < 3 {
		select {
		case o := <-obs:
			require.NoError(t, o.Err)
			if o.Leader == nil {
				continue
			}
			seen = append(seen, string(o.Leader.Value))
			terms = append(terms, o.Leader.Term)
		case <-deadline:
			t.Fatalf("observed only %v", seen)
		}
	}
	require.Equal(t, []string{"one", "one-b", "two"}, seen)
	require.Equal(t, terms[0], terms[1])
	require.Greater(t, terms[2], terms[1])

	l, err = election.Leader(ctx, c, "E") // the leader's lease proves the right to resign it
	require.NoError(t, err)
	require.NoError(t, election.ResignLeader(ctx, c, "E", l.Lease))
	_, err = election.Leader(ctx, c, "E")
	require.ErrorIs(t, err, coord.ErrNotFound)
}
