package server

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
)

// leaderOfMost returns the index of the member that leads the most shards.
func (tc *testCluster) leaderOfMost() int {
	count := map[string]int{}
	for _, s := range tc.Members() {
		if s == nil {
			continue
		}
		for shard := range s.shards {
			if name, _ := s.leader(uint32(shard)); name != "" {
				count[name]++
			}
		}
		break
	}
	best, bestN := 0, -1
	for i, c := range tc.Configs() {
		if count[c.Name] > bestN {
			best, bestN = i, count[c.Name]
		}
	}
	return best
}

// TestFailover stops the member leading most shards, checks that writes
// through the others resume within 5 seconds, restarts it and checks it
// catches up, then restarts the whole cluster and checks every
// acknowledged write survived.
func TestFailover(t *testing.T) {
	tc := newTestCluster(t, 3, 4)
	ctx := ctxT(t, 60*time.Second)
	c := tc.client()
	acked := map[string]string{}
	put := func(cl *coord.Client, k, v string) {
		_, err := cl.Put(ctx, k, v)
		require.NoError(t, err)
		acked[k] = v
	}
	for i := 0; i < 50; i++ {
		put(c, fmt.Sprintf("k%03d", i), fmt.Sprint(i))
	}

	victim := tc.leaderOfMost()
	tc.stop(victim)
	var others []string
	for i, cfg := range tc.Configs() {
		if i != victim {
			others = append(others, cfg.ListenClient)
		}
	}
	survivor := tc.client(others...)
	start := time.Now()
	require.Eventually(t, func() bool {
		_, err := survivor.Put(ctxT(t, time.Second), "after-failover", "1")
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "writes must resume within 5s of losing a leader")
	t.Logf("writes resumed %v after stopping %s", time.Since(start), tc.Config(victim).Name)
	acked["after-failover"] = "1"
	for i := 50; i < 100; i++ {
		put(survivor, fmt.Sprintf("k%03d", i), fmt.Sprint(i))
	}
	// The old client, whose endpoint list includes the stopped member, keeps working.
	put(c, "old-client", "ok")

	// Restart the stopped member: it catches up.
	tc.start(victim)
	rejoined := tc.client(tc.Config(victim).ListenClient)
	require.Eventually(t, func() bool {
		g, err := rejoined.Get(ctxT(t, time.Second), "k099", coord.WithSerializable())
		return err == nil && len(g.Kvs) == 1
	}, 20*time.Second, 20*time.Millisecond, "restarted member must catch up")

	// Stop every member and start them again: every acknowledged write is there.
	tc.stopAll()
	for i := range tc.Configs() {
		tc.start(i)
	}
	tc.waitReady()
	after := tc.client()
	g, err := after.Get(ctx, "", coord.WithPrefix())
	require.NoError(t, err)
	got := map[string]string{}
	for _, kv := range g.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	require.Equal(t, acked, got)
}

// TestCatchUpBySnapshot lets a member fall behind past the compacted log,
// so that it must catch up from a snapshot streamed by the leader.
func TestCatchUpBySnapshot(t *testing.T) {
	tc, lag, want := catchUpBySnapshot(t, 2, func(*Config) {}, strconv.Itoa, func(ctx context.Context, c *coord.Client) {
		_, err := c.Delete(ctx, "s000")
		require.NoError(t, err)
	})
	back := tc.client(tc.Config(lag).ListenClient)
	g, err := back.Get(ctxT(t, 10*time.Second), "s", coord.WithPrefix(), coord.WithSerializable())
	require.NoError(t, err)
	require.Equal(t, want.Kvs, g.Kvs)
	// Its state is byte-for-byte the same as a peer's.
	for shard := range tc.Member(lag).shards {
		requireSameShard(t, tc, lag, shard)
	}
}

// catchUpBySnapshot starts a three-member cluster of shards shards with
// a small snapshot interval (and configure), stops a member that leads
// few shards, writes 300 keys s000… (values from value, then more) through
// the others, restarts it and waits until its replica has as many keys as
// the live members. It returns the cluster, the lagging member and what
// the live members held.
func catchUpBySnapshot(t *testing.T, shards int, configure func(*Config), value func(int) string, more func(context.Context, *coord.Client)) (*testCluster, int, *coord.GetResponse) {
	tc := newTestCluster(t, 3, shards)
	// Restart every member with the small snapshot interval.
	tc.stopAll()
	for i := range tc.Configs() {
		tc.start(i, func(cfg *Config) {
			cfg.SnapshotEntries = 20
			configure(cfg)
		})
	}
	tc.waitReady()
	ctx := ctxT(t, 60*time.Second)

	lag := 2
	if tc.leaderOfMost() == lag {
		lag = 1
	}
	tc.stop(lag)
	var live []string
	for i, cfg := range tc.Configs() {
		if i != lag {
			live = append(live, cfg.ListenClient)
		}
	}
	c := tc.client(live...)
	for i := 0; i < 300; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("s%03d", i), value(i))
		require.NoError(t, err)
	}
	more(ctx, c)
	want, err := c.Get(ctx, "s", coord.WithPrefix())
	require.NoError(t, err)

	tc.start(lag)
	back := tc.client(tc.Config(lag).ListenClient)
	require.Eventually(t, func() bool {
		g, err := back.Get(ctxT(t, time.Second), "s", coord.WithPrefix(), coord.WithSerializable())
		return err == nil && g.Count == want.Count
	}, 30*time.Second, 50*time.Millisecond)
	return tc, lag, want
}

// requireSameShard waits until member lag's replica of shard hashes the
// same as a peer's.
func requireSameShard(t *testing.T, tc *testCluster, lag, shard int) {
	t.Helper()
	require.Eventually(t, func() bool {
		h1, err1 := tc.Member(lag).shards[shard].Hash()
		h2, err2 := tc.Member((lag + 1) % 3).shards[shard].Hash()
		return err1 == nil && err2 == nil && h1 == h2
	}, 10*time.Second, 50*time.Millisecond, "shard %d hash", shard)
}
