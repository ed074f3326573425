package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The etcd door's Watch service (etcd_watch.go) through clientv3.

// nextWatch is the next response on wch, failing the test after 20 s.
func nextWatch(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-wch:
		require.True(t, ok, "watch channel closed")
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no watch response in 20 s")
	}
	return clientv3.WatchResponse{}
}

// watchEvents collects n events from wch (failing on an error).
func watchEvents(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	for len(evs) < n {
		r := nextWatch(t, wch)
		require.NoError(t, r.Err())
		evs = append(evs, r.Events...)
	}
	require.Len(t, evs, n)
	return evs
}

type evSummary struct {
	typ      mvccpb.Event_EventType
	key, val string
}

func summarize(evs []*clientv3.Event) []evSummary {
	var out []evSummary
	for _, e := range evs {
		out = append(out, evSummary{e.Type, string(e.Kv.Key), string(e.Kv.Value)})
	}
	return out
}

// TestEtcdWatch: put/delete events in order, a prefix watch, history
// from a start revision, prev_kv, filters, cancel, two watches on one
// stream, on a three-member cluster.
func TestEtcdWatch(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	c := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())
	w := tc.etcdClient(clientv3.Config{}, tc.Member(2).EtcdAddr())
	ctx := ctxT(t, 60*time.Second)

	// Two watches on one stream (clientv3 shares a stream per context).
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	wFoo := w.Watch(wctx, "foo", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, wFoo).Created)
	wPre := w.Watch(wctx, "p/", clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify())
	cr := nextWatch(t, wPre)
	require.True(t, cr.Created)

	p1, err := c.Put(ctx, "foo", "1")
	require.NoError(t, err)
	_, err = c.Put(ctx, "p/a", "a1")
	require.NoError(t, err)
	_, err = c.Put(ctx, "q", "not watched")
	require.NoError(t, err)
	_, err = c.Put(ctx, "foo", "2")
	require.NoError(t, err)
	_, err = c.Put(ctx, "p/a", "a2")
	require.NoError(t, err)
	_, err = c.Delete(ctx, "foo")
	require.NoError(t, err)
	_, err = c.Put(ctx, "p/b", "b1")
	require.NoError(t, err)

	require.Equal(t, []evSummary{{mvccpb.PUT, "foo", "1"}, {mvccpb.PUT, "foo", "2"}, {mvccpb.DELETE, "foo", ""}},
		summarize(watchEvents(t, wFoo, 3)))
	pe := watchEvents(t, wPre, 3)
	require.Equal(t, []evSummary{{mvccpb.PUT, "p/a", "a1"}, {mvccpb.PUT, "p/a", "a2"}, {mvccpb.PUT, "p/b", "b1"}}, summarize(pe))
	require.Nil(t, pe[0].PrevKv)
	require.Equal(t, "a1", string(pe[1].PrevKv.Value), "prev_kv")
	require.True(t, pe[0].IsCreate())
	require.True(t, pe[1].IsModify())
	require.EqualValues(t, 2, pe[1].Kv.Version)

	// History from a start revision: every change since, then live.
	hist := w.Watch(ctx, "", clientv3.WithFromKey(), clientv3.WithRev(p1.Header.Revision))
	he := watchEvents(t, hist, 7)
	require.Equal(t, "foo", string(he[0].Kv.Key))
	require.Equal(t, p1.Header.Revision, he[0].Kv.ModRevision)
	require.Equal(t, evSummary{mvccpb.PUT, "p/b", "b1"}, summarize(he[6:])[0])
	for i := 1; i < len(he); i++ {
		require.Greater(t, he[i].Kv.ModRevision, he[i-1].Kv.ModRevision)
	}
	_, err = c.Put(ctx, "z", "live")
	require.NoError(t, err)
	require.Equal(t, "z", string(watchEvents(t, hist, 1)[0].Kv.Key))

	// Filters: no puts.
	dels := w.Watch(ctx, "p/", clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithRev(p1.Header.Revision))
	_, err = c.Delete(ctx, "p/", clientv3.WithPrefix())
	require.NoError(t, err)
	de := watchEvents(t, dels, 2)
	require.Equal(t, []evSummary{{mvccpb.DELETE, "p/a", ""}, {mvccpb.DELETE, "p/b", ""}}, summarize(de))

	// Cancel: the channel closes, the other watch goes on.
	wcancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-wFoo:
			return !ok
		default:
			return false
		}
	}, 20*time.Second, 5*time.Millisecond)
	_, err = c.Put(ctx, "z", "again")
	require.NoError(t, err)
	// hist saw the two deletes, then this.
	require.Equal(t, []evSummary{{mvccpb.DELETE, "p/a", ""}, {mvccpb.DELETE, "p/b", ""}, {mvccpb.PUT, "z", "again"}},
		summarize(watchEvents(t, hist, 3)))
}

// TestEtcdWatchCompacted: a watch from a compacted revision ends with
// ErrCompacted and the compact revision, as etcd's.
func TestEtcdWatchCompacted(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	c := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	ctx := ctxT(t, 60*time.Second)
	first, err := c.Put(ctx, "k", "1")
	require.NoError(t, err)
	var last int64
	for i := 0; i < 3; i++ {
		p, err := c.Put(ctx, "k", "v")
		require.NoError(t, err)
		last = p.Header.Revision
	}
	_, err = c.Compact(ctx, last)
	require.NoError(t, err)
	r := nextWatch(t, c.Watch(ctx, "k", clientv3.WithRev(first.Header.Revision)))
	require.Equal(t, rpctypes.ErrCompacted, r.Err())
	require.True(t, r.Canceled)
	require.Equal(t, last, r.CompactRevision)

	// From after the compact revision it works.
	p, err := c.Put(ctx, "k", "after")
	require.NoError(t, err)
	r = nextWatch(t, c.Watch(ctx, "k", clientv3.WithRev(last+1)))
	require.NoError(t, r.Err())
	require.Equal(t, p.Header.Revision, r.Events[0].Kv.ModRevision)
}

