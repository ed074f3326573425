package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// joinConfig is the configuration of a member that joins tc's cluster as
// name with node ID id (what `coord member add` prints).
func joinConfig(t *testing.T, tc *testCluster, name string, id uint64) Config {
	t.Helper()
	addrs, err := freeAddrs(2)
	require.NoError(t, err)
	cfg := tc.Config(0)
	cfg.Name = name
	cfg.DataDir = filepath.Join(t.TempDir(), name)
	cfg.ListenClient, cfg.ListenPeer, cfg.ListenHTTP, cfg.ListenEtcd = addrs[0], addrs[1], "", ""
	cfg.InitialCluster = fmt.Sprintf("%s=%s", name, cfg.ListenPeer)
	cfg.InitialClusterState, cfg.NodeID = ClusterStateExisting, id
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("member", name)
	return cfg
}

// memberStatus asks the member at ep for the membership it knows.
func memberStatus(ctx context.Context, t *testing.T, c *coord.Client, ep string) []wire.MemberInfo {
	t.Helper()
	st, err := c.Status(ctx, ep)
	require.NoError(t, err)
	return st.Members
}

// raftRoles returns, per shard, whether node id is a voter and a learner
// in member srv's view of the shard's Raft membership.
func raftRoles(ctx context.Context, t *testing.T, srv *Server, id uint64) (voter, learner []bool) {
	t.Helper()
	for i := 0; i < srv.Shards(); i++ {
		ms, werr := srv.raftMembership(ctx, uint32(i))
		require.Nil(t, werr)
		_, v := ms.Nodes[id]
		_, l := ms.Observers[id]
		voter, learner = append(voter, v), append(learner, l)
	}
	return voter, learner
}

func all(b []bool, v bool) bool {
	for _, x := range b {
		if x != v {
			return false
		}
	}
	return true
}

