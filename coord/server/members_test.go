package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// wantMemberRecords is the registry a running cluster should hold: each
// member's name, node ID and the addresses its doors are bound to.
func (tc *testCluster) wantMemberRecords() []statemachine.MemberRecord {
	var want []statemachine.MemberRecord
	for i := 0; i < tc.Len(); i++ {
		m := tc.Member(i)
		rec := statemachine.MemberRecord{Name: m.Name(), NodeID: uint64(i + 1), Peer: tc.Config(i).ListenPeer, Client: m.ClientAddr(), HTTP: m.HTTPAddr()}
		if m.EtcdAddr() != "" {
			rec.Etcd = "http://" + m.EtcdAddr()
		}
		want = append(want, rec)
	}
	return want
}

// waitMemberRecords waits until every running member's replica of the
// registry is want.
func (tc *testCluster) waitMemberRecords(want []statemachine.MemberRecord) {
	tc.t.Helper()
	require.Eventually(tc.t, func() bool {
		for i := 0; i < tc.Len(); i++ {
			if m := tc.Member(i); m != nil && !equalRecords(m.MemberRecords(), want) {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "registries: want %v", want)
}

func equalRecords(a, b []statemachine.MemberRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitPublished waits until member i's publisher is done.
func (tc *testCluster) waitPublished(i int) {
	tc.t.Helper()
	select {
	case <-tc.Member(i).publishes.done:
	case <-time.After(30 * time.Second):
		tc.t.Fatalf("member %d did not finish publishing its record", i)
	}
}

// TestMemberRegistryCluster: every member of a three-member cluster knows
// every member's record (name, node ID, peer, client, etcd and HTTP
// addresses); the status call carries them; etcd's MemberList gives each
// member's etcd URL; the registry took no revision; a member restarted on
// the same addresses proposes nothing, one restarted on another address
// updates its record everywhere.
func TestMemberRegistryCluster(t *testing.T) {
	tc := newEtcdCluster(t, 3, 1)
	ctx := ctxT(t, 60*time.Second)
	want := tc.wantMemberRecords()
	tc.waitMemberRecords(want)
	for i := 0; i < 3; i++ {
		tc.waitPublished(i)
	}

	// The status call, on every member.
	for i := 0; i < 3; i++ {
		st := tc.Member(i).status()
		require.Len(t, st.Members, 3)
		for j, m := range st.Members {
			require.Equal(t, wire.MemberInfo{Name: want[j].Name, PeerAddr: want[j].Peer, ID: want[j].NodeID,
				ClientAddr: want[j].Client, EtcdURL: want[j].Etcd, HTTPAddr: want[j].HTTP}, m)
		}
	}

	// etcd's MemberList, through any member; each URL reaches its member.
	c := tc.etcdClient(clientv3.Config{}, tc.Member(2).EtcdAddr())
	ml, err := c.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, ml.Members, 3)
	for i, m := range ml.Members {
		require.Equal(t, want[i].Name, m.Name)
		require.Equal(t, wire.EtcdMemberID(m.Name), m.ID)
		require.Equal(t, []string{want[i].Etcd}, m.ClientURLs)
		require.Equal(t, []string{"http://" + want[i].Peer}, m.PeerURLs)
		st, err := c.Status(ctx, tc.Member(i).EtcdAddr())
		require.NoError(t, err)
		require.Equal(t, m.ID, st.Header.MemberId)
	}

	// The registry is outside the keyspace: three records published and
	// the store is still at its initial revision (0, or etcd's 1).
	get, err := c.Get(ctx, "", clientv3.WithFromKey())
	require.NoError(t, err)
	require.Empty(t, get.Kvs)
	rev0 := get.Header.Revision
	require.LessOrEqual(t, rev0, int64(1))
	put, err := c.Put(ctx, "k", "v")
	require.NoError(t, err)
	require.Equal(t, rev0+1, put.Header.Revision)

	// A restart on the same addresses proposes nothing.
	others := []int64{tc.Member(1).publishes.n.Load(), tc.Member(2).publishes.n.Load()}
	etcdAddr, httpAddr := tc.Member(0).EtcdAddr(), tc.Member(0).HTTPAddr()
	require.NoError(t, tc.Restart(0, func(c *Config) { c.ListenEtcd, c.ListenHTTP = etcdAddr, httpAddr }))
	tc.waitPublished(0)
	require.Zero(t, tc.Member(0).publishes.n.Load(), "a restart on the same addresses proposed a record")
	require.Equal(t, others, []int64{tc.Member(1).publishes.n.Load(), tc.Member(2).publishes.n.Load()})
	require.Equal(t, want, tc.Member(0).MemberRecords())

	// A restart on another HTTP address publishes the new record, which
	// every member learns.
	etcdAddr = tc.Member(2).EtcdAddr()
	require.NoError(t, tc.Restart(2, func(c *Config) { c.ListenEtcd, c.ListenHTTP = etcdAddr, "127.0.0.1:0" }))
	tc.waitPublished(2)
	require.NotEqual(t, want[2].HTTP, tc.Member(2).HTTPAddr())
	want[2].HTTP = tc.Member(2).HTTPAddr()
	tc.waitMemberRecords(want)
	require.GreaterOrEqual(t, tc.Member(2).publishes.n.Load(), int64(1))

	// Still no revision taken.
	get, err = c.Get(ctx, "", clientv3.WithFromKey())
	require.NoError(t, err)
	require.Len(t, get.Kvs, 1)
	require.Equal(t, rev0+1, get.Header.Revision)
}

// TestMemberRegistryCatchUpBySnapshot: a member that fell behind past the
// compacted log while another member's record changed learns the new
// record from the snapshot it restores.
func TestMemberRegistryCatchUpBySnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	tc.stopAll()
	for i := range tc.Configs() {
		tc.start(i, func(cfg *Config) { cfg.SnapshotEntries = 20 })
	}
	tc.waitReady()
	ctx := ctxT(t, 60*time.Second)
	lag := 2
	if tc.leaderOfMost() == lag {
		lag = 1
	}
	const moved = 0 // lag is 1 or 2
	tc.stop(lag)
	// Another member comes back on a new HTTP address while lag is down.
	old := tc.Member(moved).HTTPAddr()
	require.NoError(t, tc.Restart(moved))
	tc.waitPublished(moved)
	require.NotEqual(t, old, tc.Member(moved).HTTPAddr())
	var live []string
	for i, cfg := range tc.Configs() {
		if i != lag {
			live = append(live, cfg.ListenClient)
		}
	}
	c := tc.client(live...)
	for i := 0; i < 100; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("s%03d", i), "v")
		require.NoError(t, err)
	}
	tc.start(lag)
	tc.waitMemberRecords(tc.wantMemberRecords())
	require.Positive(t, tc.Member(lag).restores.Load(), "the member caught up by snapshot")
}
