package statemachine

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// lid is the ID of the n-th lease granted in the harness's shard (7).
func lid(n uint64) int64 { return wire.LeaseID(7, n) }

func grantCmd(ttl int64) *Command { return &Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: ttl}} }

func revokeCmd(id int64) *Command { return &Command{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: id}} }

func expireCmd(id int64, seq uint64) *Command {
	return &Command{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: id, Expire: true, RenewSeq: seq}}
}

func renewCmd(ids ...int64) *Command { return &Command{Op: OpLeaseRenew, req: &LeaseRenew{IDs: ids}} }

func leasePut(key, value string, lease int64) *Command {
	return &Command{Op: OpPut, req: &wire.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease}}
}

func (h *harness) grant(ttl int64) *wire.LeaseGrantResponse {
	h.t.Helper()
	var resp wire.LeaseGrantResponse
	decodeOK(h.t, h.apply1(grantCmd(ttl)), &resp)
	return &resp
}

func (h *harness) revoke(cmd *Command) *wire.LeaseRevokeResponse {
	h.t.Helper()
	var resp wire.LeaseRevokeResponse
	decodeOK(h.t, h.apply1(cmd), &resp)
	return &resp
}

func (h *harness) renew(ids ...int64) *wire.LeaseKeepAliveResponse {
	h.t.Helper()
	var resp wire.LeaseKeepAliveResponse
	decodeOK(h.t, h.apply1(renewCmd(ids...)), &resp)
	return &resp
}

func (h *harness) leaseKeys(id int64) []string {
	h.t.Helper()
	keys, err := h.sh.LeaseKeys(id)
	require.NoError(h.t, err)
	var out []string
	for _, k := range keys {
		out = append(out, string(k))
	}
	return out
}

func (h *harness) lease(id int64) (LeaseInfo, bool) {
	h.t.Helper()
	info, ok, err := h.sh.Lease(id)
	require.NoError(h.t, err)
	return info, ok
}

// takeChanges returns the lease changes reported since the last call.
func (h *harness) takeChanges() []LeaseChange {
	c := h.leaseChanges
	h.leaseChanges = nil
	return c
}

func TestLeaseGrant(t *testing.T) {
	h := newHarness(t)
	h.put("x", "1")
	g := h.grant(10)
	require.Equal(t, lid(1), g.ID)
	require.EqualValues(t, 10, g.TTL)
	require.EqualValues(t, 2, g.Header.Revision, "a grant makes no revision")
	shard, ok := wire.LeaseShard(g.ID)
	require.True(t, ok)
	require.EqualValues(t, 7, shard)
	require.Equal(t, lid(2), h.grant(3).ID)
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 2, cur)

	for _, ttl := range []int64{0, -5} {
		r := h.apply1(grantCmd(ttl))
		require.Equal(t, wire.CodeInvalid, r.Code)
	}
	require.Equal(t, lid(3), h.grant(1).ID, "failed grants use no number")

	leases, err := h.sh.Leases()
	require.NoError(t, err)
	require.Equal(t, []LeaseInfo{{ID: lid(1), TTL: 10}, {ID: lid(2), TTL: 3}, {ID: lid(3), TTL: 1}}, leases)
	info, ok := h.lease(lid(2))
	require.True(t, ok)
	require.Equal(t, LeaseInfo{ID: lid(2), TTL: 3}, info)
	_, ok = h.lease(lid(9))
	require.False(t, ok)
	require.Equal(t, []LeaseChange{{ID: lid(1), TTL: 10}, {ID: lid(2), TTL: 3}, {ID: lid(3), TTL: 1}}, h.takeChanges())

	// Read methods fail after Close, like Range.
	require.NoError(t, h.sh.Close())
	_, err = h.sh.Leases()
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = h.sh.Lease(lid(1))
	require.ErrorIs(t, err, ErrClosed)
	_, err = h.sh.LeaseKeys(lid(1))
	require.ErrorIs(t, err, ErrClosed)
}

