package statemachine

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// harness drives one shard of a fresh store, one entry per command.
type harness struct {
	t     testing.TB
	dir   string
	st    *Store
	sh    *Shard
	index uint64

	leaseChanges []LeaseChange // every LeaseChange Apply reported
}

func newHarness(t testing.TB) *harness {
	return newHarnessConfig(t, DefaultConfig())
}

func newHarnessConfig(t testing.TB, cfg Config) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenStore(dir, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sh := st.Shard(7)
	idx, err := sh.Open()
	require.NoError(t, err)
	require.Zero(t, idx)
	return &harness{t: t, dir: dir, st: st, sh: sh}
}

// entry encodes cmd as the next entry.
func (h *harness) entry(cmd *Command) Entry {
	h.t.Helper()
	b, err := EncodeCommand(cmd)
	if l, ok := cmd.req.(*legacyCommand); ok {
		b, err = msgpack.Marshal(l) // see legacyCmd
	}
	require.NoError(h.t, err)
	h.index++
	return Entry{Index: h.index, Cmd: b}
}

// apply applies cmds as one batch and returns their results and events.
func (h *harness) apply(cmds ...*Command) ([]Result, []wire.Event) {
	h.t.Helper()
	entries := make([]Entry, len(cmds))
	for i, c := range cmds {
		entries[i] = h.entry(c)
	}
	applied, err := h.sh.Apply(entries)
	require.NoError(h.t, err)
	results := make([]Result, len(entries))
	for i := range entries {
		results[i] = entries[i].Result
	}
	h.leaseChanges = append(h.leaseChanges, applied.Leases...)
	return results, applied.Events
}

func (h *harness) apply1(cmd *Command) Result {
	h.t.Helper()
	rs, _ := h.apply(cmd)
	return rs[0]
}

func (h *harness) put(key, value string) *wire.PutResponse {
	h.t.Helper()
	var resp wire.PutResponse
	decodeOK(h.t, h.apply1(&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte(key), Value: []byte(value), PrevKV: true}}), &resp)
	return &resp
}

func (h *harness) del(key, end string) *wire.DeleteRangeResponse {
	h.t.Helper()
	var resp wire.DeleteRangeResponse
	decodeOK(h.t, h.apply1(&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end), PrevKV: true}}), &resp)
	return &resp
}

func (h *harness) compact(rev int64) Result {
	h.t.Helper()
	return h.apply1(&Command{Op: OpCompact, req: &wire.CompactRequest{Revision: rev}})
}

func (h *harness) txn(req *wire.TxnRequest) *wire.TxnResponse {
	h.t.Helper()
	var resp wire.TxnResponse
	decodeOK(h.t, h.apply1(&Command{Op: OpTxn, req: req}), &resp)
	return &resp
}

func (h *harness) rng(req *wire.RangeRequest) *wire.RangeResponse {
	h.t.Helper()
	resp, err := h.sh.Range(req)
	require.NoError(h.t, err)
	return resp
}

func (h *harness) get(key string, rev int64) *wire.KeyValue {
	h.t.Helper()
	resp := h.rng(&wire.RangeRequest{Key: []byte(key), Revision: rev})
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func decodeOK(t testing.TB, r Result, v any) {
	t.Helper()
	if r.Code != wire.OK {
		t.Fatalf("result %v: %v", r.Code, decodeErr(t, r))
	}
	require.NoError(t, msgpack.Unmarshal(r.Data, v))
}

func decodeErr(t testing.TB, r Result) *wire.Error {
	t.Helper()
	var e wire.Error
	require.NoError(t, msgpack.Unmarshal(r.Data, &e))
	require.Equal(t, r.Code, e.Code)
	return &e
}

func kvs(resp *wire.RangeResponse) []string {
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key)+"="+string(kv.Value))
	}
	return out
}

func wireCode(err error) wire.Code {
	if e, ok := err.(*wire.Error); ok {
		return e.Code
	}
	return wire.CodeUnknown
}
