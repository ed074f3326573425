package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestCompaction(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")    // 2
	h.put("a", "2")    // 3
	h.del("a", "")     // 4
	h.put("a", "3")    // 5
	h.put("b", "1")    // 6
	h.put("c", "1")    // 7
	h.del("c", "")     // 8
	h.put("b", "2")    // 9
	h.put("d", "1")    // 10
	h.del("d", "")     // 11
	h.put("e", "\x00") // 12

	before := map[int64][]string{}
	for rev := int64(1); rev <= 12; rev++ {
		before[rev] = kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00"), Revision: rev}))
	}
	versions := func() int {
		n := 0
		it := h.sh.newIter(h.st.db)
		defer it.Close()
		for v := it.First(); v; v = it.Next() {
			if it.Key()[4] == 'k' {
				n++
			}
		}
		return n
	}
	require.Equal(t, 11, versions())

	var resp wire.CompactResponse
	decodeOK(t, h.compact(8), &resp)
	require.EqualValues(t, 12, resp.Header.Revision)
	cur, comp := h.sh.Revision()
	require.EqualValues(t, 12, cur, "compaction makes no revision")
	require.EqualValues(t, 8, comp)
	// Kept: a@5, b@6, b@9, d@10, d@11, e@12. Dropped: a@2-4 (tombstone
	// newest <= 8), b: nothing, c@7-8 (tombstone).
	require.Equal(t, 6, versions())

	for rev := int64(8); rev <= 12; rev++ {
		require.Equal(t, before[rev], kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00"), Revision: rev})), "rev %d", rev)
	}
	for rev := int64(1); rev < 8; rev++ {
		_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a"), Revision: rev})
		require.Equal(t, wire.CodeCompacted, wireCode(err))
		require.EqualValues(t, 8, err.(*wire.Error).CompactRevision)
	}

	r := h.compact(8)
	require.Equal(t, wire.CodeCompacted, r.Code)
	require.EqualValues(t, 8, decodeErr(t, r).CompactRevision)
	require.Equal(t, wire.CodeFutureRevision, h.compact(13).Code)

	// A txn reading below the compaction fails before doing anything.
	r = h.apply1(&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{
		{Put: &wire.PutRequest{Key: []byte("x")}},
		{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 4}},
	}}})
	require.Equal(t, wire.CodeCompacted, r.Code)

	decodeOK(t, h.compact(12), &resp)
	require.Equal(t, 3, versions()) // a@5, b@9, e@12
	require.Equal(t, before[12], kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})))
	// Writes go on normally after compaction.
	require.EqualValues(t, 13, h.put("a", "4").Header.Revision)
	require.EqualValues(t, 2, h.get("a", 0).Version)
}

// Compaction in the middle of a batch sees the batch's earlier writes, and
// later commands of the batch see the compacted state.
func TestCompactionWithinBatch(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 2
	rs, _ := h.apply(
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("2")}}, // 3
		&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a")}},          // 4
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("b"), Value: []byte("1")}}, // 5
		&Command{Op: OpCompact, req: &wire.CompactRequest{Revision: 4}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("3")}}, // 6
		&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")}}}}},
		&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 3}}}}},
	)
	require.Equal(t, wire.OK, rs[3].Code)
	var txn wire.TxnResponse
	decodeOK(t, rs[5], &txn)
	require.Equal(t, []string{"a=3", "b=1"}, kvs(txn.Responses[0].Range))
	require.EqualValues(t, 1, txn.Responses[0].Range.Kvs[0].Version)
	require.Equal(t, wire.CodeCompacted, rs[6].Code)
	require.EqualValues(t, 8, h.sh.AppliedIndex())
}
