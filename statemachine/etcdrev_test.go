package statemachine

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestEtcdRevisionNumbering pins etcd's numbering (issue 14): an empty
// shard is at revision 1, readable at 1 and watchable from 1, the first
// write makes revision 2, and the compact revision starts at 0, so that
// compacting a fresh shard at 1 succeeds (as etcd's compact 1 does) and
// at 2 is a future revision.
func TestEtcdRevisionNumbering(t *testing.T) {
	h := newHarness(t)
	cur, comp := h.sh.Revision()
	require.EqualValues(t, 1, cur, "an empty shard is at revision 1")
	require.EqualValues(t, 0, comp)
	require.EqualValues(t, 1, h.rng(&wire.RangeRequest{Key: []byte("k")}).Header.Revision)
	require.EqualValues(t, 1, h.rng(&wire.RangeRequest{Key: []byte("k"), Revision: 1}).Header.Revision, "revision 1 is readable on an empty shard")
	_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("k"), Revision: 2})
	require.Equal(t, wire.CodeFutureRevision, wireCode(err))
	evs, more, err := h.sh.History([]byte("k"), nil, 1, 1<<62, false, 0)
	require.NoError(t, err)
	require.False(t, more)
	require.Empty(t, evs)

	resp := h.put("k", "v")
	require.EqualValues(t, 2, resp.Header.Revision, "the first write makes revision 2")
	kv := h.get("k", 0)
	require.EqualValues(t, 2, kv.CreateRevision)
	require.EqualValues(t, 2, kv.ModRevision)
	require.EqualValues(t, 1, kv.Version)
	require.Nil(t, h.get("k", 1), "revision 1 is the empty keyspace")
	evs, _, err = h.sh.History([]byte("k"), nil, 1, 1<<62, false, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.EqualValues(t, 2, evs[0].Kv.ModRevision)

	// Compaction on a fresh shard, as etcd's: compact 1 succeeds once.
	h2 := newHarness(t)
	require.Equal(t, wire.CodeFutureRevision, decodeErr(t, h2.compact(2)).Code)
	var cresp wire.CompactResponse
	decodeOK(t, h2.compact(1), &cresp)
	require.EqualValues(t, 1, cresp.Header.Revision)
	werr := decodeErr(t, h2.compact(1))
	require.Equal(t, wire.CodeCompacted, werr.Code)
	require.EqualValues(t, 1, werr.CompactRevision)
	require.EqualValues(t, 1, h2.rng(&wire.RangeRequest{Key: []byte("k"), Revision: 1}).Header.Revision, "the compact revision itself stays readable")
	require.EqualValues(t, 2, h2.put("k", "v").Header.Revision)
}

// TestOldMetaKeepsRevisions: a shard written by a binary that numbered
// from 0 (first write = 1) keeps its revisions: its meta says where it
// is and the next write follows it. One that never wrote (meta at 0) is
// at 1, as it would be had the new binary applied the same log. A
// snapshot of such a shard restores with the same counter.
func TestOldMetaKeepsRevisions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old       meta
		cur, next int64
	}{
		{"wrote", meta{applied: 4, current: 3, compacted: 1}, 3, 4},
		{"wrote, leases and clock", meta{applied: 9, current: 5, lastLease: 2, clock: 1000}, 5, 6},
		{"never wrote", meta{applied: 2}, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			// The record as the previous binary wrote it (same encoding).
			require.NoError(t, h.st.db.Set(h.sh.space.MetaKey(), tc.old.encode(), nil))
			idx, err := h.sh.Open()
			require.NoError(t, err)
			require.Equal(t, tc.old.applied, idx)
			cur, comp := h.sh.Revision()
			require.EqualValues(t, tc.cur, cur)
			require.EqualValues(t, tc.old.compacted, comp)
			require.EqualValues(t, tc.cur, h.rng(&wire.RangeRequest{Key: []byte("k")}).Header.Revision)
			// A snapshot of it (what a lagging member restores) carries the
			// counter too.
			other := newHarness(t)
			other.put("x", "y")
			require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
			cur, _ = other.sh.Revision()
			require.EqualValues(t, tc.cur, cur, "restored from a snapshot")

			h.index = tc.old.applied
			require.EqualValues(t, tc.next, h.put("k", "v").Header.Revision)
			require.EqualValues(t, tc.next, h.get("k", 0).CreateRevision)
			other.index = tc.old.applied
			require.EqualValues(t, tc.next, other.put("k", "v").Header.Revision)
			require.Equal(t, mustHash(t, h.sh), mustHash(t, other.sh))
		})
	}
}