func TestLeaseAttach(t *testing.T) {
	l1, l2 := lid(1), lid(2)
	type step struct {
		cmd  *Command
		want map[int64][]string // attached keys of l1 and l2 after the step
	}
	txn := func(ops ...wire.RequestOp) *Command { return &Command{Op: OpTxn, req: &wire.TxnRequest{Success: ops}} }
	putOp := func(k string, lease int64) wire.RequestOp {
		return wire.RequestOp{Put: &wire.PutRequest{Key: []byte(k), Value: []byte("v"), Lease: lease}}
	}
	delOp := func(k, end string) wire.RequestOp {
		return wire.RequestOp{DeleteRange: &wire.DeleteRangeRequest{Key: []byte(k), RangeEnd: bytesOrNil(end)}}
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"attach", []step{
			{leasePut("a", "1", l1), map[int64][]string{l1: {"a"}}},
			{leasePut("b", "1", l1), map[int64][]string{l1: {"a", "b"}}},
		}},
		{"re-put with same lease", []step{
			{leasePut("a", "1", l1), map[int64][]string{l1: {"a"}}},
			{leasePut("a", "2", l1), map[int64][]string{l1: {"a"}}},
		}},
		{"re-attach to another lease", []step{
			{leasePut("a", "1", l1), map[int64][]string{l1: {"a"}}},
			{leasePut("a", "2", l2), map[int64][]string{l2: {"a"}}},
		}},
		{"put without lease detaches", []step{
			{leasePut("a", "1", l1), map[int64][]string{l1: {"a"}}},
			{leasePut("a", "2", 0), nil},
		}},
		{"delete detaches", []step{
			{leasePut("a", "1", l1), map[int64][]string{l1: {"a"}}},
			{&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a")}}, nil},
		}},
		{"range delete detaches", []step{
			{leasePut("a", "1", l1), nil},
			{leasePut("b", "1", l2), nil},
			{leasePut("c", "1", l1), map[int64][]string{l1: {"a", "c"}, l2: {"b"}}},
			{&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c")}}, map[int64][]string{l1: {"c"}}},
		}},
		{"txn put attaches, txn delete detaches", []step{
			{txn(putOp("a", l1), putOp("b", l2)), map[int64][]string{l1: {"a"}, l2: {"b"}}},
			{txn(delOp("a", ""), putOp("c", l1)), map[int64][]string{l1: {"c"}, l2: {"b"}}},
			{txn(delOp("\x00", "\x00")), nil},
		}},
		{"txn puts one key twice", []step{
			{txn(putOp("a", l1), putOp("a", l2)), map[int64][]string{l2: {"a"}}},
			{txn(putOp("a", 0), putOp("a", l1)), map[int64][]string{l1: {"a"}}},
			{txn(putOp("a", l2), delOp("a", "")), nil},
			{txn(delOp("a", ""), putOp("a", l1)), map[int64][]string{l1: {"a"}}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.grant(60)
			h.grant(60)
			for i, s := range tc.steps {
				r := h.apply1(s.cmd)
				require.Equal(t, wire.OK, r.Code, "step %d: %v", i, r.Code)
				if s.want == nil && i < len(tc.steps)-1 {
					continue
				}
				for _, id := range []int64{l1, l2} {
					require.Equal(t, s.want[id], h.leaseKeys(id), "step %d, lease %x", i, id)
					for _, k := range s.want[id] {
						require.Equal(t, id, h.get(k, 0).Lease, "step %d: key %s", i, k)
					}
				}
			}
		})
	}
}

func TestLeaseRevoke(t *testing.T) {
	h := newHarness(t)
	l := h.grant(5).ID
	other := h.grant(5).ID
	h.apply(leasePut("a", "1", l), leasePut("b", "2", l), leasePut("c", "3", other), leasePut("d", "4", 0), leasePut("b", "22", l))
	require.Equal(t, []string{"a", "b"}, h.leaseKeys(l))
	h.takeChanges()

	rs, events := h.apply(revokeCmd(l))
	var resp wire.LeaseRevokeResponse
	decodeOK(t, rs[0], &resp)
	require.EqualValues(t, 7, resp.Header.Revision, "one revision for all the keys")
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 7, cur)
	require.Equal(t, []wire.Event{
		{Type: wire.EventDelete, Shard: 7, Kv: &wire.KeyValue{Key: []byte("a"), ModRevision: 7},
			PrevKv: &wire.KeyValue{Key: []byte("a"), Value: []byte("1"), CreateRevision: 2, ModRevision: 2, Version: 1, Lease: l}},
		{Type: wire.EventDelete, Shard: 7, Kv: &wire.KeyValue{Key: []byte("b"), ModRevision: 7},
			PrevKv: &wire.KeyValue{Key: []byte("b"), Value: []byte("22"), CreateRevision: 3, ModRevision: 6, Version: 2, Lease: l}},
	}, events)
	require.Equal(t, []string{"c=3", "d=4"}, kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})))
	_, ok := h.lease(l)
	require.False(t, ok)
	require.Empty(t, h.leaseKeys(l))
	require.Equal(t, []LeaseChange{{ID: l, TTL: 5, Revoked: true}}, h.takeChanges())

	// Gone: revoke, renew and put fail or report 0.
	require.Equal(t, wire.CodeLeaseNotFound, h.apply1(revokeCmd(l)).Code)
	require.Equal(t, []int64{0}, h.renew(l).TTLs)
	require.Equal(t, wire.CodeLeaseNotFound, h.apply1(leasePut("a", "1", l)).Code)
	require.Empty(t, h.takeChanges())

	// A lease without keys: no revision.
	empty := h.grant(5).ID
	require.EqualValues(t, 7, h.revoke(revokeCmd(empty)).Header.Revision)
	cur, _ = h.sh.Revision()
	require.EqualValues(t, 7, cur)
	require.Equal(t, wire.CodeLeaseNotFound, h.apply1(revokeCmd(lid(99))).Code)
	require.Equal(t, wire.CodeLeaseNotFound, h.apply1(revokeCmd(wire.LeaseID(8, 1))).Code)
	require.Equal(t, wire.CodeLeaseNotFound, h.apply1(revokeCmd(0)).Code)
}

