package server

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// The scenario of issue 11 item 6: 24 values of 512 KiB under one prefix
// (12 MiB, more than any one frame a client reads).
const (
	bigValues = 24
	bigSize   = 512 << 10
)

func bigKey(i int) string { return fmt.Sprintf("big/%02d", i) }

// bigValue is value i, recognisable by its first and last bytes.
func bigValue(i int) string {
	v := bytes.Repeat([]byte{byte('a' + i%26)}, bigSize)
	copy(v, fmt.Sprintf("v%02d:", i))
	return string(v)
}

// putBig writes the 24 values.
func putBig(t *testing.T, c *coord.Client) {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < bigValues; i++ {
		_, err := c.Put(ctx, bigKey(i), bigValue(i))
		require.NoError(t, err)
	}
}

func requireBig(t *testing.T, kvs []*coord.KeyValue, n int, keysOnly bool) {
	t.Helper()
	require.Len(t, kvs, n)
	for i, kv := range kvs {
		require.Equal(t, bigKey(i), string(kv.Key))
		if keysOnly {
			require.Empty(t, kv.Value)
		} else {
			require.True(t, string(kv.Value) == bigValue(i), "value of %s differs", kv.Key)
		}
	}
}

// TestGetPagesLargeRange: a Get over more bytes than one response may
// carry (here over four shards) returns everything, with --limit,
// --count-only and --keys-only honoured; the member keeps serving.
func TestGetPagesLargeRange(t *testing.T) {
	tc := newTestCluster(t, 1, 4)
	c := tc.client()
	putBig(t, c)
	// A second client shows the member serves others meanwhile.
	other := tc.client()

	ctx := ctxT(t, 15*time.Second)
	g, err := c.Get(ctx, "big/", coord.WithPrefix())
	require.NoError(t, err)
	requireBig(t, g.Kvs, bigValues, false)
	require.EqualValues(t, bigValues, g.Count)
	require.False(t, g.More)

	_, err = other.Put(ctx, "small", "x")
	require.NoError(t, err)

	g, err = c.Get(ctx, "big/", coord.WithPrefix(), coord.WithLimit(10))
	require.NoError(t, err)
	requireBig(t, g.Kvs, 10, false)
	require.EqualValues(t, bigValues, g.Count)
	require.True(t, g.More)

	g, err = c.Get(ctx, "big/", coord.WithPrefix(), coord.WithCountOnly())
	require.NoError(t, err)
	require.Empty(t, g.Kvs)
	require.EqualValues(t, bigValues, g.Count)

	g, err = c.Get(ctx, "big/", coord.WithPrefix(), coord.WithKeysOnly())
	require.NoError(t, err)
	requireBig(t, g.Kvs, bigValues, true)

	r, err := other.Get(ctx, "small")
	require.NoError(t, err)
	require.Len(t, r.Kvs, 1)

	// A client that does not follow pages (MaxBytes 0) gets the whole
	// range or an error, never a cut result.
	_, werr := tc.Member(0).rangeKeys(ctx, nil, &wire.RangeRequest{Key: []byte("big/"), RangeEnd: []byte("big0")})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeTooLarge, werr.Code)
	whole, werr := tc.Member(0).rangeKeys(ctx, nil, &wire.RangeRequest{Key: []byte("big/1"), RangeEnd: []byte("big/2")})
	require.Nil(t, werr)
	require.Len(t, whole.Kvs, 10)
	require.False(t, whole.More)
}

