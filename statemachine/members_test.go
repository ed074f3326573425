package statemachine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

func (h *harness) publish(rec MemberRecord) (Result, []wire.Event) {
	h.t.Helper()
	rs, evs := h.apply(&Command{Op: OpMemberPublish, req: &MemberPublish{Record: rec}})
	return rs[0], evs
}

func publishChanged(t *testing.T, r Result) bool {
	t.Helper()
	var resp MemberPublishResponse
	decodeOK(t, r, &resp)
	return resp.Changed
}

// TestMemberRegistry: publishes set records (sorted by name, also within
// one batch), the same record again writes nothing, a changed one
// replaces it; the registry survives a reopen and a snapshot restore
// into a fresh shard; invalid records are refused.
func TestMemberRegistry(t *testing.T) {
	h := newHarness(t)
	require.Empty(t, h.sh.Members())
	n2 := MemberRecord{Name: "n2", NodeID: 2, Peer: "127.0.0.1:2", Client: "127.0.0.1:12", Etcd: "http://127.0.0.1:22", HTTP: "127.0.0.1:32"}
	n1 := MemberRecord{Name: "n1", NodeID: 1, Peer: "127.0.0.1:1", Client: "127.0.0.1:11"}
	rs, _ := h.apply(
		&Command{Op: OpMemberPublish, req: &MemberPublish{Record: n2}},
		&Command{Op: OpMemberPublish, req: &MemberPublish{Record: n1}},
		&Command{Op: OpMemberPublish, req: &MemberPublish{Record: n1}},
	)
	require.True(t, publishChanged(t, rs[0]))
	require.True(t, publishChanged(t, rs[1]))
	require.False(t, publishChanged(t, rs[2]), "the same record again in the batch")
	require.Equal(t, []MemberRecord{n1, n2}, h.sh.Members())

	// The same record: no write but the meta record's (the applied
	// index), one more for a changed record.
	var count uint32
	testCommitHook = func(b *pebble.Batch) { count += b.Count() }
	defer func() { testCommitHook = nil }()
	r, _ := h.publish(n2)
	require.False(t, publishChanged(t, r))
	require.Equal(t, uint32(1), count)

	// A changed record replaces the old one.
	n1.Etcd = "http://127.0.0.1:21"
	r, _ = h.publish(n1)
	require.True(t, publishChanged(t, r))
	require.Equal(t, uint32(1+2), count)
	testCommitHook = nil
	require.Equal(t, []MemberRecord{n1, n2}, h.sh.Members())

	// Invalid records change nothing.
	r, _ = h.publish(MemberRecord{Peer: "x:1"})
	require.Equal(t, wire.CodeInvalid, r.Code)
	r, _ = h.publish(MemberRecord{Name: "n3", Client: strings.Repeat("x", MaxMemberField+1)})
	require.Equal(t, wire.CodeInvalid, r.Code)
	require.Equal(t, []MemberRecord{n1, n2}, h.sh.Members())

	require.NoError(t, h.sh.Close())
	_, err := h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, []MemberRecord{n1, n2}, h.sh.Members())

	// A fresh shard restored from a snapshot knows the registry, and
	// a shard whose registry differs gets the snapshot's.
	other := newHarness(t)
	other.publish(MemberRecord{Name: "n0", Client: "elsewhere:1"})
	require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Equal(t, []MemberRecord{n1, n2}, other.sh.Members())
	require.Equal(t, mustHash(t, h.sh), mustHash(t, other.sh))
	fresh := newHarness(t)
	require.NoError(t, fresh.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Equal(t, []MemberRecord{n1, n2}, fresh.sh.Members())

	// The members' published slice is not modified by later publishes.
	got := h.sh.Members()
	n2.HTTP = "127.0.0.1:33"
	h.publish(n2)
	require.Equal(t, "127.0.0.1:32", got[1].HTTP)
	require.Equal(t, "127.0.0.1:33", h.sh.Members()[1].HTTP)
}

// TestMemberRegistryOutsideKeyspace: publishing takes no revision, makes
// no event, and shows in no range (everything, from-key, the reserved
// prefix) nor in the history; the keyspace is exactly as before.
func TestMemberRegistryOutsideKeyspace(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h.put("\x00x", "low")
	h.put("z", "2")
	ranges := []*wire.RangeRequest{
		{Key: []byte{0}, RangeEnd: []byte{0}},                 // from the smallest key: everything
		{Key: []byte("\x00coord/"), RangeEnd: []byte{0}},      // from the reserved prefix on
		{Key: []byte("\x00coord/"), RangeEnd: []byte("\x01")}, // the reserved prefix
		{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true},
	}
	snap := func() (out []*wire.RangeResponse) {
		for _, r := range ranges {
			out = append(out, h.rng(r))
		}
		return out
	}
	before := snap()
	curBefore, compBefore := h.sh.Revision()
	histBefore, _, err := h.sh.History([]byte{0}, []byte{0}, 1, 0, true, 0)
	require.NoError(t, err)

	for _, name := range []string{"n1", "\x00coord/members/n2", "zz"} {
		r, evs := h.publish(MemberRecord{Name: name, NodeID: 1, Peer: "p:1", Client: "c:1", Etcd: "http://e:1", HTTP: "h:1"})
		require.True(t, publishChanged(t, r))
		require.Empty(t, evs, "a publish makes no event")
	}
	require.Len(t, h.sh.Members(), 3)

	cur, comp := h.sh.Revision()
	require.Equal(t, curBefore, cur, "a publish takes no revision")
	require.Equal(t, compBefore, comp)
	require.Equal(t, before, snap())
	hist, _, err := h.sh.History([]byte{0}, []byte{0}, 1, 0, true, 0)
	require.NoError(t, err)
	require.Equal(t, histBefore, hist)

	// The next write takes the next revision, as if nothing happened.
	require.Equal(t, curBefore+1, h.put("b", "3").Header.Revision)
}

