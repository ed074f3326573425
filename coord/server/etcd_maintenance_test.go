package server

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coord-io/coord/statemachine"
)

// TestEtcdMaintenance: Alarm lists none, Defragment succeeds, HashKV
// agrees across members at one revision and changes with the data, Hash
// agrees across members that applied the same writes and changes with
// them, MoveLeader moves the leadership to a follower and refuses an
// unknown member; Snapshot streams a backup.
func TestEtcdMaintenance(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	c := tc.etcdClient(clientv3.Config{})

	al, err := c.AlarmList(ctx)
	require.NoError(t, err)
	require.Empty(t, al.Alarms)
	_, err = c.AlarmDisarm(ctx, &clientv3.AlarmMember{Alarm: pb.AlarmType_NOSPACE})
	require.NoError(t, err)
	_, err = c.Defragment(ctx, tc.Member(0).EtcdAddr())
	require.NoError(t, err)

	p, err := c.Put(ctx, "h/1", "a")
	require.NoError(t, err)
	rev := p.Header.Revision
	var hashes []uint32
	for i := 0; i < 3; i++ {
		var h *clientv3.HashKVResponse
		require.Eventually(t, func() bool { // a follower may not have applied rev yet
			h, err = c.HashKV(ctx, tc.Member(i).EtcdAddr(), rev)
			return err == nil
		}, 20*time.Second, 20*time.Millisecond, "%v", err)
		require.Equal(t, rev, h.HashRevision)
		hashes = append(hashes, h.Hash)
	}
	require.Equal(t, hashes[0], hashes[1])
	require.Equal(t, hashes[0], hashes[2])
	p2, err := c.Put(ctx, "h/1", "b")
	require.NoError(t, err)
	var h *clientv3.HashKVResponse
	require.Eventually(t, func() bool { // member 0 may not have applied the put yet
		h, err = c.HashKV(ctx, tc.Member(0).EtcdAddr(), 0)
		return err == nil && h.HashRevision >= p2.Header.Revision
	}, 20*time.Second, 20*time.Millisecond, "%v", err)
	require.NotEqual(t, hashes[0], h.Hash)
	h2, err := c.HashKV(ctx, tc.Member(0).EtcdAddr(), rev)
	require.NoError(t, err)
	require.Equal(t, hashes[0], h2.Hash, "the hash at a past revision is the same")

	// Hash: of each member's whole store; equal once all have applied
	// the same writes, different after another write.
	// (clientv3 has no Hash call: the gRPC client, one per member.)
	var mcs []pb.MaintenanceClient
	for i := 0; i < 3; i++ {
		mcs = append(mcs, pb.NewMaintenanceClient(tc.etcdClient(clientv3.Config{}, tc.Member(i).EtcdAddr()).ActiveConnection()))
	}
	// memberHashes is each member's hash once it has applied minRev (nil
	// while one has not yet).
	memberHashes := func(minRev int64) []uint32 {
		var hs []uint32
		for i := 0; i < 3; i++ {
			h, err := mcs[i].Hash(ctx, &pb.HashRequest{})
			if err != nil || h.Header.Revision < minRev {
				return nil
			}
			hs = append(hs, h.Hash)
		}
		return hs
	}
	var hs []uint32
	require.Eventually(t, func() bool { // members' other records (leases, sessions) settle too
		hs = memberHashes(p2.Header.Revision)
		return hs != nil && hs[0] == hs[1] && hs[0] == hs[2]
	}, 20*time.Second, 100*time.Millisecond, "members' hashes differ")
	p3, err := c.Put(ctx, "h/1", "c")
	require.NoError(t, err)
	var hs2 []uint32
	require.Eventually(t, func() bool { hs2 = memberHashes(p3.Header.Revision); return hs2 != nil }, 20*time.Second, 20*time.Millisecond)
	require.NotEqual(t, hs[0], hs2[0], "a write changes the hash")

	// MoveLeader: to a follower, then that member leads; an unknown
	// member is a bad transferee.
	st, err := c.Status(ctx, tc.Member(0).EtcdAddr())
	require.NoError(t, err)
	var to uint64
	for i := 0; i < 3; i++ {
		if id := etcdMemberID(tc.Config(i).Name); id != st.Leader {
			to = id
			break
		}
	}
	_, err = c.MoveLeader(ctx, to)
	require.NoError(t, err)
	// Every member reports it (a member other than the one that answered
	// learns of the new leader a moment later).
	for i := 0; i < 3; i++ {
		require.Eventually(t, func() bool {
			st, err := c.Status(ctx, tc.Member(i).EtcdAddr())
			return err == nil && st.Leader == to
		}, 10*time.Second, 20*time.Millisecond, "member %d reports %x the leader", i, to)
	}
	_, err = c.MoveLeader(ctx, 12345)
	require.ErrorIs(t, err, rpctypes.ErrBadLeaderTransferee)
	// Snapshot streams a Coord backup that verifies, of the member's
	// state at least as new as the last put.
	rc, err := c.Snapshot(ctx)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	rc.Close()
	sum, err := statemachine.ReadBackup(bytes.NewReader(b), int64(len(b)), nil)
	require.NoError(t, err)
	require.Len(t, sum.Shards, 1)
	require.GreaterOrEqual(t, sum.Shards[0].Revision, p2.Header.Revision)
	require.Equal(t, int64(1), sum.Shards[0].Keys)
}
