package statemachine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// TestRangePages: with MaxBytes a range answers one page and the key to go
// on from; the pages, read at the first page's revision, add up to the
// whole range as it was then. A key-value larger than MaxBytes is a page
// of its own.
func TestRangePages(t *testing.T) {
	h := newHarness(t)
	var want []string
	for i := 0; i < 30; i++ {
		k, v := fmt.Sprintf("k%02d", i), strings.Repeat("x", 10*i)
		if i == 17 {
			v = strings.Repeat("y", 1000) // over the page size alone
		}
		h.put(k, v)
		want = append(want, k+"="+v)
	}
	req := wire.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), MaxBytes: 400}
	first := h.rng(&req)
	require.True(t, first.More)
	require.NotNil(t, first.NextKey)
	require.EqualValues(t, 30, first.Count)
	rev := first.Header.Revision
	h.put("k05", "changed after the first page")
	h.del("k20", "")

	got := kvs(first)
	pages := 1
	for resp := first; resp.NextKey != nil; pages++ {
		size := 0
		for _, kv := range resp.Kvs {
			size += kv.Size()
		}
		require.True(t, size <= 400 || len(resp.Kvs) == 1, "page of %d bytes in %d keys", size, len(resp.Kvs))
		require.Equal(t, append([]byte(string(resp.Kvs[len(resp.Kvs)-1].Key)), 0), resp.NextKey)
		req.Key, req.Revision = resp.NextKey, rev
		resp = h.rng(&req)
		got = append(got, kvs(resp)...)
	}
	require.Equal(t, want, got)
	require.Greater(t, pages, 5)

	// Limit still cuts (More, no NextKey); CountOnly and a single key do
	// not page.
	resp := h.rng(&wire.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), MaxBytes: 1 << 20, Limit: 3})
	require.Len(t, resp.Kvs, 3)
	require.True(t, resp.More)
	require.Nil(t, resp.NextKey)
	resp = h.rng(&wire.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), MaxBytes: 1, CountOnly: true})
	require.EqualValues(t, 29, resp.Count)
	require.Nil(t, resp.NextKey)
	resp = h.rng(&wire.RangeRequest{Key: []byte("k17"), MaxBytes: 1})
	require.Len(t, resp.Kvs, 1)
	require.Nil(t, resp.NextKey)
}

// TestTxnRangeBound: the range ops of a txn's branch return at most
// MaxRangeKeys keys and MaxRangeBytes bytes together, else the txn fails
// with CodeTooLarge before writing anything; a range after a write counts
// the txn's own earlier puts; 0 (a txn proposed before the bound existed)
// is no bound.
func TestTxnRangeBound(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 10; i++ {
		h.put(fmt.Sprintf("r/%d", i), strings.Repeat("v", 100))
	}
	rng := func(limit int64) wire.RequestOp {
		return wire.RequestOp{Range: &wire.RangeRequest{Key: []byte("r/"), RangeEnd: []byte("r0"), Limit: limit}}
	}
	put := wire.RequestOp{Put: &wire.PutRequest{Key: []byte("r/new"), Value: []byte("v")}}
	tooLarge := func(req *wire.TxnRequest, what string) {
		t.Helper()
		before := h.get("r/new", 0)
		r := h.apply1(&Command{Op: OpTxn, req: req})
		require.Equal(t, wire.CodeTooLarge, r.Code)
		require.Contains(t, decodeErr(t, r).Message, what)
		require.Equal(t, before, h.get("r/new", 0), "a refused txn writes nothing")
	}
	tooLarge(&wire.TxnRequest{Success: []wire.RequestOp{rng(0)}, MaxRangeKeys: 9}, "limit of 9 keys")
	tooLarge(&wire.TxnRequest{Success: []wire.RequestOp{rng(5), rng(5)}, MaxRangeKeys: 9}, "limit of 9 keys")
	tooLarge(&wire.TxnRequest{Success: []wire.RequestOp{rng(0)}, MaxRangeBytes: 1000}, "limit of 1000 bytes")
	tooLarge(&wire.TxnRequest{Success: []wire.RequestOp{put, rng(0)}, MaxRangeKeys: 10}, "limit of 10 keys")

	resp := h.txn(&wire.TxnRequest{Success: []wire.RequestOp{rng(0)}, MaxRangeKeys: 10, MaxRangeBytes: 10 << 10})
	require.Len(t, resp.Responses[0].Range.Kvs, 10)
	require.False(t, resp.Responses[0].Range.More)
	resp = h.txn(&wire.TxnRequest{Success: []wire.RequestOp{rng(4), put, rng(0)}})
	require.Len(t, resp.Responses[0].Range.Kvs, 4)
	require.True(t, resp.Responses[0].Range.More)
	require.Len(t, resp.Responses[2].Range.Kvs, 11, "no bound: the range sees the txn's put")
}