// TestEtcdWatchProgress: a progress request is answered with a revision
// every event up to which has been sent; progress_notify sends one to an
// idle watch.
func TestEtcdWatchProgress(t *testing.T) {
	old := etcdProgressInterval
	etcdProgressInterval = 50 * time.Millisecond
	t.Cleanup(func() { etcdProgressInterval = old })
	tc := newEtcdCluster(t, 3, 1)
	c := tc.etcdClient(clientv3.Config{}, tc.Member(0).EtcdAddr())
	ctx := ctxT(t, 60*time.Second)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := c.Watch(wctx, "a", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, wch).Created)
	_, err := c.Put(ctx, "a", "1")
	require.NoError(t, err)
	p, err := c.Put(ctx, "b", "not watched")
	require.NoError(t, err)
	require.Len(t, watchEvents(t, wch, 1), 1)
	require.NoError(t, c.RequestProgress(wctx))
	r := nextWatch(t, wch)
	require.True(t, r.IsProgressNotify(), "%+v", r)
	require.GreaterOrEqual(t, r.Header.Revision, p.Header.Revision)

	pch := c.Watch(ctx, "idle", clientv3.WithProgressNotify())
	r = nextWatch(t, pch)
	require.True(t, r.IsProgressNotify(), "%+v", r)
	require.GreaterOrEqual(t, r.Header.Revision, p.Header.Revision)
}

// TestEtcdWatchAuth: with auth on, a watch on a range the user may not
// read fails with ErrPermissionDenied; an allowed one works.
func TestEtcdWatchAuth(t *testing.T) {
	tc := newAuthCluster(t, 3, func(c *Config) { c.ListenEtcd = "127.0.0.1:0" })
	setupAuth(t, tc)
	ctx := ctxT(t, 60*time.Second)
	c := tc.etcdClient(clientv3.Config{Username: "alice", Password: "pw"}, tc.Member(1).EtcdAddr())
	r := nextWatch(t, c.Watch(ctx, "/other"))
	require.Equal(t, rpctypes.ErrPermissionDenied, r.Err())

	ok := c.Watch(ctx, "/app/", clientv3.WithPrefix())
	_, err := c.Put(ctx, "/app/x", "1")
	require.NoError(t, err)
	require.Equal(t, "/app/x", string(watchEvents(t, ok, 1)[0].Kv.Key))
}

// TestEtcdWatchShards: with several shards a watch from a revision over
// keys of several shards is refused with the hash-tag rule; within a
// shard and without a revision it works.
func TestEtcdWatchShards(t *testing.T) {
	tc := newEtcdCluster(t, 1, 4)
	c := tc.etcdClient(clientv3.Config{})
	ctx := ctxT(t, 30*time.Second)
	p, err := c.Put(ctx, "{u}/a", "1")
	require.NoError(t, err)
	r := nextWatch(t, c.Watch(ctx, "", clientv3.WithFromKey(), clientv3.WithRev(1)))
	require.Error(t, r.Err())
	require.Contains(t, r.Err().Error(), "hash tag")

	tagged := c.Watch(ctx, "{u}/", clientv3.WithPrefix(), clientv3.WithRev(p.Header.Revision))
	require.Equal(t, "{u}/a", string(watchEvents(t, tagged, 1)[0].Kv.Key))
	all := c.Watch(ctx, "", clientv3.WithFromKey(), clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, all).Created)
	for _, k := range []string{"x", "y", "z"} {
		_, err := c.Put(ctx, k, "v")
		require.NoError(t, err)
	}
	got := map[string]bool{}
	for _, e := range watchEvents(t, all, 3) {
		got[string(e.Kv.Key)] = true
	}
	require.Equal(t, map[string]bool{"x": true, "y": true, "z": true}, got)
}

// TestEtcdWatchLimit: the per-connection watch limit counts each watch
// of an etcd stream; a watch over it is refused, and one that ends frees
// its place.
func TestEtcdWatchLimit(t *testing.T) {
	tc := newEtcdCluster(t, 1, 1, func(c *Config) { c.MaxWatchesPerConn = 2 })
	c := tc.etcdClient(clientv3.Config{})
	ctx := ctxT(t, 30*time.Second)
	actx, acancel := context.WithCancel(ctx)
	a := c.Watch(actx, "a", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, a).Created)
	b := c.Watch(ctx, "b", clientv3.WithCreatedNotify())
	require.True(t, nextWatch(t, b).Created)
	r := nextWatch(t, c.Watch(ctx, "c", clientv3.WithCreatedNotify()))
	require.Error(t, r.Err())
	require.Contains(t, r.Err().Error(), "too many watches")

	acancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-a:
			return !ok
		default:
			return false
		}
	}, 20*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := nextWatch(t, c.Watch(wctx, "c", clientv3.WithCreatedNotify()))
		return r.Created && r.Err() == nil
	}, 20*time.Second, 10*time.Millisecond)
}
