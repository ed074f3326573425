// Package smtest drives a real statemachine.Shard from tests of the
// packages whose rules run inside the state machine (locks/lockrules,
// election/electionrules, queue/queuerules, barrier/barrierrules): their
// tests live in external test packages (lockrules_test), which may import
// statemachine although statemachine imports (registers) them. Commands
// are built with statemachine.NewCommand and the rules packages' op names.
package smtest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// ShardID is the shard a Harness applies to.
const ShardID = 7

// Harness is shard ShardID of a fresh store, fed one entry per command.
type Harness struct {
	T     testing.TB
	Store *statemachine.Store
	Shard *statemachine.Shard
	// Leases are the lease changes of the last batch applied.
	Leases []statemachine.LeaseChange
	index  uint64
}

// New opens a store in a temporary directory (closed with the test).
func New(t testing.TB) *Harness {
	t.Helper()
	st, err := statemachine.OpenStore(t.TempDir(), statemachine.DefaultConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sh := st.Shard(ShardID)
	_, err = sh.Open()
	require.NoError(t, err)
	return &Harness{T: t, Store: st, Shard: sh}
}

// Apply applies cmds as one batch and returns their results and the
// batch's events.
func (h *Harness) Apply(cmds ...*statemachine.Command) ([]statemachine.Result, []wire.Event) {
	h.T.Helper()
	entries := make([]statemachine.Entry, len(cmds))
	for i, c := range cmds {
		b, err := statemachine.EncodeCommand(c)
		require.NoError(h.T, err)
		h.index++
		entries[i] = statemachine.Entry{Index: h.index, Cmd: b}
	}
	applied, err := h.Shard.Apply(entries)
	require.NoError(h.T, err)
	h.Leases = applied.Leases
	rs := make([]statemachine.Result, len(entries))
	for i := range entries {
		rs[i] = entries[i].Result
	}
	return rs, applied.Events
}

// Do applies cmd alone. On success it decodes the response into resp (if
// not nil) and returns nil; on a user error it returns the error.
func (h *Harness) Do(cmd *statemachine.Command, resp any) (*wire.Error, []wire.Event) {
	h.T.Helper()
	rs, events := h.Apply(cmd)
	return Decode(h.T, rs[0], resp), events
}

// Must is Do that fails the test on a user error.
func (h *Harness) Must(cmd *statemachine.Command, resp any) []wire.Event {
	h.T.Helper()
	werr, events := h.Do(cmd, resp)
	if werr != nil {
		h.T.Fatalf("%v: %v", werr.Code, werr)
	}
	return events
}

// Decode decodes r: the response into resp (if not nil) when OK, else the
// returned *wire.Error.
func Decode(t testing.TB, r statemachine.Result, resp any) *wire.Error {
	t.Helper()
	if r.Code != wire.OK {
		var e wire.Error
		require.NoError(t, msgpack.Unmarshal(r.Data, &e))
		require.Equal(t, r.Code, e.Code)
		return &e
	}
	if resp != nil {
		require.NoError(t, msgpack.Unmarshal(r.Data, resp))
	}
	return nil
}

// Grant grants a lease and returns its ID.
func (h *Harness) Grant(ttl int64) int64 {
	h.T.Helper()
	var resp wire.LeaseGrantResponse
	h.Must(statemachine.NewCommand(statemachine.OpLeaseGrant, &statemachine.LeaseGrant{TTL: ttl}), &resp)
	return resp.ID
}

// Revoke revokes lease id (as its expiry would) and returns the events.
func (h *Harness) Revoke(id int64) []wire.Event {
	h.T.Helper()
	return h.Must(statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: id}), nil)
}

// Put puts key=value without a lease.
func (h *Harness) Put(key, value string) {
	h.T.Helper()
	h.Must(statemachine.NewCommand(statemachine.OpPut, &wire.PutRequest{Key: []byte(key), Value: []byte(value)}), nil)
}

// Rev returns the shard's current revision.
func (h *Harness) Rev() int64 {
	cur, _ := h.Shard.Revision()
	return cur
}

// Get reads key at rev (0: current); nil if absent.
func (h *Harness) Get(key []byte, rev int64) *wire.KeyValue {
	h.T.Helper()
	resp, err := h.Shard.Range(&wire.RangeRequest{Key: key, Revision: rev})
	require.NoError(h.T, err)
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

// Keys reads the live keys with prefix at rev (0: current).
func (h *Harness) Keys(prefix []byte, rev int64) []*wire.KeyValue {
	h.T.Helper()
	resp, err := h.Shard.Range(&wire.RangeRequest{Key: prefix, RangeEnd: wire.PrefixEnd(prefix), Revision: rev})
	require.NoError(h.T, err)
	return resp.Kvs
}

// Compact compacts the shard at its current revision (a no-op when it is
// compacted there already).
func (h *Harness) Compact() {
	h.T.Helper()
	if rev := h.Rev(); rev > 0 {
		if _, comp := h.Shard.Revision(); comp < rev {
			h.Must(statemachine.NewCommand(statemachine.OpCompact, &wire.CompactRequest{Revision: rev}), nil)
		}
	}
}