// TestWatchLargeHistory: a watch from revision 1 over more history than
// one message may carry delivers every event, then goes on live; one
// revision larger than a message (a delete of ten big keys, with their
// previous values) arrives whole, in one response.
func TestWatchLargeHistory(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	putBig(t, c)
	ctx := ctxT(t, 30*time.Second)

	// The history comes from the store, not from the recent events the
	// member keeps in memory.
	tc.Member(0).hub.restored(0)
	wc := c.Watch(ctx, "big/", coord.WithPrefix(), coord.WithRev(1), coord.WithPrevKV())
	waitCreated(t, wc)
	evs := collect(t, wc, bigValues, 15*time.Second)
	require.Len(t, evs, bigValues)
	for i, e := range evs {
		require.Equal(t, wire.EventPut, e.Type)
		require.Equal(t, bigKey(i), string(e.Kv.Key))
		require.True(t, string(e.Kv.Value) == bigValue(i))
	}

	d, err := c.Delete(ctx, "big/0", coord.WithPrefix())
	require.NoError(t, err)
	require.EqualValues(t, 10, d.Deleted)
	select {
	case wr, ok := <-wc:
		require.True(t, ok)
		require.NoError(t, wr.Err())
		require.Len(t, wr.Events, 10, "one revision arrives in one response")
		for i, e := range wr.Events {
			require.Equal(t, wire.EventDelete, e.Type)
			require.Equal(t, d.Header.Revision, e.Kv.ModRevision)
			require.True(t, string(e.PrevKv.Value) == bigValue(i))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no delete events")
	}

	// The member keeps serving.
	_, err = c.Put(ctx, "small", "x")
	require.NoError(t, err)
}

// TestTxnRangeTooLarge: a transaction's range results are stored for
// exactly-once and sent in one response, so they are bounded: over the
// bound the txn fails with ErrTooLarge (and writes nothing), at once.
func TestTxnRangeTooLarge(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	putBig(t, c)
	ctx := ctxT(t, 15*time.Second)

	_, err := c.Txn(ctx).Then(coord.OpGet("big/", coord.WithPrefix())).Commit()
	require.True(t, errors.Is(err, coord.ErrTooLarge), "err = %v", err)

	// A range after a write of the same txn: refused before the write.
	_, err = c.Txn(ctx).Then(coord.OpPut("big/zz", "x"), coord.OpGet("big/", coord.WithPrefix())).Commit()
	require.True(t, errors.Is(err, coord.ErrTooLarge), "err = %v", err)
	g, err := c.Get(ctx, "big/zz")
	require.NoError(t, err)
	require.Empty(t, g.Kvs, "a refused txn writes nothing")

	// Within the bound it runs.
	r, err := c.Txn(ctx).Then(coord.OpGet("big/", coord.WithPrefix(), coord.WithLimit(2))).Commit()
	require.NoError(t, err)
	require.Len(t, r.Responses[0].Range.Kvs, 2)
	r, err = c.Txn(ctx).Then(coord.OpGet("big/", coord.WithPrefix(), coord.WithCountOnly())).Commit()
	require.NoError(t, err)
	require.EqualValues(t, bigValues, r.Responses[0].Range.Count)
}

// startLimitedMember starts a one-member cluster of shards shards whose
// response limits are set by mutate.
func startLimitedMember(t *testing.T, shards int, mutate func(*Config)) *Server {
	t.Helper()
	return startMember(t, func(cfg *Config) {
		cfg.Shards = shards
		mutate(cfg)
	})
}

func memberClient(t *testing.T, s *Server) *coord.Client {
	t.Helper()
	c, err := coord.New(coord.Config{Endpoints: []string{s.ClientAddr()}, DialTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRangePagesMergeShards: with pages of a few KiB, ranges over four
// shards come back whole and in order through many pages, with Limit and
// KeysOnly; a page's continuation reads the first page's revisions, and
// fails with CodeCompacted once a compaction passed them.
func TestRangePagesMergeShards(t *testing.T) {
	s := startLimitedMember(t, 4, func(c *Config) { c.MaxResponseBytes = minResponseBytes })
	c := memberClient(t, s)
	ctx := ctxT(t, 60*time.Second)
	const n = 120
	key := func(i int) string { return fmt.Sprintf("p/%03d", i) }
	val := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), 50+(i*37)%1500) }
	for i := 0; i < n; i++ {
		_, err := c.Put(ctx, key(i), val(i))
		require.NoError(t, err)
	}
	check := func(kvs []*coord.KeyValue, from, to int, keysOnly bool) {
		t.Helper()
		require.Len(t, kvs, to-from)
		for i, kv := range kvs {
			require.Equal(t, key(from+i), string(kv.Key))
			if keysOnly {
				require.Empty(t, kv.Value)
			} else {
				require.Equal(t, val(from+i), string(kv.Value))
			}
		}
	}
	g, err := c.Get(ctx, "p/", coord.WithPrefix())
	require.NoError(t, err)
	check(g.Kvs, 0, n, false)
	require.EqualValues(t, n, g.Count)
	require.False(t, g.More)
	require.Equal(t, wire.AllShards, g.Header.Shard)
	require.Len(t, g.Header.Revisions, 4)

	g, err = c.Get(ctx, "p/", coord.WithPrefix(), coord.WithLimit(77))
	require.NoError(t, err)
	check(g.Kvs, 0, 77, false)
	require.True(t, g.More)

	g, err = c.Get(ctx, "p/", coord.WithPrefix(), coord.WithKeysOnly())
	require.NoError(t, err)
	check(g.Kvs, 0, n, true)

	g, err = c.Get(ctx, key(30), coord.WithRange(key(90)))
	require.NoError(t, err)
	check(g.Kvs, 30, 90, false)

	g, err = c.Get(ctx, key(100), coord.WithFromKey(), coord.WithSerializable())
	require.NoError(t, err)
	check(g.Kvs, 100, n, false)

	// A tagged range lives in one shard: its pages go on in that shard,
	// at the first page's revision, also with WithRev.
	var tagRev int64
	for i := 0; i < 40; i++ {
		r, err := c.Put(ctx, "{t}/"+key(i), val(i))
		require.NoError(t, err)
		if i == 29 {
			tagRev = r.Header.Revision
		}
	}
	g, err = c.Get(ctx, "{t}/p/", coord.WithPrefix())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 40)
	require.NotEqual(t, wire.AllShards, g.Header.Shard)
	g, err = c.Get(ctx, "{t}/p/", coord.WithPrefix(), coord.WithRev(tagRev))
	require.NoError(t, err)
	require.Len(t, g.Kvs, 30)
	for i, kv := range g.Kvs {
		require.Equal(t, "{t}/"+key(i), string(kv.Key))
		require.Equal(t, val(i), string(kv.Value))
	}

	// The pages themselves.
	paged := int64(wire.MaxResponseFrameSize)
	first, werr := s.rangeKeys(ctx, nil, &wire.RangeRequest{Key: []byte("p/"), RangeEnd: wire.PrefixEnd([]byte("p/")), MaxBytes: paged})
	require.Nil(t, werr)
	require.True(t, first.More)
	require.NotNil(t, first.NextKey)
	require.Less(t, len(first.Kvs), n)
	size := 0
	for _, kv := range first.Kvs {
		size += kv.Size()
	}
	require.LessOrEqual(t, size, minResponseBytes)
	cont := &wire.RangeRequest{Key: first.NextKey, RangeEnd: wire.PrefixEnd([]byte("p/")), Revisions: first.Header.Revisions, MaxBytes: paged}
	// Writes after the first page are not seen by the next ones.
	for i := 0; i < n; i++ {
		_, err := c.Delete(ctx, key(i))
		require.NoError(t, err)
	}
	second, werr := s.rangeKeys(ctx, nil, cont)
	require.Nil(t, werr)
	require.NotEmpty(t, second.Kvs)
	require.Equal(t, first.NextKey, append([]byte(string(first.Kvs[len(first.Kvs)-1].Key)), 0))
	require.Equal(t, string(second.Kvs[0].Key), key(len(first.Kvs)))

	// Compact every shard past the pinned revisions: the next page fails.
	now, err := c.Get(ctx, "p/", coord.WithPrefix(), coord.WithCountOnly())
	require.NoError(t, err)
	for shard, rev := range now.Header.Revisions {
		_, err = c.Compact(ctx, rev, coord.WithCompactShard(shard))
		require.NoError(t, err)
	}
	_, werr = s.rangeKeys(ctx, nil, &wire.RangeRequest{Key: second.NextKey, RangeEnd: wire.PrefixEnd([]byte("p/")), Revisions: first.Header.Revisions, MaxBytes: paged})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeCompacted, werr.Code)

	_, werr = s.rangeKeys(ctx, nil, &wire.RangeRequest{Key: []byte("p/"), RangeEnd: []byte("p0"), Revisions: map[uint32]int64{9: 1}})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeInvalid, werr.Code)
}