// TestLeaseRevokeInBatch revokes leases whose grant and attachments are
// in the same Apply batch, also across a compaction (which commits the
// batch so far).
func TestLeaseRevokeInBatch(t *testing.T) {
	h := newHarness(t)
	h.put("z", "0")
	l1, l2 := lid(1), lid(2)
	rs, events := h.apply(
		grantCmd(5), grantCmd(5),
		leasePut("a", "1", l1), leasePut("b", "1", l1),
		&Command{Op: OpCompact, req: &wire.CompactRequest{Revision: 2}},
		leasePut("c", "1", l1), leasePut("b", "2", l2), leasePut("d", "1", l2),
		revokeCmd(l1),
		leasePut("e", "1", l2),
		&Command{Op: OpDelete, req: &wire.DeleteRangeRequest{Key: []byte("d")}},
		revokeCmd(l2),
	)
	for i, r := range rs {
		require.Equal(t, wire.OK, r.Code, "command %d", i)
	}
	var deleted []string
	for _, e := range events {
		if e.Type == wire.EventDelete {
			deleted = append(deleted, fmt.Sprintf("%s@%d", e.Kv.Key, e.Kv.ModRevision))
		}
	}
	// Revisions: z 2, a 3, b 4, c 5, b 6, d 7, revoke l1 8 (a, c), e 9, delete d 10, revoke l2 11 (b, e).
	require.Equal(t, []string{"a@8", "c@8", "d@10", "b@11", "e@11"}, deleted)
	require.Equal(t, []string{"z=0"}, kvs(h.rng(&wire.RangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")})))
	leases, err := h.sh.Leases()
	require.NoError(t, err)
	require.Empty(t, leases)
	require.Empty(t, h.leaseKeys(l1))
	require.Empty(t, h.leaseKeys(l2))
}

func TestLeaseRenewAndExpire(t *testing.T) {
	h := newHarness(t)
	l := h.grant(7).ID
	h.apply(leasePut("a", "1", l))
	h.takeChanges()

	resp := h.renew(l, lid(42), wire.LeaseID(9, 1), l)
	require.Equal(t, []int64{l, lid(42), wire.LeaseID(9, 1), l}, resp.IDs)
	require.Equal(t, []int64{7, 0, 0, 7}, resp.TTLs)
	require.EqualValues(t, 2, resp.Header.Revision, "a renewal makes no revision")
	info, _ := h.lease(l)
	require.EqualValues(t, 2, info.RenewSeq)
	require.Equal(t, []LeaseChange{{ID: l, TTL: 7, RenewSeq: 1}, {ID: l, TTL: 7, RenewSeq: 2}}, h.takeChanges())

	// A lessor that saw RenewSeq 1 decides the lease expired: too late,
	// it was renewed since. Ignored, and reported as still alive.
	_, events := h.apply(expireCmd(l, 1))
	require.Empty(t, events)
	require.Equal(t, []string{"a"}, h.leaseKeys(l))
	require.NotNil(t, h.get("a", 0))
	require.Equal(t, []LeaseChange{{ID: l, TTL: 7, RenewSeq: 2}}, h.takeChanges())
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 2, cur)

	// With the current RenewSeq the expiry applies.
	_, events = h.apply(expireCmd(l, 2))
	require.Len(t, events, 1)
	require.Nil(t, h.get("a", 0))
	_, ok := h.lease(l)
	require.False(t, ok)
	require.Equal(t, []LeaseChange{{ID: l, TTL: 7, RenewSeq: 2, Revoked: true}}, h.takeChanges())

	// A client revoke ignores RenewSeq.
	l2 := h.grant(7).ID
	h.renew(l2)
	h.revoke(&Command{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: l2, RenewSeq: 0}})
	_, ok = h.lease(l2)
	require.False(t, ok)
}

func TestLeaseErrors(t *testing.T) {
	h := newHarness(t)
	l := h.grant(5).ID
	h.put("x", "1")
	foreign := wire.LeaseID(8, 1)
	txn := func(lease int64, succeed bool) *Command {
		cmp := wire.Compare{Key: []byte("x"), Target: wire.CompareValue, Result: wire.CompareEqual, Value: []byte("1")}
		if !succeed {
			cmp.Value = []byte("no")
		}
		return &Command{Op: OpTxn, req: &wire.TxnRequest{
			Compare: []wire.Compare{cmp},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("t"), Value: []byte("s"), Lease: lease}}},
			Failure: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("f"), Value: []byte("f")}}},
		}}
	}
	cases := []struct {
		name string
		cmd  *Command
		code wire.Code
		msg  string
	}{
		{"lease of another shard", leasePut("a", "1", foreign), wire.CodeWrongShard, "hash tag"},
		{"not a lease ID", leasePut("a", "1", 12345), wire.CodeLeaseNotFound, ""},
		{"negative lease ID", leasePut("a", "1", -1), wire.CodeLeaseNotFound, ""},
		{"missing lease", leasePut("a", "1", lid(3)), wire.CodeLeaseNotFound, ""},
		{"txn: lease of another shard, even in the branch not taken", txn(foreign, false), wire.CodeWrongShard, "routing key"},
		{"txn: missing lease in the branch taken", txn(lid(3), true), wire.CodeLeaseNotFound, ""},
		{"txn: missing lease in the branch not taken", txn(lid(3), false), wire.OK, ""},
		{"txn: existing lease", txn(l, true), wire.OK, ""},
		{"two operations", legacyCmd(&legacyCommand{LeaseGrant: &LeaseGrant{TTL: 1}, LeaseRenew: &LeaseRenew{}}), wire.CodeInvalid, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := h.sh.Revision()
			r := h.apply1(tc.cmd)
			require.Equal(t, tc.code, r.Code)
			if tc.code != wire.OK {
				require.Contains(t, decodeErr(t, r).Message, tc.msg)
				after, _ := h.sh.Revision()
				require.Equal(t, before, after, "a failed command writes nothing")
			}
		})
	}
	require.Equal(t, []string{"t"}, h.leaseKeys(l))
}

