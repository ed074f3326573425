package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The etcd door's Lease service (etcd_lease.go) through clientv3.

// TestEtcdLease: grant, put with the lease, TimeToLive with keys, Leases,
// expiry deletes the key (a watch sees the DELETE), KeepAlive keeps a
// lease past its TTL, Revoke deletes its keys, and etcd's errors.
func TestEtcdLease(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	c := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	other := tc.etcdClient(clientv3.Config{}, tc.Member(2).EtcdAddr())
	ctx := ctxT(t, 90*time.Second)

	// Expiry: the key goes, a watch on another member sees it go.
	wch := other.Watch(ctx, "tmp", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, wch).Created)
	short, err := c.Grant(ctx, 1)
	require.NoError(t, err)
	require.NotZero(t, short.ID)
	require.GreaterOrEqual(t, short.TTL, int64(1))
	_, err = c.Put(ctx, "tmp", "v", clientv3.WithLease(short.ID))
	require.NoError(t, err)
	ttl, err := c.TimeToLive(ctx, short.ID, clientv3.WithAttachedKeys())
	require.NoError(t, err)
	require.Equal(t, short.TTL, ttl.GrantedTTL)
	require.LessOrEqual(t, ttl.TTL, short.TTL)
	require.Equal(t, [][]byte{[]byte("tmp")}, ttl.Keys)
	g, err := c.Get(ctx, "tmp")
	require.NoError(t, err)
	require.Equal(t, int64(short.ID), g.Kvs[0].Lease)
	evs := watchEvents(t, wch, 2)
	require.Equal(t, mvccpb.PUT, evs[0].Type)
	require.Equal(t, mvccpb.DELETE, evs[1].Type, "the lease expired")
	g, err = c.Get(ctx, "tmp")
	require.NoError(t, err)
	require.Empty(t, g.Kvs)
	ttl, err = c.TimeToLive(ctx, short.ID)
	require.NoError(t, err)
	require.EqualValues(t, -1, ttl.TTL)
	_, err = c.KeepAliveOnce(ctx, short.ID)
	require.Equal(t, rpctypes.ErrLeaseNotFound, err)
	_, err = c.Revoke(ctx, short.ID)
	require.Equal(t, rpctypes.ErrLeaseNotFound, err)

	// KeepAlive keeps a lease alive past its TTL.
	kept, err := c.Grant(ctx, 1)
	require.NoError(t, err)
	_, err = c.Put(ctx, "kept", "v", clientv3.WithLease(kept.ID))
	require.NoError(t, err)
	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	ka, err := c.KeepAlive(kctx, kept.ID)
	require.NoError(t, err)
	deadline := time.Now().Add(time.Duration(3*kept.TTL) * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		select {
		case r, ok := <-ka:
			require.True(t, ok, "keep-alive channel closed")
			require.Equal(t, kept.ID, r.ID)
			require.Equal(t, kept.TTL, r.TTL)
			n++
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	require.GreaterOrEqual(t, n, 2)
	g, err = c.Get(ctx, "kept")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1, "kept alive past its TTL")
	one, err := c.KeepAliveOnce(ctx, kept.ID)
	require.NoError(t, err)
	require.Equal(t, kept.TTL, one.TTL)

	// Leases lists it; Revoke deletes its keys.
	ls, err := c.Leases(ctx)
	require.NoError(t, err)
	var ids []clientv3.LeaseID
	for _, l := range ls.Leases {
		ids = append(ids, l.ID)
	}
	require.Contains(t, ids, kept.ID)
	require.NotContains(t, ids, short.ID)
	_, err = other.Revoke(ctx, kept.ID)
	require.NoError(t, err)
	g, err = c.Get(ctx, "kept")
	require.NoError(t, err)
	require.Empty(t, g.Kvs)

	// A put with a lease that is gone.
	_, err = c.Put(ctx, "k", "v", clientv3.WithLease(kept.ID))
	require.Equal(t, rpctypes.ErrLeaseNotFound, err)
}

// TestEtcdLeaseErrors: a grant that chooses the lease ID is refused with
// a clear error; too long a TTL is etcd's ErrLeaseTTLTooLarge.
func TestEtcdLeaseErrors(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1, func(c *Config) { c.MaxLeaseTTL = time.Hour })
	c := tc.etcdClient(clientv3.Config{})
	ctx := ctxT(t, 30*time.Second)
	_, err := pb.NewLeaseClient(c.ActiveConnection()).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 10, ID: 42})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "chosen ID")
	_, err = c.Grant(ctx, 7200)
	require.Equal(t, rpctypes.ErrLeaseTTLTooLarge, err)
}

// TestEtcdTutorial: the shape of etcd's client tutorials, unchanged —
// connect to every endpoint, Put/Get, Watch, Grant + Put with the lease
// + expiry, KeepAlive — against three members.
func TestEtcdTutorial(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	cli, err := clientv3.New(clientv3.Config{Endpoints: tc.EtcdEndpoints(), DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	_, err = cli.Put(ctx, "sample_key", "sample_value")
	require.NoError(t, err)
	resp, err := cli.Get(ctx, "sample_key")
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.Equal(t, "sample_key : sample_value", string(resp.Kvs[0].Key)+" : "+string(resp.Kvs[0].Value))

	rch := cli.Watch(context.Background(), "foo")
	go func() { _, _ = cli.Put(ctx, "foo", "bar") }()
	wresp := nextWatch(t, rch)
	require.Equal(t, `PUT "foo" : "bar"`, wresp.Events[0].Type.String()+" "+`"`+string(wresp.Events[0].Kv.Key)+`" : "`+string(wresp.Events[0].Kv.Value)+`"`)

	lease, err := cli.Grant(ctx, 2)
	require.NoError(t, err)
	_, err = cli.Put(ctx, "lease_key", "v", clientv3.WithLease(lease.ID))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		g, err := cli.Get(ctx, "lease_key")
		return err == nil && len(g.Kvs) == 0
	}, 20*time.Second, 50*time.Millisecond, "the key outlived its lease")

	kl, err := cli.Grant(ctx, 2)
	require.NoError(t, err)
	_, err = cli.Put(ctx, "alive_key", "v", clientv3.WithLease(kl.ID))
	require.NoError(t, err)
	ch, err := cli.KeepAlive(ctx, kl.ID)
	require.NoError(t, err)
	ka := <-ch
	require.NotNil(t, ka)
	require.Equal(t, kl.TTL, ka.TTL)
}
