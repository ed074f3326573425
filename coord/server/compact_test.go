package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// TestCompactRefusesFutureAndCompacted: compacting at a revision the shard
// has not reached, or at or below its compact point, is refused and
// changes nothing (etcd's "required revision is a future revision" and
// "required revision has been compacted").
func TestCompactRefusesFutureAndCompacted(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	for i := 0; i < 9; i++ {
		_, err := c.Put(ctx, "k", fmt.Sprint(i))
		require.NoError(t, err)
	}
	_, err := c.Compact(ctx, 1000)
	require.ErrorIs(t, err, coord.ErrFutureRevision)
	require.Contains(t, err.Error(), "required revision is a future revision")
	// Nothing was discarded: revision 3 (the second put) still reads.
	g, err := c.Get(ctx, "k", coord.WithRev(3))
	require.NoError(t, err)
	require.Equal(t, "1", string(g.Kvs[0].Value))

	r, err := c.Compact(ctx, 5)
	require.NoError(t, err)
	require.Len(t, r.Shards, 1)
	require.Equal(t, wire.ShardCompaction{Shard: 0, Compacted: true, CompactRevision: 5, Revision: 10}, r.Shards[0])
	_, err = c.Compact(ctx, 3)
	require.ErrorIs(t, err, coord.ErrCompacted)
	require.Contains(t, err.Error(), "required revision has been compacted")
	require.Equal(t, int64(5), coord.CompactRevision(err))
	_, err = c.Compact(ctx, 5)
	require.ErrorIs(t, err, coord.ErrCompacted)
	_, compacted := tc.Member(0).shards[0].Revision()
	require.Equal(t, int64(5), compacted)

	// The same with --shard.
	_, err = c.Compact(ctx, 1000, coord.WithCompactShard(0))
	require.ErrorIs(t, err, coord.ErrFutureRevision)
	_, err = c.Compact(ctx, 4, coord.WithCompactShard(0))
	require.ErrorIs(t, err, coord.ErrCompacted)
}

// TestCompactAllShardsReportsEachShard: without a shard, each shard is
// compacted at the revision if it has reached it and is not compacted that
// far already; the response says, per shard, what happened, and the call
// fails only if no shard was compacted.
func TestCompactAllShardsReportsEachShard(t *testing.T) {
	tc := newTestCluster(t, 1, 2)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	// Find one key per shard; write 6 revisions into shard 0 (to revision
	// 7), 3 into shard 1 (to 4).
	keys := map[uint32]string{}
	for i := 0; len(keys) < 2; i++ {
		k := fmt.Sprintf("key%d", i)
		sh, err := c.ShardOf(ctx, k)
		require.NoError(t, err)
		if _, ok := keys[sh]; !ok {
			keys[sh] = k
		}
	}
	for i := 0; i < 6; i++ {
		_, err := c.Put(ctx, keys[0], fmt.Sprint(i))
		require.NoError(t, err)
	}
	for i := 0; i < 3; i++ {
		_, err := c.Put(ctx, keys[1], fmt.Sprint(i))
		require.NoError(t, err)
	}

	// Future in every shard: refused, nothing changes.
	_, err := c.Compact(ctx, 1000)
	require.ErrorIs(t, err, coord.ErrFutureRevision)
	for i := range tc.Member(0).shards {
		_, compacted := tc.Member(0).shards[i].Revision()
		require.Zero(t, compacted, "shard %d", i)
	}

	// Revision 5: shard 0 is compacted, shard 1 (at 4) is left alone.
	r, err := c.Compact(ctx, 5)
	require.NoError(t, err)
	require.Len(t, r.Shards, 2)
	require.Equal(t, wire.ShardCompaction{Shard: 0, Compacted: true, CompactRevision: 5, Revision: 7}, r.Shards[0])
	s1 := r.Shards[1]
	require.False(t, s1.Compacted)
	require.Equal(t, int64(4), s1.Revision)
	require.Zero(t, s1.CompactRevision)
	require.NotNil(t, s1.Error)
	require.Equal(t, wire.CodeFutureRevision, s1.Error.Code)
	_, c0 := tc.Member(0).shards[0].Revision()
	_, c1 := tc.Member(0).shards[1].Revision()
	require.Equal(t, []int64{5, 0}, []int64{c0, c1})

	// Revision 2: shard 0 is compacted past it, shard 1 is compacted.
	r, err = c.Compact(ctx, 2)
	require.NoError(t, err)
	require.False(t, r.Shards[0].Compacted)
	require.Equal(t, wire.CodeCompacted, r.Shards[0].Error.Code)
	require.Equal(t, int64(5), r.Shards[0].CompactRevision)
	require.Equal(t, wire.ShardCompaction{Shard: 1, Compacted: true, CompactRevision: 2, Revision: 4}, r.Shards[1])

	// Revision 2 again: compacted everywhere already.
	_, err = c.Compact(ctx, 2)
	require.ErrorIs(t, err, coord.ErrCompacted)
}

// TestCatchUpBySnapshotInBoundedBatches: with a store batch bound much
// smaller than the shard, a member that fell behind past the compacted
// log restores the leader's snapshot in parts and ends with the same
// state as its peers.
func TestCatchUpBySnapshotInBoundedBatches(t *testing.T) {
	// ~100 KB of state against a 4 KiB bound.
	value := strings.Repeat("v", 300)
	tc, lag, _ := catchUpBySnapshot(t, 1, func(c *Config) { c.StoreBatchBytes = 4 << 10 },
		func(int) string { return value }, func(context.Context, *coord.Client) {})
	require.Positive(t, tc.Member(lag).restores.Load(), "the member caught up by snapshot")
	requireSameShard(t, tc, lag, 0)
}
