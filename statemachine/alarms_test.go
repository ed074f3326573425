package statemachine

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/locks/semaphorerules"
	"github.com/coord-io/coord/queue/queuerules"
)

func (h *harness) raise(member string) Result {
	h.t.Helper()
	return h.apply1(&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: wire.Alarm{Member: member, Type: wire.AlarmNoSpace}}})
}

func (h *harness) disarm(member string, typ wire.AlarmType) []wire.Alarm {
	h.t.Helper()
	var resp wire.AlarmResponse
	decodeOK(h.t, h.apply1(&Command{Op: OpAlarmDeactivate, req: &AlarmDeactivate{Member: member, Type: typ}}), &resp)
	return resp.Alarms
}

var (
	alarmN1 = wire.Alarm{Member: "n1", Type: wire.AlarmNoSpace}
	alarmN2 = wire.Alarm{Member: "n2", Type: wire.AlarmNoSpace}
)

// TestAlarmRecords: raising records an alarm (sorted, once, no revision,
// no event), disarming removes the matching ones; alarms survive a
// reopen and travel in snapshots; bad alarms are refused.
func TestAlarmRecords(t *testing.T) {
	h := newHarness(t)
	require.Empty(t, h.sh.Alarms())
	h.put("a", "1")
	rev, _ := h.sh.Revision()

	rs, evs := h.apply(
		&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: alarmN2}},
		&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: alarmN1}},
		&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: alarmN1}},
	)
	for _, r := range rs {
		require.Equal(t, wire.OK, r.Code)
	}
	require.Empty(t, evs, "an alarm is no event")
	after, _ := h.sh.Revision()
	require.Equal(t, rev, after, "an alarm makes no revision")
	require.Equal(t, []wire.Alarm{alarmN1, alarmN2}, h.sh.Alarms())
	require.Zero(t, h.rng(&wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true}).Count-1, "alarms are outside the keyspace")

	require.Equal(t, wire.CodeInvalid, h.apply1(&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: wire.Alarm{Member: "n3"}}}).Code)
	require.Equal(t, wire.CodeInvalid, h.apply1(&Command{Op: OpAlarmActivate, req: &AlarmActivate{Alarm: wire.Alarm{Type: wire.AlarmNoSpace}}}).Code)
	require.Equal(t, wire.CodeInvalid, h.raise(strings.Repeat("n", MaxMemberField+1)).Code)

	require.NoError(t, h.sh.Close())
	_, err := h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, []wire.Alarm{alarmN1, alarmN2}, h.sh.Alarms())

	// A fresh shard restored from a snapshot has the alarms; one that
	// had others has the snapshot's.
	other := newHarness(t)
	other.raise("n9")
	require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Equal(t, []wire.Alarm{alarmN1, alarmN2}, other.sh.Alarms())

	require.Empty(t, h.disarm("n3", wire.AlarmNone), "no alarm of n3")
	require.Equal(t, []wire.Alarm{alarmN2}, h.disarm("n2", wire.AlarmNoSpace))
	require.Equal(t, []wire.Alarm{alarmN1}, h.sh.Alarms())
	require.Equal(t, []wire.Alarm{alarmN1}, h.disarm("", wire.AlarmNone))
	require.Empty(t, h.sh.Alarms())

	// A snapshot without alarms clears them.
	require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	require.Empty(t, other.sh.Alarms())
}