// TestMembershipAddLearnerPromoteRemove, in process on three members
// with two shards: member.add of n4 --learner allocates node ID 4 and
// adds it to both shards as a learner (a second add of the same member
// answers the same; another name at its peer or its name at another
// peer is ErrAlreadyExists); promote before n4 started is refused; n4
// starts as a joining learner, catches up (it serves a key written
// before) and stays a learner; promote makes it a voter in both shards
// (again: ErrNotLearner), and it restarts as a voter; remove of n1 moves n1's leaderships first and
// refuses nothing; n1 learns it was removed (Removed closes, calls are
// ErrMemberRemoved) and the others list three members; remove n1 again
// is ErrNotFound; a lease kept alive through all of it still exists.
func TestMembershipAddLearnerPromoteRemove(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	ctx := ctxT(t, 2*time.Minute)
	c := tc.client(tc.Endpoints()[1], tc.Endpoints()[2]) // not n1: it is removed below
	// only1 knows n1 alone: it learns the others from the member registry.
	only1 := tc.client(tc.Endpoints()[0])
	_, err := only1.Put(ctx, "x", "1")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(only1.Endpoints()) == 3 }, 5*time.Second, 10*time.Millisecond, "learned endpoints %v", only1.Endpoints())
	lease, err := c.Grant(ctx, 10, coord.WithLeaseKey("{k}"))
	require.NoError(t, err)
	ka, err := c.KeepAlive(ctx, lease.ID)
	require.NoError(t, err)
	_ = ka
	for i := 0; i < 20; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("{k}%02d", i), "v", coord.WithLease(lease.ID))
		require.NoError(t, err)
	}

	join := joinConfig(t, tc, "n4", 4)
	var add wire.MemberResponse
	require.NoError(t, c.Call(ctx, wire.MethodMemberAdd, &wire.MemberAddRequest{Name: "n4", PeerAddr: join.ListenPeer, Learner: true}, &add))
	require.Equal(t, uint64(4), add.Member.ID)
	require.True(t, add.Member.Learner)
	require.Len(t, add.Members, 4)
	require.NoError(t, c.Call(ctx, wire.MethodMemberAdd, &wire.MemberAddRequest{Name: "n4", PeerAddr: join.ListenPeer, Learner: true}, &add))
	require.Equal(t, uint64(4), add.Member.ID, "the same add again")
	err = c.Call(ctx, wire.MethodMemberAdd, &wire.MemberAddRequest{Name: "n5", PeerAddr: join.ListenPeer}, &add)
	require.ErrorIs(t, err, coord.ErrAlreadyExists)
	err = c.Call(ctx, wire.MethodMemberAdd, &wire.MemberAddRequest{Name: "n2", PeerAddr: "127.0.0.1:1"}, &add)
	require.ErrorIs(t, err, coord.ErrAlreadyExists)
	voter, learner := raftRoles(ctx, t, tc.Member(1), 4)
	require.True(t, all(learner, true) && all(voter, false), "n4 a learner in every shard: voter %v learner %v", voter, learner)
	err = c.Call(ctx, wire.MethodMemberPromote, &wire.MemberPromoteRequest{Name: "n4"}, &add)
	require.ErrorIs(t, err, coord.ErrInvalid, "n4 has not started")
	require.Contains(t, err.Error(), "has not started")

	n4, err := Start(join)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n4.Stop(context.Background()) })
	require.NoError(t, n4.WaitReady(ctx))
	c4 := tc.client(n4.ClientAddr())
	g, err := c4.Get(ctx, "{k}19")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1, "n4 caught up")
	time.Sleep(3 * membershipWatchInterval)
	voter, _ = raftRoles(ctx, t, tc.Member(1), 4)
	require.True(t, all(voter, false), "an --learner member does not promote itself")

	var promoted wire.MemberResponse
	require.NoError(t, c.Call(ctx, wire.MethodMemberPromote, &wire.MemberPromoteRequest{Name: "n4"}, &promoted))
	require.False(t, promoted.Member.Learner)
	voter, learner = raftRoles(ctx, t, tc.Member(1), 4)
	require.True(t, all(voter, true) && all(learner, false), "n4 a voter in every shard: voter %v learner %v", voter, learner)
	err = c.Call(ctx, wire.MethodMemberPromote, &wire.MemberPromoteRequest{Name: "n4"}, &add)
	require.ErrorIs(t, err, coord.ErrNotLearner)
	require.Eventually(t, func() bool { return hasVoterMark(join.DataDir) }, 10*time.Second, 50*time.Millisecond, "n4 writes its voter mark")

	// n4 restarts from its data directory as a voter (its mark).
	require.NoError(t, n4.Stop(ctx))
	n4, err = Start(join)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n4.Stop(context.Background()) })
	require.NoError(t, n4.WaitReady(ctx))
	for i := 0; i < n4.Shards(); i++ {
		require.False(t, n4.startedLearner[i].Load(), "shard %d restarted as a learner", i)
	}
	_, err = c4.Put(ctx, "after-restart", "v")
	require.NoError(t, err)

	// n1 leads every shard; removing it moves the leaderships first.
	for i := 0; i < 2; i++ {
		tc.Member(0).moveLeadershipTo(ctx, t, uint32(i))
	}
	require.NoError(t, c.Call(ctx, wire.MethodMemberRemove, &wire.MemberRemoveRequest{Name: "n1"}, &add))
	// n1 refuses calls at once (it applied its tombstone before its
	// deletion), and stops once deleted everywhere or after the grace.
	require.Eventually(t, func() bool {
		_, err = tc.client(tc.Endpoints()[0]).Status(ctx, tc.Endpoints()[0])
		return errors.Is(err, coord.ErrMemberRemoved)
	}, 5*time.Second, 20*time.Millisecond, "n1 refuses calls: %v", err)
	select {
	case <-tc.Member(0).Removed():
	case <-time.After(removedGraceMax + 5*time.Second):
		t.Fatal("n1 did not learn it was removed")
	}
	ms := memberStatus(ctx, t, c, tc.Endpoints()[1])
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	require.Equal(t, []string{"n2", "n3", "n4"}, names)
	err = c.Call(ctx, wire.MethodMemberRemove, &wire.MemberRemoveRequest{Name: "n1"}, &add)
	require.ErrorIs(t, err, coord.ErrNotFound)

	// The client given only n1 goes on without it, and forgets it.
	_, err = only1.Put(ctx, "x", "2")
	require.NoError(t, err)
	require.NotContains(t, only1.Endpoints(), tc.Endpoints()[0])

	// The lease outlived the leadership moves: its keys are there.
	g, err = c4.Get(ctx, "{k}", coord.WithPrefix())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 20)
	ttl, err := c4.TimeToLive(ctx, lease.ID, false)
	require.NoError(t, err)
	require.Positive(t, ttl.TTL)
}

