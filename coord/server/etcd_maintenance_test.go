package server

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/statemachine"
)

// TestEtcdMaintenance: Alarm lists none, Defragment succeeds, HashKV
// agrees across members at one revision and changes with the data, and
// Hash and MoveLeader answer Unimplemented; Snapshot streams a backup.
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

	_, err = c.MoveLeader(ctx, 1)
	require.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
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
