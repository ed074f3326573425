package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
)

// etcd's v3lock and v3election services (etcd_lock.go) through etcd's
// own generated clients, on a three-member cluster. Leases are granted
// through the native client (the etcd Lease service is its own slice).

// etcdLease grants a lease of ttl seconds through the native client.
func (tc *testCluster) etcdLease(ctx context.Context, ttl int64) int64 {
	tc.t.Helper()
	g, err := tc.client().Grant(ctx, ttl)
	require.NoError(tc.t, err)
	return g.ID
}

// lockWaiters is the number of waiters of lock name, read through the
// core of member 0.
func (tc *testCluster) lockWaiters(ctx context.Context, name string) int64 {
	tc.t.Helper()
	st, err := locks.Status(ctx, tc.client(), name)
	require.NoError(tc.t, err)
	return st.Waiters
}

// TestEtcdLock: Lock/Unlock hand-off in FIFO order between two clients
// on two members; the key Lock answers exists while held and is gone
// after Unlock; a name with '/' works, one with '{' is InvalidArgument.
func TestEtcdLock(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	c1 := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	c2 := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())
	l1, l2 := v3lockpb.NewLockClient(c1.ActiveConnection()), v3lockpb.NewLockClient(c2.ActiveConnection())
	lease1, lease2 := tc.etcdLease(ctx, 60), tc.etcdLease(ctx, 60)

	name := []byte("/my-lock/")
	r1, err := l1.Lock(ctx, &v3lockpb.LockRequest{Name: name, Lease: lease1})
	require.NoError(t, err)
	require.NotEmpty(t, r1.Key)
	require.Equal(t, tc.Member(0).ClusterID(), r1.Header.ClusterId)
	require.Positive(t, r1.Header.Revision)

	// The key exists, attached to the lease, while held.
	g, err := c2.Get(ctx, string(r1.Key))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	require.Equal(t, lease1, g.Kvs[0].Lease)

	// A second client waits; it gets the lock once the first unlocks.
	type result struct {
		r   *v3lockpb.LockResponse
		err error
	}
	got := make(chan result, 1)
	go func() {
		r, err := l2.Lock(ctx, &v3lockpb.LockRequest{Name: name, Lease: lease2})
		got <- result{r, err}
	}()
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, string(name)) == 1 }, 20*time.Second, 10*time.Millisecond)
	select {
	case r := <-got:
		t.Fatalf("second Lock returned while the lock is held: %v %v", r.r, r.err)
	default:
	}
	u, err := l1.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r1.Key})
	require.NoError(t, err)
	require.Greater(t, u.Header.Revision, r1.Header.Revision)
	r2 := <-got
	require.NoError(t, r2.err)
	require.NotEqual(t, r1.Key, r2.r.Key)
	g, err = c1.Get(ctx, string(r1.Key))
	require.NoError(t, err)
	require.Empty(t, g.Kvs, "the first owner's key is gone after Unlock")
	g, err = c1.Get(ctx, string(r2.r.Key))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)

	// Unlocking a key that is gone succeeds, as etcd's delete does.
	_, err = l1.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r1.Key})
	require.NoError(t, err)
	_, err = l2.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r2.r.Key})
	require.NoError(t, err)
	g, err = c1.Get(ctx, string(r2.r.Key))
	require.NoError(t, err)
	require.Empty(t, g.Kvs)

	// Errors.
	_, err = l1.Unlock(ctx, &v3lockpb.UnlockRequest{Key: []byte("foo")})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	_, err = l1.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("a{b}"), Lease: lease1})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
}

// TestEtcdLockCancel: a Lock cancelled while it waits leaves no waiter,
// and the lock goes to the next one.
func TestEtcdLockCancel(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	c1 := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	c2 := tc.etcdClient(clientv3.Config{}, tc.Member(2).EtcdAddr())
	l1, l2 := v3lockpb.NewLockClient(c1.ActiveConnection()), v3lockpb.NewLockClient(c2.ActiveConnection())
	lease1, lease2 := tc.etcdLease(ctx, 60), tc.etcdLease(ctx, 60)

	r1, err := l1.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("c"), Lease: lease1})
	require.NoError(t, err)

	// Cancelled by the client.
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := l2.Lock(wctx, &v3lockpb.LockRequest{Name: []byte("c"), Lease: lease2})
		done <- err
	}()
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, "c") == 1 }, 20*time.Second, 10*time.Millisecond)
	cancel()
	require.Equal(t, codes.Canceled, status.Code(<-done))
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, "c") == 0 }, 20*time.Second, 10*time.Millisecond)

	// Cut off by its deadline, while it waits (a deadline that passes
	// before the waiter is even queued — 300 ms did under -race on two
	// cores — answers etcd's "request timed out", as etcd's proposals).
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	defer dcancel()
	_, err = l2.Lock(dctx, &v3lockpb.LockRequest{Name: []byte("c"), Lease: lease2})
	require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, "c") == 0 }, 20*time.Second, 10*time.Millisecond)

	// Its connection closed: an etcd client cannot resume, so the waiter
	// goes too.
	c3 := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())
	go func() {
		_, err := v3lockpb.NewLockClient(c3.ActiveConnection()).Lock(ctx, &v3lockpb.LockRequest{Name: []byte("c"), Lease: lease2})
		done <- err
	}()
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, "c") == 1 }, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, c3.Close())
	<-done
	require.Eventually(t, func() bool { return tc.lockWaiters(ctx, "c") == 0 }, 20*time.Second, 10*time.Millisecond)

	// The lock is still the first owner's, and free after it unlocks.
	_, err = l1.Unlock(ctx, &v3lockpb.UnlockRequest{Key: r1.Key})
	require.NoError(t, err)
	r, err := l2.Lock(ctx, &v3lockpb.LockRequest{Name: []byte("c"), Lease: lease2})
	require.NoError(t, err)
	require.NotEmpty(t, r.Key)
}

