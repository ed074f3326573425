package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

func TestPutGetDeleteHistory(t *testing.T) {
	h := newHarness(t)
	require.EqualValues(t, 2, h.put("a", "1").Header.Revision, "the first write makes revision 2, as in etcd")
	p := h.put("a", "2")
	require.EqualValues(t, 3, p.Header.Revision)
	require.Equal(t, &wire.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}, p.PrevKV)
	d := h.del("a", "")
	require.EqualValues(t, 4, d.Header.Revision)
	require.EqualValues(t, 1, d.Deleted)
	require.Equal(t, "2", string(d.PrevKvs[0].Value))
	p = h.put("a", "3")
	require.EqualValues(t, 5, p.Header.Revision)
	require.Nil(t, p.PrevKV, "a put after a delete has no previous version")

	tests := []struct {
		rev  int64
		want *wire.KeyValue
	}{
		{0, &wire.KeyValue{Key: []byte("a"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1}},
		{1, nil}, // the empty shard
		{2, &wire.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}},
		{3, &wire.KeyValue{Key: []byte("a"), Value: []byte("2"), CreateRevision: 2, ModRevision: 3, Version: 2}},
		{4, nil}, // the tombstone
		{5, &wire.KeyValue{Key: []byte("a"), Value: []byte("3"), CreateRevision: 5, ModRevision: 5, Version: 1}},
	}
	for _, tt := range tests {
		resp := h.rng(&wire.RangeRequest{Key: []byte("a"), Revision: tt.rev})
		want := tt.rev
		if want == 0 {
			want = 5
		}
		require.EqualValues(t, want, resp.Header.Revision, "rev %d", tt.rev)
		require.EqualValues(t, 7, resp.Header.Shard)
		if tt.want == nil {
			require.Empty(t, resp.Kvs, "rev %d", tt.rev)
			require.Zero(t, resp.Count)
		} else {
			require.Equal(t, []*wire.KeyValue{tt.want}, resp.Kvs, "rev %d", tt.rev)
			require.EqualValues(t, 1, resp.Count)
		}
	}
	_, err := h.sh.Range(&wire.RangeRequest{Key: []byte("a"), Revision: 6})
	require.Equal(t, wire.CodeFutureRevision, wireCode(err))

	cur, comp := h.sh.Revision()
	require.EqualValues(t, 5, cur)
	require.Zero(t, comp)
	require.EqualValues(t, 4, h.sh.AppliedIndex())
}

func TestEmptyShard(t *testing.T) {
	h := newHarness(t)
	resp := h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})
	require.EqualValues(t, 1, resp.Header.Revision, "an empty shard is at revision 1, as in etcd")
	require.Zero(t, resp.Count)
	// A delete that deletes nothing makes no revision.
	d := h.del("a", "z")
	require.Zero(t, d.Deleted)
	require.EqualValues(t, 1, d.Header.Revision)
}

func TestRange(t *testing.T) {
	h := newHarness(t)
	for _, k := range []string{"a", "a\x00", "a\x00b", "ab", "b", "b/1", "b/2", "b/3", "c", "\xff"} {
		h.put(k, "v"+k)
	}
	h.put("b/2", "again") // rev 12
	h.del("b/3", "")      // rev 13
	all := []string{"a=va", "a\x00=va\x00", "a\x00b=va\x00b", "ab=vab", "b=vb", "b/1=vb/1", "b/2=again", "c=vc", "\xff=v\xff"}

	tests := []struct {
		name      string
		req       wire.RangeRequest
		want      []string
		count     int64
		more      bool
		keysOnly  bool
		countOnly bool
	}{
		{name: "single", req: wire.RangeRequest{Key: []byte("b")}, want: []string{"b=vb"}, count: 1},
		{name: "missing", req: wire.RangeRequest{Key: []byte("bb")}, count: 0},
		{name: "prefix", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0")}, want: []string{"b/1=vb/1", "b/2=again"}, count: 2},
		{name: "zero bytes", req: wire.RangeRequest{Key: []byte("a"), RangeEnd: []byte("ab")}, want: []string{"a=va", "a\x00=va\x00", "a\x00b=va\x00b"}, count: 3},
		{name: "from key", req: wire.RangeRequest{Key: []byte("c"), RangeEnd: []byte("\x00")}, want: []string{"c=vc", "\xff=v\xff"}, count: 2},
		{name: "all", req: wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")}, want: all, count: 9},
		{name: "limit", req: wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00"), Limit: 2}, want: all[:2], count: 9, more: true},
		{name: "limit exact", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0"), Limit: 2}, want: []string{"b/1=vb/1", "b/2=again"}, count: 2},
		{name: "keys only", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0"), KeysOnly: true}, want: []string{"b/1=", "b/2="}, count: 2},
		{name: "count only", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0"), CountOnly: true}, count: 2},
		{name: "old revision", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0"), Revision: 11}, want: []string{"b/1=vb/1", "b/2=vb/2", "b/3=vb/3"}, count: 3},
		{name: "older revision", req: wire.RangeRequest{Key: []byte("b/"), RangeEnd: []byte("b0"), Revision: 7}, want: []string{"b/1=vb/1"}, count: 1},
		{name: "end before key", req: wire.RangeRequest{Key: []byte("c"), RangeEnd: []byte("a")}, count: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := h.rng(&tt.req)
			require.Equal(t, tt.want, kvs(resp))
			require.Equal(t, tt.count, resp.Count)
			require.Equal(t, tt.more, resp.More)
		})
	}
}

func TestRecreateGenerations(t *testing.T) {
	h := newHarness(t)
	h.put("k", "1") // 2
	h.put("k", "2") // 3
	h.del("k", "")  // 4
	h.put("k", "3") // 5
	h.put("k", "4") // 6
	h.del("k", "")  // 7
	h.del("k", "")  // nothing: no revision
	h.put("k", "5") // 8
	kv := h.get("k", 0)
	require.EqualValues(t, 8, kv.CreateRevision)
	require.EqualValues(t, 1, kv.Version)
	kv = h.get("k", 6)
	require.EqualValues(t, 5, kv.CreateRevision)
	require.EqualValues(t, 2, kv.Version)
	require.Nil(t, h.get("k", 7))
	require.Nil(t, h.get("k", 4))
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	_, events := h.apply(
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("1")}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("b"), Value: []byte("2")}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("3")}},
		&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}},
	)
	a1 := &wire.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1}
	b2 := &wire.KeyValue{Key: []byte("b"), Value: []byte("2"), CreateRevision: 3, ModRevision: 3, Version: 1}
	a3 := &wire.KeyValue{Key: []byte("a"), Value: []byte("3"), CreateRevision: 2, ModRevision: 4, Version: 2}
	require.Equal(t, []wire.Event{
		{Type: wire.EventPut, Shard: 7, Kv: a1},
		{Type: wire.EventPut, Shard: 7, Kv: b2},
		{Type: wire.EventPut, Shard: 7, Kv: a3, PrevKv: a1},
		{Type: wire.EventDelete, Shard: 7, Kv: &wire.KeyValue{Key: []byte("a"), ModRevision: 5}, PrevKv: a3},
		{Type: wire.EventDelete, Shard: 7, Kv: &wire.KeyValue{Key: []byte("b"), ModRevision: 5}, PrevKv: b2},
	}, events)
}

