package wire

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMethodTable pins the method table: every method constant is in it
// once, with the attributes the client and the server have always given
// it, and message types that are pointers to this package's structs.
func TestMethodTable(t *testing.T) {
	type attrs struct{ write, waits, resumable, streams bool }
	const (
		w = 1 << iota
		wt
		rs
		st
	)
	want := map[string]int{
		MethodPut: w, MethodRange: 0, MethodDelete: w, MethodTxn: w, MethodCompact: w, MethodStatus: 0,
		MethodLeaseGrant: w, MethodLeaseRevoke: w, MethodLeaseKeepAlive: 0, MethodLeaseTimeToLive: 0,
		MethodLeaseLeases: 0, MethodWatch: wt | st,
		MethodLock: w | wt | rs, MethodUnlock: w, MethodLockStatus: 0,
		MethodCampaign: w | wt | rs, MethodProclaim: w, MethodResign: w, MethodLeader: wt | st,
		MethodEnqueue: w, MethodDequeue: w, MethodAck: w, MethodQueueInfo: 0, MethodQueueWait: wt,
		MethodBarrier:    w | wt | rs,
		MethodSemAcquire: w | wt | rs, MethodSemRelease: w, MethodSemStatus: 0,
		MethodAuthenticate: 0, MethodAuthEnable: w, MethodAuthDisable: w, MethodAuthStatus: 0,
		MethodUserAdd: w, MethodUserDelete: w, MethodUserGet: 0, MethodUserList: 0, MethodUserPasswd: w,
		MethodUserGrantRole: w, MethodUserRevokeRole: w,
		MethodRoleAdd: w, MethodRoleDelete: w, MethodRoleGet: 0, MethodRoleList: 0,
		MethodRoleGrantPermission: w, MethodRoleRevokePermission: w,
		MethodAlarm: 0, MethodDefrag: 0, MethodHash: 0,
		MethodSnapshot:  wt | st,
		MethodMemberAdd: 0, MethodMemberPromote: 0, MethodMemberRemove: 0, MethodMemberMoveLeader: 0,
	}
	seen := map[string]bool{}
	for _, m := range Methods() {
		require.False(t, seen[m.Name], "%s is in the table twice", m.Name)
		seen[m.Name] = true
		f, ok := want[m.Name]
		require.True(t, ok, "%s is in the table but not in this test", m.Name)
		require.Equal(t, attrs{f&w != 0, f&wt != 0, f&rs != 0, f&st != 0}, attrs{m.Write, m.Waits, m.Resumable, m.Streams}, m.Name)
		require.True(t, !m.Resumable || m.Waits && m.Write, "%s: a resumable wait is a write that waits", m.Name)
		require.True(t, IsMethod(m.Name))
		got, ok := LookupMethod(m.Name)
		require.True(t, ok)
		require.Equal(t, m.Name, got.Name)
		for _, v := range []any{m.NewRequest(), m.NewResponse()} {
			typ := reflect.TypeOf(v)
			require.Equal(t, reflect.Pointer, typ.Kind(), m.Name)
			require.Equal(t, reflect.Struct, typ.Elem().Kind(), m.Name)
			require.Equal(t, reflect.TypeOf(Method{}).PkgPath(), typ.Elem().PkgPath(), m.Name)
		}
	}
	require.Len(t, seen, len(want), "a method of this test is missing from the table")
	require.False(t, IsMethod("kv.frobnicate"))
	_, ok := LookupMethod("")
	require.False(t, ok)
}

// TestMethodRequestKinds: the requests of a write method that only read
// are not writes, and a leader request without Observe is not a stream.
func TestMethodRequestKinds(t *testing.T) {
	m := func(name string) *Method {
		got, ok := LookupMethod(name)
		require.True(t, ok)
		return got
	}
	for _, c := range []struct {
		method string
		req    any
		write  bool
		stream bool
	}{
		{MethodPut, &PutRequest{}, true, false},
		{MethodRange, &RangeRequest{}, false, false},
		{MethodDequeue, &DequeueRequest{}, true, false},
		{MethodQueueWait, &QueueWaitRequest{}, false, false},
		{MethodLock, &LockRequest{}, true, false},
		{MethodLock, &LockRequest{Resume: []byte("k")}, false, false},
		{MethodCampaign, &CampaignRequest{}, true, false},
		{MethodCampaign, &CampaignRequest{Resume: []byte("k")}, false, false},
		{MethodSemAcquire, &SemaphoreAcquireRequest{}, true, false},
		{MethodSemAcquire, &SemaphoreAcquireRequest{Resume: []byte("k")}, false, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierHold}, true, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierRelease}, true, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierWait}, false, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierEnter}, true, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierEnter, Resume: true}, false, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierLeave}, true, false},
		{MethodBarrier, &BarrierRequest{Op: BarrierLeave, Resume: true}, false, false},
		{MethodWatch, &WatchRequest{}, false, true},
		{MethodLeader, &LeaderRequest{}, false, false},
		{MethodLeader, &LeaderRequest{Observe: true}, false, true},
	} {
		require.Equal(t, c.write, m(c.method).IsWrite(c.req), "%s %+v", c.method, c.req)
		require.Equal(t, c.stream, m(c.method).IsStream(c.req), "%s %+v", c.method, c.req)
	}
}