// moveLeadershipTo makes member s the leader of shard.
func (s *Server) moveLeadershipTo(ctx context.Context, t *testing.T, shard uint32) {
	t.Helper()
	require.Eventually(t, func() bool {
		leader, ok, err := s.nh.GetLeaderID(clusterID(shard))
		if err == nil && ok && leader == s.self.NodeID {
			return true
		}
		_ = s.nh.RequestLeaderTransfer(clusterID(shard), s.self.NodeID)
		return false
	}, 20*time.Second, 200*time.Millisecond, "member %s leads shard %d", s.cfg.Name, shard)
}

// TestEtcdMemberChanges: etcd's Cluster service over the same core:
// MemberAdd as a learner (named after its peer address; MemberList shows
// it a learner), etcd's errors (ErrPeerURLExist, ErrMemberNotFound,
// ErrMemberNotLearner), MemberPromote of a learner that has not started
// refused, MemberRemove of the learner, MemberUpdate unimplemented.
func TestEtcdMemberChanges(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, time.Minute)
	c := tc.etcdClient(clientv3.Config{}, tc.Member(1).EtcdAddr())

	add, err := c.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:9"})
	require.NoError(t, err)
	require.Equal(t, "m-127-0-0-1-9", add.Member.Name)
	require.True(t, add.Member.IsLearner)
	require.Len(t, add.Members, 4)
	ml, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, ml.Members, 4)
	require.True(t, ml.Members[3].IsLearner)
	require.False(t, ml.Members[0].IsLearner)

	_, err = c.MemberAdd(ctx, []string{"http://" + tc.Config(0).ListenPeer})
	require.ErrorIs(t, err, rpctypes.ErrPeerURLExist)
	_, err = c.MemberPromote(ctx, 12345)
	require.ErrorIs(t, err, rpctypes.ErrMemberNotFound)
	_, err = c.MemberPromote(ctx, etcdMemberID("n1"))
	require.ErrorIs(t, err, rpctypes.ErrMemberNotLearner)
	_, err = c.MemberPromote(ctx, add.Member.ID)
	require.Error(t, err, "a learner that has not started")
	require.Contains(t, err.Error(), "has not started")
	_, err = c.MemberUpdate(ctx, etcdMemberID("n1"), []string{"http://127.0.0.1:10"})
	require.Equal(t, codes.Unimplemented, status.Code(err))

	rm, err := c.MemberRemove(ctx, add.Member.ID)
	require.NoError(t, err)
	require.Len(t, rm.Members, 3)
	_, err = c.MemberRemove(ctx, add.Member.ID)
	require.ErrorIs(t, err, rpctypes.ErrMemberNotFound)
}

// TestConfigInitialClusterState: existing needs a node ID, new takes
// none, other states are refused; a joining member's own entry has its
// node ID and the others none.
func TestConfigInitialClusterState(t *testing.T) {
	cfg := DefaultConfig()
	cfg.InitialCluster = "n1=127.0.0.1:7380,n4=127.0.0.1:9380"
	cfg.Name, cfg.ListenPeer = "n4", "127.0.0.1:9380"
	cfg.InitialClusterState = ClusterStateExisting
	require.ErrorContains(t, cfg.Validate(), "needs the node id")
	cfg.NodeID = 7
	require.NoError(t, cfg.Validate())
	ms, err := cfg.members()
	require.NoError(t, err)
	require.Equal(t, []Member{{Name: "n1", PeerAddr: "127.0.0.1:7380"}, {Name: "n4", PeerAddr: "127.0.0.1:9380", NodeID: 7}}, ms)
	cfg.InitialClusterState = ClusterStateNew
	require.ErrorContains(t, cfg.Validate(), "node id 7 is only for --initial-cluster-state existing")
	cfg.InitialClusterState = "old"
	require.ErrorContains(t, cfg.Validate(), `initial cluster state must be new or existing, got "old"`)
}