func TestValidation(t *testing.T) {
	h := newHarness(t)
	reserved := []byte(ReservedPrefix + "lock/x")
	tests := []struct {
		name string
		cmd  []byte
		code wire.Code
	}{
		{"garbage", []byte{0xc1, 0x00, 0xff}, wire.CodeInvalid},
		{"empty", nil, wire.CodeInvalid},
		{"no op", enc(t, &Command{}), wire.CodeInvalid},
		{"two ops", encodeLegacy(t, &legacyCommand{Put: &wire.PutRequest{Key: []byte("a")}, Compact: &wire.CompactRequest{Revision: 1}}), wire.CodeInvalid},
		{"unknown op", enc(t, &Command{Op: "kv.frobnicate", Body: []byte{0x80}}), wire.CodeInvalid},
		{"undecodable body", enc(t, &Command{Op: OpPut, Body: []byte{0xc1}}), wire.CodeInvalid},
		{"empty key put", enc(t, &Command{Op: OpPut, req: &wire.PutRequest{}}), wire.CodeInvalid},
		{"empty key delete", enc(t, &Command{Op: OpDelete, req: &wire.DeleteRangeRequest{}}), wire.CodeInvalid},
		{"reserved put", enc(t, &Command{Op: OpPut, req: &wire.PutRequest{Key: reserved}}), wire.CodePermissionDenied},
		{"reserved delete", enc(t, &Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: reserved}}), wire.CodePermissionDenied},
		{"reserved txn put", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Failure: []wire.RequestOp{{Put: &wire.PutRequest{Key: reserved}}}}}), wire.CodePermissionDenied},
		{"lease", enc(t, &Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Lease: 5}}), wire.CodeLeaseNotFound},
		{"txn empty op", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{}}}}), wire.CodeInvalid},
		{"txn compare empty key", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Compare: []wire.Compare{{}}}}), wire.CodeInvalid},
		{"txn compare bad target", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Compare: []wire.Compare{{Key: []byte("a"), Target: 9}}}}), wire.CodeInvalid},
		{"txn compare bad result", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Compare: []wire.Compare{{Key: []byte("a"), Result: 9}}}}), wire.CodeInvalid},
		{"txn range future", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a"), Revision: 99}}}}}), wire.CodeFutureRevision},
		{"txn range empty key", enc(t, &Command{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{}}}}}), wire.CodeInvalid},
		{"compact future", enc(t, &Command{Op: OpCompact, req: &wire.CompactRequest{Revision: 99}}), wire.CodeFutureRevision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.index++
			entries := []Entry{{Index: h.index, Cmd: tt.cmd}}
			_, err := h.sh.Apply(entries)
			require.NoError(t, err)
			require.Equal(t, tt.code, entries[0].Result.Code)
			decodeErr(t, entries[0].Result)
		})
	}
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 1, cur, "refused commands make no revision")

	// Reads of the reserved keyspace are allowed; deletes over it skip it.
	require.Equal(t, wire.OK, h.apply1(&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("\x00a")}}).Code)
	resp := h.rng(&wire.RangeRequest{Key: []byte(ReservedPrefix), RangeEnd: []byte("\x00")})
	require.Zero(t, resp.Count)
	d := h.del("\x00", "\x00")
	require.EqualValues(t, 1, d.Deleted)

	for _, req := range []*wire.RangeRequest{{}, {Key: []byte("a"), Limit: -1}, {Key: []byte("a"), Revision: -1}, nil} {
		_, err := h.sh.Range(req)
		require.Equal(t, wire.CodeInvalid, wireCode(err))
	}
}

func enc(t testing.TB, c *Command) []byte {
	b, err := EncodeCommand(c)
	require.NoError(t, err)
	return b
}