// TestMemberRecordWire pins the msgpack names of a published record (they
// are in the log and in snapshots: never change them).
func TestMemberRecordWire(t *testing.T) {
	b, err := msgpack.Marshal(&MemberPublish{Record: MemberRecord{Name: "n1", NodeID: 1, Peer: "p", Client: "c", Etcd: "e", HTTP: "h"}})
	require.NoError(t, err)
	var m map[string]map[string]any
	require.NoError(t, msgpack.Unmarshal(b, &m))
	require.Equal(t, map[string]map[string]any{"r": {"n": "n1", "id": uint64(1), "pa": "p", "ca": "c", "ea": "e", "ha": "h"}}, m)
}

func (h *harness) memberOp(op string, req any) (MemberChangeResponse, wire.Code) {
	h.t.Helper()
	rs, _ := h.apply(&Command{Op: op, req: req})
	var resp MemberChangeResponse
	if rs[0].Code == wire.OK {
		decodeOK(h.t, rs[0], &resp)
	}
	return resp, rs[0].Code
}

// TestMemberAddPromoteRemove: an add takes the next node ID (above the
// proposer's floor and every record, tombstones included) and records a
// learner; the same add again answers the same record; another member of
// that name or at that peer is refused; promote clears the learner flags
// (once: a voter is CodeNotLearner); the member's own publish keeps the
// registry's flags; remove leaves a tombstone whose ID is never given
// again, whose name may be added anew, and whose member may not publish.
func TestMemberAddPromoteRemove(t *testing.T) {
	h := newHarness(t)
	h.publish(MemberRecord{Name: "n1", NodeID: 1, Peer: "h:1", Client: "h:11"})

	r, code := h.memberOp(OpMemberAdd, &MemberAdd{Name: "n4", Peer: "h:4", MinNodeID: 4, StayLearner: true})
	require.Equal(t, wire.OK, code)
	n4 := MemberRecord{Name: "n4", NodeID: 4, Peer: "h:4", Learner: true, StayLearner: true}
	require.Equal(t, n4, r.Record)
	require.False(t, r.Existed)

	r, code = h.memberOp(OpMemberAdd, &MemberAdd{Name: "n4", Peer: "h:4", MinNodeID: 9})
	require.Equal(t, wire.OK, code)
	require.True(t, r.Existed, "the same add again")
	require.Equal(t, n4, r.Record)
	_, code = h.memberOp(OpMemberAdd, &MemberAdd{Name: "n4", Peer: "h:5"})
	require.Equal(t, wire.CodeAlreadyExists, code)
	_, code = h.memberOp(OpMemberAdd, &MemberAdd{Name: "n5", Peer: "h:1"})
	require.Equal(t, wire.CodeAlreadyExists, code, "n1's peer")
	_, code = h.memberOp(OpMemberAdd, &MemberAdd{Name: "n5"})
	require.Equal(t, wire.CodeInvalid, code, "no peer")

	// n4 starts and publishes: the registry keeps it a learner.
	r0, _ := h.publish(MemberRecord{Name: "n4", NodeID: 4, Peer: "h:4", Client: "h:14"})
	require.True(t, publishChanged(t, r0))
	n4.Client = "h:14"
	require.Equal(t, n4, h.sh.Members()[1])

	r, code = h.memberOp(OpMemberPromote, &MemberPromote{Name: "n4"})
	require.Equal(t, wire.OK, code)
	n4.Learner, n4.StayLearner = false, false
	require.Equal(t, n4, r.Record)
	_, code = h.memberOp(OpMemberPromote, &MemberPromote{Name: "n4"})
	require.Equal(t, wire.CodeNotLearner, code)
	_, code = h.memberOp(OpMemberPromote, &MemberPromote{Name: "nx"})
	require.Equal(t, wire.CodeNotFound, code)

	// Remove n1, and n2 that never published (a tombstone from the
	// request); again is not found; n1 may not publish any more.
	r, code = h.memberOp(OpMemberRemove, &MemberRemove{Name: "n1", NodeID: 1})
	require.Equal(t, wire.OK, code)
	require.True(t, r.Record.Removed)
	_, code = h.memberOp(OpMemberRemove, &MemberRemove{Name: "n2", NodeID: 2, Peer: "h:2"})
	require.Equal(t, wire.OK, code)
	_, code = h.memberOp(OpMemberRemove, &MemberRemove{Name: "n1"})
	require.Equal(t, wire.CodeNotFound, code)
	r0, _ = h.publish(MemberRecord{Name: "n1", NodeID: 1, Peer: "h:1", Client: "h:11"})
	require.Equal(t, wire.CodeMemberRemoved, r0.Code)
	_, code = h.memberOp(OpMemberPromote, &MemberPromote{Name: "n1"})
	require.Equal(t, wire.CodeNotFound, code)

	// n1's peer and name are free again, with a new ID.
	r, code = h.memberOp(OpMemberAdd, &MemberAdd{Name: "n1", Peer: "h:1"})
	require.Equal(t, wire.OK, code)
	require.Equal(t, uint64(5), r.Record.NodeID)
	require.True(t, r.Record.Learner)

	// The registry survives a snapshot restore.
	fresh := newHarness(t)
	require.NoError(t, fresh.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Equal(t, h.sh.Members(), fresh.sh.Members())
}