// TestEtcdElection: Campaign, Leader, Proclaim, Observe and Resign; a
// second candidate leads once the first resigns; a cancelled Campaign
// leaves no candidate.
func TestEtcdElection(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	c1 := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	c2 := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())
	e1, e2 := v3electionpb.NewElectionClient(c1.ActiveConnection()), v3electionpb.NewElectionClient(c2.ActiveConnection())
	lease1, lease2 := tc.etcdLease(ctx, 60), tc.etcdLease(ctx, 60)
	name := []byte("svc/leader")

	_, err := e1.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	require.Error(t, err)
	require.Contains(t, err.Error(), "election: no leader")

	// Observe before anyone leads: nothing until the first leader.
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs, err := e2.Observe(octx, &v3electionpb.LeaderRequest{Name: name})
	require.NoError(t, err)

	c, err := e1.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: lease1, Value: []byte("a")})
	require.NoError(t, err)
	lk := c.Leader
	require.Equal(t, name, lk.Name)
	require.Equal(t, lease1, lk.Lease)
	require.Positive(t, lk.Rev)
	require.NotEmpty(t, lk.Key)
	g, err := c2.Get(ctx, string(lk.Key))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1, "the leader key exists while it leads")

	o, err := obs.Recv()
	require.NoError(t, err)
	require.Equal(t, "a", string(o.Kv.Value))
	require.Equal(t, lk.Key, o.Kv.Key)

	l, err := e2.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	require.NoError(t, err)
	require.Equal(t, lk.Key, l.Kv.Key)
	require.Equal(t, "a", string(l.Kv.Value))
	require.Equal(t, lk.Rev, l.Kv.CreateRevision)
	require.Equal(t, lease1, l.Kv.Lease)

	_, err = e1.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: lk, Value: []byte("b")})
	require.NoError(t, err)
	o, err = obs.Recv()
	require.NoError(t, err)
	require.Equal(t, "b", string(o.Kv.Value))

	// A second candidate waits; a cancelled third leaves no candidate.
	wctx, wcancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() {
		_, err := e1.Campaign(wctx, &v3electionpb.CampaignRequest{Name: name, Lease: lease1, Value: []byte("x")})
		cancelled <- err
	}()
	type result struct {
		r   *v3electionpb.CampaignResponse
		err error
	}
	got := make(chan result, 1)
	go func() {
		r, err := e2.Campaign(ctx, &v3electionpb.CampaignRequest{Name: name, Lease: lease2, Value: []byte("c")})
		got <- result{r, err}
	}()
	prefix := election.Root + "{" + string(name) + "}/o/"
	candidates := func() int64 {
		g, err := c1.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		require.NoError(t, err)
		return g.Count
	}
	require.Eventually(t, func() bool { return candidates() == 3 }, 20*time.Second, 10*time.Millisecond)
	wcancel()
	require.Equal(t, codes.Canceled, status.Code(<-cancelled))
	require.Eventually(t, func() bool { return candidates() == 2 }, 20*time.Second, 10*time.Millisecond)

	// A proclaim by a key that does not lead is etcd's error.
	_, err = e2.Proclaim(ctx, &v3electionpb.ProclaimRequest{Leader: &v3electionpb.LeaderKey{Name: name, Key: []byte(prefix + "xxxxxxxx"), Lease: lease2}, Value: []byte("no")})
	require.Error(t, err)
	require.Contains(t, err.Error(), "election: not leader")

	_, err = e1.Resign(ctx, &v3electionpb.ResignRequest{Leader: lk})
	require.NoError(t, err)
	r := <-got
	require.NoError(t, r.err)
	require.Greater(t, r.r.Leader.Rev, lk.Rev)
	o, err = obs.Recv()
	require.NoError(t, err)
	require.Equal(t, "c", string(o.Kv.Value))
	require.Equal(t, r.r.Leader.Key, o.Kv.Key)
	g, err = c2.Get(ctx, string(lk.Key))
	require.NoError(t, err)
	require.Empty(t, g.Kvs, "the resigned leader's key is gone")

	_, err = e2.Resign(ctx, &v3electionpb.ResignRequest{Leader: r.r.Leader})
	require.NoError(t, err)
	_, err = e2.Leader(ctx, &v3electionpb.LeaderRequest{Name: name})
	require.ErrorContains(t, err, "election: no leader")
}
