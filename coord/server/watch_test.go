package server

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// collect reads events from wc until n have arrived or the deadline passes.
func collect(t *testing.T, wc coord.WatchChan, n int, within time.Duration) []*coord.Event {
	t.Helper()
	var evs []*coord.Event
	deadline := time.After(within)
	for len(evs) < n {
		select {
		case wr, ok := <-wc:
			require.True(t, ok, "watch closed early after %d events", len(evs))
			require.NoError(t, wr.Err())
			evs = append(evs, wr.Events...)
		case <-deadline:
			t.Fatalf("got %d of %d events", len(evs), n)
		}
	}
	return evs
}

func waitCreated(t *testing.T, wc coord.WatchChan) coord.WatchResponse {
	t.Helper()
	select {
	case wr := <-wc:
		require.True(t, wr.Created, "first response must be Created")
		return wr
	case <-time.After(10 * time.Second):
		t.Fatal("watch not created")
	}
	return coord.WatchResponse{}
}

func TestWatchEveryEventInOrderOnce(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	w := tc.client(tc.Config(1).ListenClient)
	wc := w.Watch(ctx, "/cfg/", coord.WithPrefix(), coord.WithPrevKV())
	waitCreated(t, wc)

	c := tc.client()
	const n = 1000
	var want []string
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("/cfg/%d", i%50)
		if i%5 == 4 {
			k = fmt.Sprintf("/cfg/%d", (i-1)%50) // put just before: it exists
			_, err := c.Delete(ctx, k)
			require.NoError(t, err)
			want = append(want, "DELETE "+k)
		} else {
			_, err := c.Put(ctx, k, fmt.Sprint(i))
			require.NoError(t, err)
			want = append(want, "PUT "+k)
		}
		_, err := c.Put(ctx, "/other/x", "noise")
		require.NoError(t, err)
	}
	evs := collect(t, wc, len(want), 30*time.Second)
	var got []string
	last := int64(0)
	for _, e := range evs {
		if e.Type == wire.EventPut {
			got = append(got, "PUT "+string(e.Kv.Key))
		} else {
			got = append(got, "DELETE "+string(e.Kv.Key))
		}
		require.Greater(t, e.Kv.ModRevision, last, "revision order")
		last = e.Kv.ModRevision
	}
	require.Equal(t, want, got)
	// The delete event carries the previous value.
	require.NotNil(t, evs[4].PrevKv)
	require.Equal(t, "3", string(evs[4].PrevKv.Value))
	select {
	case wr := <-wc:
		t.Fatalf("unexpected extra events: %v", wr.Events)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestWatchHistoryAndCompaction(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	var revs []int64
	for i := 0; i < 10; i++ {
		p, err := c.Put(ctx, "h", fmt.Sprint(i))
		require.NoError(t, err)
		revs = append(revs, p.Header.Revision)
	}
	// From an old revision: history, then live, no gap, no duplicate.
	wctx, cancel := context.WithCancel(ctx)
	wc := c.Watch(wctx, "h", coord.WithRev(revs[3]))
	waitCreated(t, wc)
	evs := collect(t, wc, 7, 10*time.Second)
	for i, e := range evs {
		require.Equal(t, fmt.Sprint(i+3), string(e.Kv.Value))
	}
	_, err := c.Put(ctx, "h", "live")
	require.NoError(t, err)
	evs = collect(t, wc, 1, 10*time.Second)
	require.Equal(t, "live", string(evs[0].Kv.Value))
	cancel()

	// Filters.
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	wc = c.Watch(fctx, "h", coord.WithRev(revs[0]), coord.WithFilterPut())
	waitCreated(t, wc)
	_, err = c.Delete(ctx, "h")
	require.NoError(t, err)
	evs = collect(t, wc, 1, 10*time.Second)
	require.Equal(t, wire.EventDelete, evs[0].Type)

	// Below the compacted revision: an error naming the compact revision.
	_, err = c.Compact(ctx, revs[5])
	require.NoError(t, err)
	wc = c.Watch(ctx, "h", coord.WithRev(revs[2]))
	waitCreated(t, wc)
	select {
	case wr := <-wc:
		require.True(t, wr.Canceled)
		require.ErrorIs(t, wr.Err(), coord.ErrCompacted)
		require.Equal(t, revs[5], wr.CompactRevision)
		require.Contains(t, wr.Err().Error(), fmt.Sprint(revs[5]))
	case <-time.After(10 * time.Second):
		t.Fatal("no cancellation")
	}
}

// TestSlowWatcherDoesNotStall opens a watch on a raw connection that never
// reads, then checks that puts and a normal watcher go on unaffected.
func TestSlowWatcherDoesNotStall(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 60*time.Second)
	c := tc.client()

	nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
	require.NoError(t, err)
	defer nc.Close()
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 9})
	require.Nil(t, rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello}).Err)
	body, _ := wire.Marshal(&wire.WatchRequest{Key: []byte("s/"), RangeEnd: wire.PrefixEnd([]byte("s/")), PrevKV: true})
	b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodWatch, Body: body})
	_, err = nc.Write(b)
	require.NoError(t, err)
	// From here on the raw connection is never read.

	wc := c.Watch(ctx, "s/", coord.WithPrefix())
	waitCreated(t, wc)
	big := string(make([]byte, 8<<10))
	const n = 1500
	var wg sync.WaitGroup
	wg.Add(1)
	var got int
	go func() {
		defer wg.Done()
		got = len(collect(t, wc, n, 50*time.Second))
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.Put(pctx, fmt.Sprintf("s/%d", i), big)
		cancel()
		require.NoError(t, err, "put %d stalled behind a watcher that does not read", i)
	}
	t.Logf("%d puts of 8 KiB with a stuck watcher took %v", n, time.Since(start))
	wg.Wait()
	require.Equal(t, n, got)
}

