package statemachine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestTxnCompares(t *testing.T) {
	h := newHarness(t)
	h.put("k", "m")  // 2
	h.put("x", "1")  // 3
	h.put("k", "m")  // 4: k {create 2, mod 4, version 2}
	h.put("r/1", "") // 5
	h.put("r/2", "") // 6
	cmp := func(target wire.CompareTarget, result wire.CompareResult, key string) wire.Compare {
		return wire.Compare{Target: target, Result: result, Key: []byte(key)}
	}
	type tc struct {
		c    wire.Compare
		want bool
	}
	var tests []tc
	add := func(target wire.CompareTarget, key string, set func(*wire.Compare, int64), at int64) {
		// Relations against a value below, at and above the key's.
		for _, d := range []struct {
			delta int64
			want  [4]bool // =, !=, >, <
		}{
			{-1, [4]bool{false, true, true, false}},
			{0, [4]bool{true, false, false, false}},
			{+1, [4]bool{false, true, false, true}},
		} {
			for r := wire.CompareEqual; r <= wire.CompareLess; r++ {
				c := cmp(target, r, key)
				set(&c, at+d.delta)
				tests = append(tests, tc{c, d.want[r]})
			}
		}
	}
	add(wire.CompareVersion, "k", func(c *wire.Compare, v int64) { c.Version = v }, 2)
	add(wire.CompareCreate, "k", func(c *wire.Compare, v int64) { c.CreateRevision = v }, 2)
	add(wire.CompareMod, "k", func(c *wire.Compare, v int64) { c.ModRevision = v }, 4)
	add(wire.CompareLease, "k", func(c *wire.Compare, v int64) { c.Lease = v }, 0)
	// Missing keys compare as zero values.
	add(wire.CompareVersion, "missing", func(c *wire.Compare, v int64) { c.Version = v }, 0)
	add(wire.CompareMod, "missing", func(c *wire.Compare, v int64) { c.ModRevision = v }, 0)
	add(wire.CompareCreate, "missing", func(c *wire.Compare, v int64) { c.CreateRevision = v }, 0)
	// Values compare as bytes.
	for _, v := range []struct {
		value string
		want  [4]bool
	}{
		{"l", [4]bool{false, true, true, false}},
		{"m", [4]bool{true, false, false, false}},
		{"n", [4]bool{false, true, false, true}},
	} {
		for r := wire.CompareEqual; r <= wire.CompareLess; r++ {
			c := cmp(wire.CompareValue, r, "k")
			c.Value = []byte(v.value)
			tests = append(tests, tc{c, v.want[r]})
		}
	}
	missingValue := cmp(wire.CompareValue, wire.CompareEqual, "missing")
	tests = append(tests, tc{missingValue, true}) // nil == empty
	// Ranges: the compare must hold for every key present.
	rangeMod := func(r wire.CompareResult, mod int64, end string) wire.Compare {
		c := cmp(wire.CompareMod, r, "r/")
		c.RangeEnd, c.ModRevision = []byte(end), mod
		return c
	}
	tests = append(tests,
		tc{rangeMod(wire.CompareGreater, 4, "r0"), true},
		tc{rangeMod(wire.CompareGreater, 5, "r0"), false},
		tc{rangeMod(wire.CompareLess, 7, "r0"), true},
		tc{rangeMod(wire.CompareEqual, 0, "s0"), false},
		tc{func() wire.Compare {
			c := cmp(wire.CompareVersion, wire.CompareEqual, "zz")
			c.RangeEnd = []byte("\x00")
			return c
		}(), true}, // an empty range compares as a missing key
	)

	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			resp := h.txn(&wire.TxnRequest{Compare: []wire.Compare{tt.c}})
			require.Equal(t, tt.want, resp.Succeeded, "%+v", tt.c)
			require.EqualValues(t, 6, resp.Header.Revision)
		})
	}
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 6, cur, "read-only txns make no revision")
}

