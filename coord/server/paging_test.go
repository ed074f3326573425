package server

import (
	"bytes"
	"errors"
	"fmt"
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

// putBig writes the 24 values and returns the revision (per shard of the
// key) after the first half of them.
func putBig(t *testing.T, c *coord.Client) map[uint32]int64 {
	t.Helper()
	ctx := ctxT(t, 60*time.Second)
	half := map[uint32]int64{}
	for i := 0; i < bigValues; i++ {
		r, err := c.Put(ctx, bigKey(i), bigValue(i))
		require.NoError(t, err)
		if i < bigValues/2 {
			half[r.Header.Shard] = r.Header.Revision
		}
	}
	return half
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
// carry returns everything, in one consistent read per shard, with
// --limit, --count-only, --keys-only and --rev honoured; the member keeps
// serving.
func TestGetPagesLargeRange(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			tc := newTestCluster(t, 1, shards)
			c := tc.client()
			half := putBig(t, c)
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

			if shards == 1 {
				// An older revision: the first half only.
				g, err = c.Get(ctx, "big/", coord.WithPrefix(), coord.WithRev(half[0]))
				require.NoError(t, err)
				requireBig(t, g.Kvs, bigValues/2, false)
			}
			// Whole keyspace (fan-out over every shard without a prefix).
			g, err = c.Get(ctx, "", coord.WithPrefix())
			require.NoError(t, err)
			require.Len(t, g.Kvs, bigValues+1)

			r, err := other.Get(ctx, "small")
			require.NoError(t, err)
			require.Len(t, r.Kvs, 1)
		})
	}
}

// TestWatchLargeHistory: a watch from revision 1 over more history than
// one message may carry delivers every event, then goes on live; one
// revision larger than a message (a delete of every big key, with their
// previous values) arrives whole, in one response.
func TestWatchLargeHistory(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	c := tc.client()
	putBig(t, c)
	ctx := ctxT(t, 30*time.Second)

	wc := c.Watch(ctx, "big/", coord.WithPrefix(), coord.WithRev(1), coord.WithPrevKV())
	waitCreated(t, wc)
	evs := collect(t, wc, bigValues, 15*time.Second)
	require.Len(t, evs, bigValues)
	for i, e := range evs {
		require.Equal(t, wire.EventPut, e.Type)
		require.Equal(t, bigKey(i), string(e.Kv.Key))
		require.True(t, string(e.Kv.Value) == bigValue(i))
	}

	d, err := c.Delete(ctx, "big/", coord.WithPrefix())
	require.NoError(t, err)
	require.EqualValues(t, bigValues, d.Deleted)
	select {
	case wr, ok := <-wc:
		require.True(t, ok)
		require.NoError(t, wr.Err())
		require.Len(t, wr.Events, bigValues, "one revision arrives in one response")
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