// TestNoSpaceRefusesGrowingWrites: while a NOSPACE alarm is raised, a
// put, a txn with a put (in either branch), a lease grant, a lock and an
// enqueue fail with CodeNoSpace naming the member, and change nothing;
// reads, deletes, txns without puts, compaction and lease revokes still
// apply; after the disarm, writes apply again.
func TestNoSpaceRefusesGrowingWrites(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h.put("b", "2")
	var grant wire.LeaseGrantResponse
	decodeOK(t, h.apply1(&Command{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 60}}), &grant)
	require.Equal(t, wire.OK, h.raise("n1").Code)
	rev, _ := h.sh.Revision()

	refused := []*Command{
		{Op: OpPut, req: &wire.PutRequest{Key: []byte("c"), Value: []byte("3")}},
		{Op: OpPut, req: &wire.PutRequest{Key: []byte("a"), Value: []byte("smaller")}},
		{Op: OpTxn, req: &wire.TxnRequest{Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("c")}}}}},
		{Op: OpTxn, req: &wire.TxnRequest{
			Compare: []wire.Compare{{Key: []byte("a"), Target: wire.CompareValue, Result: wire.CompareEqual, Value: []byte("1")}},
			Success: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: []byte("b")}}},
			Failure: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("c")}}},
		}},
		{Op: OpLeaseGrant, req: &LeaseGrant{TTL: 60}},
		{Op: lockrules.OpLock, req: &wire.LockRequest{Name: "l", Lease: grant.ID}},
		{Op: queuerules.OpEnqueue, req: &wire.EnqueueRequest{Name: "q", Values: [][]byte{[]byte("v")}}},
	}
	rs, evs := h.apply(refused...)
	for i, r := range rs {
		werr := decodeErr(t, r)
		require.Equal(t, wire.CodeNoSpace, werr.Code, "command %d (%s)", i, refused[i].Op)
		require.Contains(t, werr.Message, "database space exceeded (alarm NOSPACE raised on member n1)")
	}
	require.Empty(t, evs)
	after, _ := h.sh.Revision()
	require.Equal(t, rev, after)
	// Only the applied index moved: the state hash covers the meta
	// record, so compare the keyspace instead.
	require.Equal(t, []string{"a=1", "b=2"}, kvs(h.rng(&wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})))

	// What frees space or only reads still applies.
	require.Equal(t, "1", string(h.get("a", 0).Value))
	txn := h.txn(&wire.TxnRequest{Success: []wire.RequestOp{{Range: &wire.RangeRequest{Key: []byte("a")}}, {DeleteRange: &wire.DeleteRangeRequest{Key: []byte("a")}}}})
	require.True(t, txn.Succeeded)
	require.Equal(t, int64(1), h.del("b", "").Deleted)
	cur, _ := h.sh.Revision()
	require.Equal(t, wire.OK, h.compact(cur).Code)
	require.Equal(t, wire.OK, h.apply1(&Command{Op: OpLeaseRenew, req: &LeaseRenew{IDs: []int64{grant.ID}}}).Code)
	require.Equal(t, wire.OK, h.apply1(&Command{Op: OpLeaseRevoke, req: &LeaseRevoke{ID: grant.ID}}).Code)
	require.Equal(t, wire.OK, h.apply1(&Command{Op: OpMemberPublish, req: &MemberPublish{Record: MemberRecord{Name: "n1"}}}).Code)

	// Disarmed, writes apply again (also in the same batch).
	rs, _ = h.apply(
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("c"), Value: []byte("3")}},
		&Command{Op: OpAlarmDeactivate, req: &AlarmDeactivate{}},
		&Command{Op: OpPut, req: &wire.PutRequest{Key: []byte("c"), Value: []byte("3")}},
	)
	require.Equal(t, wire.CodeNoSpace, rs[0].Code)
	require.Equal(t, wire.OK, rs[1].Code)
	require.Equal(t, wire.OK, rs[2].Code)
	require.Equal(t, "3", string(h.get("c", 0).Value))
}

// TestNoSpaceRetryAnswersFirstResult: a write applied before the alarm,
// retried while it is raised, gets its first result (exactly-once comes
// first); a write refused for NOSPACE, retried after the disarm, gets
// the refusal again (a new write is a new sequence number).
func TestNoSpaceRetryAnswersFirstResult(t *testing.T) {
	h := newHarness(t)
	put := func(seq uint64, key string) Result {
		return h.apply1(&Command{ClientID: 9, Seq: seq, Op: OpPut, req: &wire.PutRequest{Key: []byte(key), Value: []byte("v")}})
	}
	require.Equal(t, wire.OK, put(1, "a").Code)
	h.raise("n1")
	require.Equal(t, wire.OK, put(1, "a").Code, "a retry of a write applied before the alarm")
	require.Equal(t, wire.CodeNoSpace, put(2, "b").Code)
	h.disarm("", wire.AlarmNone)
	require.Equal(t, wire.CodeNoSpace, put(2, "b").Code, "a retry answers the first result")
	require.Equal(t, wire.OK, put(3, "b").Code)
}