func TestTxnThenElse(t *testing.T) {
	h := newHarness(t)
	h.put("k", "1")
	cas := func(expect, set string) *wire.TxnResponse {
		return h.txn(&wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareValue, Result: wire.CompareEqual, Key: []byte("k"), Value: []byte(expect)}},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("k"), Value: []byte(set), PrevKV: true}}},
			Failure: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("k")}}},
		})
	}
	resp := cas("1", "2")
	require.True(t, resp.Succeeded)
	require.EqualValues(t, 3, resp.Header.Revision)
	require.Equal(t, "1", string(resp.Responses[0].Put.PrevKV.Value))
	require.EqualValues(t, 3, resp.Responses[0].Put.Header.Revision)

	resp = cas("1", "3")
	require.False(t, resp.Succeeded)
	require.EqualValues(t, 3, resp.Header.Revision)
	require.Equal(t, "2", string(resp.Responses[0].Range.Kvs[0].Value))
	require.Equal(t, "2", string(h.get("k", 0).Value))
}

func TestTxnOneRevisionAndReadsOwnWrites(t *testing.T) {
	h := newHarness(t)
	h.put("a", "0") // 2
	h.put("z", "z") // 3
	resp := h.txn(&wire.TxnRequest{Success: []wire.RequestOp{
		{Put: &wire.PutRequest{Key: []byte("a"), Value: []byte("1")}},
		{Put: &wire.PutRequest{Key: []byte("b"), Value: []byte("1")}},
		{Range: &wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}},
		{Put: &wire.PutRequest{Key: []byte("a"), Value: []byte("2"), PrevKV: true}},
		{DeleteRange: &wire.DeleteRangeRequest{Key: []byte("b"), PrevKV: true}},
		{Range: &wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")}},
		{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 2}},
	}})
	require.True(t, resp.Succeeded)
	require.EqualValues(t, 4, resp.Header.Revision)
	r := resp.Responses
	require.Equal(t, []string{"a=1", "b=1"}, kvs(r[2].Range))
	require.EqualValues(t, 4, r[2].Range.Header.Revision)
	require.Equal(t, "1", string(r[3].Put.PrevKV.Value))
	require.EqualValues(t, 1, r[4].DeleteRange.Deleted)
	require.Equal(t, []string{"a=2", "z=z"}, kvs(r[5].Range))
	require.Equal(t, []string{"a=0"}, kvs(r[6].Range))
	require.EqualValues(t, 2, r[6].Range.Header.Revision)

	cur, _ := h.sh.Revision()
	require.EqualValues(t, 4, cur, "a txn is one revision")
	a := h.get("a", 0)
	require.Equal(t, &wire.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 4, Version: 2}, a,
		"two puts in one txn count one version")
	require.Nil(t, h.get("b", 0))
	require.Equal(t, "0", string(h.get("a", 3).Value))

	// A txn whose only write deletes nothing makes no revision.
	resp = h.txn(&wire.TxnRequest{Success: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: []byte("nope")}}}})
	require.EqualValues(t, 4, resp.Header.Revision)
}

// Commands of one batch see each other's writes, including through ranges
// and compares.
func TestBatchReadsEarlierCommands(t *testing.T) {
	h := newHarness(t)
	rs, _ := h.apply(
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("1")}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("b"), Value: []byte("1")}},
		&Command{Op: OpTxn, req: &wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareVersion, Result: wire.CompareEqual, Key: []byte("a"), RangeEnd: []byte("c"), Version: 1}},
			Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}, {Range: &wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), Revision: 2}}},
		}},
		&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("\x00")}},
		&Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), CountOnly: true}}}}},
	)
	var txn wire.TxnResponse
	decodeOK(t, rs[2], &txn)
	require.True(t, txn.Succeeded)
	require.Equal(t, []string{"a=1", "b=1"}, kvs(txn.Responses[0].Range))
	require.Equal(t, []string{"a=1"}, kvs(txn.Responses[1].Range))
	var del wire.DeleteRangeResponse
	decodeOK(t, rs[3], &del)
	require.EqualValues(t, 2, del.Deleted)
	decodeOK(t, rs[4], &txn)
	require.Zero(t, txn.Responses[0].Range.Count)
}