// TestTxnRangeKeysBound: the keys a txn's range ops return together are
// bounded too.
func TestTxnRangeKeysBound(t *testing.T) {
	s := startLimitedMember(t, 1, func(c *Config) { c.MaxTxnRangeKeys = 5 })
	c := memberClient(t, s)
	ctx := ctxT(t, 30*time.Second)
	for i := 0; i < 10; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("t/%d", i), "v")
		require.NoError(t, err)
	}
	_, err := c.Txn(ctx).Then(coord.OpGet("t/", coord.WithPrefix())).Commit()
	require.True(t, errors.Is(err, coord.ErrTooLarge), "err = %v", err)
	_, err = c.Txn(ctx).Then(coord.OpGet("t/", coord.WithPrefix(), coord.WithLimit(3)), coord.OpGet("t/", coord.WithPrefix(), coord.WithLimit(3))).Commit()
	require.True(t, errors.Is(err, coord.ErrTooLarge), "err = %v", err)
	// Keys the txn itself puts count (estimated before it writes).
	_, err = c.Txn(ctx).Then(coord.OpPut("t/x", "v"), coord.OpGet("t/", coord.WithPrefix(), coord.WithLimit(5))).Commit()
	require.NoError(t, err)
	r, err := c.Txn(ctx).Then(coord.OpGet("t/", coord.WithPrefix(), coord.WithLimit(5)), coord.OpGet("t/", coord.WithPrefix(), coord.WithCountOnly())).Commit()
	require.NoError(t, err)
	require.Len(t, r.Responses[0].Range.Kvs, 5)
	require.True(t, r.Responses[0].Range.More)
	require.EqualValues(t, 11, r.Responses[1].Range.Count)
}