// TestNoSpaceOpTable: every operation the state machine applies is
// classified here as growing the store (refused under NOSPACE) or not,
// so that an op added without a decision fails this test.
func TestNoSpaceOpTable(t *testing.T) {
	grows := map[string]bool{
		OpPut: true, OpDelete: false, OpTxn: true /* with a put */, OpCompact: false,
		OpLeaseGrant: true, OpLeaseRevoke: false, OpLeaseRenew: false,
		OpClusterIdentity: false, OpMemberPublish: false, OpAlarmActivate: false, OpAlarmDeactivate: false,
		// Membership changes stay possible under NOSPACE (replacing a member is
		// how an operator may get out of it), as etcd allows them.
		OpMemberAdd: false, OpMemberPromote: false, OpMemberRemove: false,
		lockrules.OpLock: true, lockrules.OpUnlock: false,
		electionrules.OpCampaign: true, electionrules.OpProclaim: true, electionrules.OpResign: false,
		queuerules.OpEnqueue: true, queuerules.OpDequeue: true, queuerules.OpAck: false,
		barrierrules.OpBarrier:   true, // hold and enter; see below
		semaphorerules.OpAcquire: true, semaphorerules.OpRelease: false,
		wire.MethodAuthEnable: false, wire.MethodAuthDisable: false,
		wire.MethodUserAdd: false, wire.MethodUserDelete: false, wire.MethodUserPasswd: false,
		wire.MethodUserGrantRole: false, wire.MethodUserRevokeRole: false,
		wire.MethodRoleAdd: false, wire.MethodRoleDelete: false,
		wire.MethodRoleGrantPermission: false, wire.MethodRoleRevokePermission: false,
	}
	var names []string
	for name := range ops {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want, ok := grows[name]
		require.True(t, ok, "operation %q: decide whether it grows the store (refused under NOSPACE) and add it here", name)
		op := ops[name]
		req := op.newReq()
		if name == OpTxn {
			req = &wire.TxnRequest{Failure: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("k")}}}}
		}
		if name == barrierrules.OpBarrier {
			req = &wire.BarrierRequest{Name: "b", Op: wire.BarrierHold}
		}
		require.Equal(t, want, op.grows != nil && op.grows(req), name)
	}
	require.Len(t, grows, len(names), "an op of this table is not registered")
	barrier := ops[barrierrules.OpBarrier]
	for op, want := range map[uint8]bool{wire.BarrierHold: true, wire.BarrierEnter: true, wire.BarrierRelease: false, wire.BarrierLeave: false, wire.BarrierWait: false} {
		require.Equal(t, want, barrier.grows(&wire.BarrierRequest{Op: op}), "barrier op %d", op)
	}
	require.False(t, txnGrows(&wire.TxnRequest{Success: []wire.RequestOp{{DeleteRange: &wire.DeleteRangeRequest{Key: []byte("k")}}}}))
}

// TestStoreDefragment: after the keys of a 2 MiB store are deleted and
// compacted away, Defragment gives the space back, and the size it
// reports after is the store's size then (it failed before Defragment
// committed to the new WAL: Pebble's metrics still counted the retired
// WAL, 1.3 MB, as live).
func TestStoreDefragment(t *testing.T) {
	h := newHarness(t)
	v := strings.Repeat("x", 256<<10)
	for i := 0; i < 9; i++ {
		h.put(fmt.Sprintf("fill/%d", i), v)
	}
	require.Equal(t, int64(9), h.del("fill/", "fill0").Deleted)
	cur, _ := h.sh.Revision()
	require.Equal(t, wire.OK, h.compact(cur).Code)
	before, after, err := h.st.Defragment()
	require.NoError(t, err)
	require.Greater(t, before, int64(2<<20))
	require.Less(t, after, int64(64<<10), "before %d", before)
	require.Equal(t, after, h.st.DiskSize())
	require.NoError(t, h.st.Close())
	_, _, err = h.st.Defragment()
	require.ErrorIs(t, err, ErrClosed)
}
