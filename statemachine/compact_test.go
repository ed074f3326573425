package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestCompaction(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")    // 1
	h.put("a", "2")    // 2
	h.del("a", "")     // 3
	h.put("a", "3")    // 4
	h.put("b", "1")    // 5
	h.put("c", "1")    // 6
	h.del("c", "")     // 7
	h.put("b", "2")    // 8
	h.put("d", "1")    // 9
	h.del("d", "")     // 10
	h.put("e", "\x00") // 11

	before := map[int64][]string{}
	for rev := int64(1); rev <= 11; rev++ {
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
	decodeOK(t, h.compact(7), &resp)
	require.EqualValues(t, 11, resp.Header.Revision)
	cur, comp := h.sh.Revision()
	require.EqualValues(t, 11, cur, "compaction makes no revision")
	require.EqualValues(t, 7, comp)
	// Kept: a@4, b@5, b@8, d@9, d@10, e@11. Dropped: a@1-3 (tombstone
	// newest <= 7), b: nothing, c@6-7 (tombstone).
	require.Equal(t, 6, versions())

	for rev := int64(7); rev <= 11; rev++ {
		require.Equal(t, before[rev], kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00"), Revision: rev})), "rev %d", rev)
	}
	for rev := int64(1); rev < 7; rev++ {
		_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a"), Revision: rev})
		require.Equal(t, wire.CodeCompacted, wireCode(err))
		require.EqualValues(t, 7, err.(*wire.Error).CompactRevision)
	}

	r := h.compact(7)
	require.Equal(t, wire.CodeCompacted, r.Code)
	require.EqualValues(t, 7, decodeErr(t, r).CompactRevision)
	require.Equal(t, wire.CodeFutureRevision, h.compact(12).Code)

	// A txn reading below the compaction fails before doing anything.
	r = h.apply1(&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{
		{Put: &wire.PutRequest{Key: []byte("x")}},
		{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 3}},
	}}})
	require.Equal(t, wire.CodeCompacted, r.Code)

	decodeOK(t, h.compact(11), &resp)
	require.Equal(t, 3, versions()) // a@4, b@8, e@11
	require.Equal(t, before[11], kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})))
	// Writes go on normally after compaction.
	require.EqualValues(t, 12, h.put("a", "4").Header.Revision)
	require.EqualValues(t, 2, h.get("a", 0).Version)
}

// Compaction in the middle of a batch sees the batch's earlier writes, and
// later commands of the batch see the compacted state.
func TestCompactionWithinBatch(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 1
	rs, _ := h.apply(
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("2")}}, // 2
		&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a")}},          // 3
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("b"), Value: []byte("1")}}, // 4
		&Command{Op: OpCompact, req: &wire.CompactRequest{Revision: 3}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("3")}}, // 5
		&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")}}}}},
		&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 2}}}}},
	)
	require.Equal(t, wire.OK, rs[3].Code)
	var txn wire.TxnResponse
	decodeOK(t, rs[5], &txn)
	require.Equal(t, []string{"a=3", "b=1"}, kvs(txn.Responses[0].Range))
	require.EqualValues(t, 1, txn.Responses[0].Range.Kvs[0].Version)
	require.Equal(t, wire.CodeCompacted, rs[6].Code)
	require.EqualValues(t, 8, h.sh.AppliedIndex())
}