func TestResponseLimitsValidate(t *testing.T) {
	for _, tt := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.MaxResponseBytes = 100 }, "max response bytes must be between"},
		{func(c *Config) { c.MaxResponseBytes = wire.MaxResponseFrameSize }, "max response bytes must be between"},
		{func(c *Config) { c.MaxTxnRangeKeys = 0 }, "max txn range keys must be positive"},
		{func(c *Config) { c.MaxValueSize, c.MaxRequestSize = 5<<20, 6<<20 }, "a watch event carries a key and value twice"},
	} {
		cfg := DefaultConfig()
		tt.mutate(&cfg)
		err := cfg.Validate()
		require.Error(t, err)
		require.Contains(t, err.Error(), tt.want)
	}
	require.NoError(t, DefaultConfig().Validate())
}

// TestWatchHistoryWindows: history is read a window of revisions at a
// time; a sparse range and a dense one over a history much longer than a
// window both replay every event once, in order, then go live.
func TestWatchHistoryWindows(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	ctx := ctxT(t, 30*time.Second)
	const n = 6 * historyWindow
	first := int64(0)
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("h/other/%d", i%7)
		if i%50 == 0 {
			k = fmt.Sprintf("h/sparse/%d", i)
		}
		r, err := c.Put(ctx, k, "v")
		require.NoError(t, err)
		if first == 0 {
			first = r.Header.Revision
		}
	}
	for _, tt := range []struct {
		prefix string
		want   int
	}{{"h/sparse/", (n + 49) / 50}, {"h/", n + 1}} { // + the first one's live put
		// Forget the recent events kept in memory: the history comes
		// from the store.
		tc.Member(0).hub.restored(0)
		wc := c.Watch(ctx, tt.prefix, coord.WithPrefix(), coord.WithRev(first))
		waitCreated(t, wc)
		evs := collect(t, wc, tt.want, 15*time.Second)
		require.Len(t, evs, tt.want, tt.prefix)
		for i := 1; i < len(evs); i++ {
			require.Greater(t, evs[i].Kv.ModRevision, evs[i-1].Kv.ModRevision)
		}
		r, err := c.Put(ctx, tt.prefix+"live", "v")
		require.NoError(t, err)
		live := collect(t, wc, 1, 10*time.Second)
		require.Equal(t, r.Header.Revision, live[0].Kv.ModRevision)
	}
}