func TestWatchAcrossShardsAndResume(t *testing.T) {
	tc := newTestCluster(t, 3, 4)
	ctx := ctxT(t, 60*time.Second)
	// The watcher prefers n1; the writer n2 and n3.
	w := tc.client(tc.Config(0).ListenClient, tc.Config(1).ListenClient, tc.Config(2).ListenClient)
	wc := w.Watch(ctx, "/x/", coord.WithPrefix())
	created := waitCreated(t, wc)
	require.Equal(t, wire.AllShards, created.Header.Shard)
	require.Len(t, created.Header.Revisions, 4)

	c := tc.client(tc.Config(1).ListenClient, tc.Config(2).ListenClient)
	seen := map[string]int{}
	shards := map[uint32]bool{}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			_, err := c.Put(ctx, fmt.Sprintf("/x/%d", i), "v")
			require.NoError(t, err)
		}
	}
	put(0, 40)
	for _, e := range collect(t, wc, 40, 10*time.Second) {
		seen[string(e.Kv.Key)]++
		shards[e.Shard] = true
	}
	require.Len(t, shards, 4, "events come from every shard")

	// The watcher's member stops; the watch resumes on another member with
	// nothing lost and nothing repeated.
	tc.stop(0)
	put(40, 80)
	for _, e := range collect(t, wc, 40, 20*time.Second) {
		seen[string(e.Kv.Key)]++
	}
	require.Len(t, seen, 80)
	for k, n := range seen {
		require.Equal(t, 1, n, "key %s delivered %d times", k, n)
	}
}

func TestAutoCompaction(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	tc.stopAll()
	tc.start(0, func(cfg *Config) { cfg.AutoCompactionRetention = 300 * time.Millisecond })
	tc.waitReady()
	// A fresh shard (at revision 1, nothing below it) is not compacted at
	// 1: that would drop nothing, and refuse watches from revision 1.
	require.Never(t, func() bool {
		_, compacted := tc.Member(0).shards[0].Revision()
		return compacted != 0
	}, time.Second, 20*time.Millisecond)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	first, err := c.Put(ctx, "ac", "0")
	require.NoError(t, err)
	// Keep writing; the history older than the retention goes.
	require.Eventually(t, func() bool {
		if _, err := c.Put(ctx, "ac", "x"); err != nil {
			return false
		}
		_, compacted := tc.Member(0).shards[0].Revision()
		return compacted > first.Header.Revision
	}, 10*time.Second, 20*time.Millisecond)
	_, err = c.Get(ctx, "ac", coord.WithRev(first.Header.Revision))
	require.ErrorIs(t, err, coord.ErrCompacted)
	g, err := c.Get(ctx, "ac")
	require.NoError(t, err)
	require.Equal(t, "x", string(g.Kvs[0].Value))
}