func TestLeaseExactlyOnce(t *testing.T) {
	h := newHarness(t)
	c := &Command{ClientID: 9, Seq: 1, Op: OpLeaseGrant, req: &LeaseGrant{TTL: 5}}
	rs, _ := h.apply(c, c)
	require.Equal(t, rs[0], rs[1], "a retried grant returns the first result")
	leases, err := h.sh.Leases()
	require.NoError(t, err)
	require.Len(t, leases, 1)
	require.Len(t, h.takeChanges(), 1)
}

func TestLeaseStatePersists(t *testing.T) {
	h := newHarness(t)
	h.grant(5)
	l2 := h.grant(6).ID
	h.apply(revokeCmd(lid(1)), leasePut("a", "1", l2), leasePut("b", "1", l2), renewCmd(l2))
	require.NoError(t, h.sh.Sync())
	hash := mustHash(t, h.sh)

	// Snapshot, then restore into another store.
	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.sh.SaveSnapshot(snap, &buf))

	// Reopen: the counter, the leases and the attachments are back.
	require.NoError(t, h.sh.Close())
	require.NoError(t, h.st.Close())
	st, err := OpenStore(h.dir, DefaultConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	h.st, h.sh = st, st.Shard(7)
	_, err = h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, hash, mustHash(t, h.sh))
	require.Equal(t, lid(3), h.grant(1).ID, "lease numbers are never reused")
	require.Equal(t, []string{"a", "b"}, h.leaseKeys(l2))

	r := newHarness(t)
	r.put("junk", "1")
	r.grant(1)
	require.NoError(t, r.sh.RecoverFromSnapshot(bytes.NewReader(buf.Bytes())))
	require.Equal(t, hash, mustHash(t, r.sh))
	info, ok := r.lease(l2)
	require.True(t, ok)
	require.Equal(t, LeaseInfo{ID: l2, TTL: 6, RenewSeq: 1}, info)
	require.Equal(t, []string{"a", "b"}, r.leaseKeys(l2))
	r.index = h.sh.AppliedIndex()
	require.Equal(t, lid(3), r.grant(1).ID)
	_, events := r.apply(revokeCmd(l2))
	require.Len(t, events, 2)
	require.Empty(t, r.leaseKeys(l2))

	// Lease state is part of the hash.
	a, b := newHarness(t), newHarness(t)
	a.grant(5)
	b.grant(5)
	require.Equal(t, mustHash(t, a.sh), mustHash(t, b.sh))
	a.renew(lid(1))
	b.renew(lid(2))
	require.NotEqual(t, mustHash(t, a.sh), mustHash(t, b.sh), "RenewSeq is hashed")
}

// TestPlainPutWritesNoLeaseKeys checks that a put without a lease on a key
// without one writes exactly what it wrote before leases existed: its
// version, and the meta once per batch.
func TestPlainPutWritesNoLeaseKeys(t *testing.T) {
	h := newHarness(t)
	var count uint32
	testCommitHook = func(b *pebble.Batch) { count += b.Count() }
	defer func() { testCommitHook = nil }()
	h.apply(leasePut("a", "1", 0), leasePut("b", "1", 0), leasePut("a", "2", 0))
	require.EqualValues(t, 4, count, "3 versions + meta")
}

// TestLeaseTTLCeiling: a grant over MaxLeaseTTL is refused whoever
// proposed it (members refuse far shorter ones): the lessor's deadline
// of a longer one would overflow.
func TestLeaseTTLCeiling(t *testing.T) {
	h := newHarness(t)
	r := h.apply1(grantCmd(MaxLeaseTTL + 1))
	require.Equal(t, wire.CodeInvalid, r.Code)
	require.Contains(t, decodeErr(t, r).Message, "over the maximum of 9000000000 s")
	require.EqualValues(t, MaxLeaseTTL, h.grant(MaxLeaseTTL).TTL)
}
