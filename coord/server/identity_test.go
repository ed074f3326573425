package server

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
)

// TestClusterReplacedClientFails: a client, and a watch, that reconnect
// after their cluster was replaced by a fresh one on the same addresses
// fail with ErrClusterMismatch instead of resuming against the new
// cluster's revisions.
func TestClusterReplacedClientFails(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 60*time.Second)
	c := tc.client()
	for i := 0; i < 5; i++ {
		_, err := c.Put(ctx, "k", fmt.Sprint(i))
		require.NoError(t, err)
	}
	id := tc.Member(0).ClusterID()
	require.NotZero(t, id)
	wc := c.Watch(ctx, "k")
	waitCreated(t, wc)
	_, err := c.Put(ctx, "k", "old")
	require.NoError(t, err)
	require.Equal(t, "old", string(collect(t, wc, 1, 10*time.Second)[0].Kv.Value))

	// The same addresses, fresh data.
	tc.stopAll()
	for i := range tc.Configs() {
		tc.start(i, func(cfg *Config) { cfg.DataDir = t.TempDir() })
	}
	tc.waitReady()
	require.NotEqual(t, id, tc.Member(0).ClusterID(), "a fresh cluster has a new identity")
	fresh := tc.client()
	for i := 0; i < 10; i++ {
		_, err := fresh.Put(ctx, "k", fmt.Sprintf("new%d", i))
		require.NoError(t, err)
	}

	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case wr, ok := <-wc:
			require.True(t, ok, "the watch ended without an error")
			for _, ev := range wr.Events {
				t.Fatalf("the watch resumed on another cluster: event %s=%s at revision %d", ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
			}
			if wr.Canceled {
				require.ErrorIs(t, wr.Err(), coord.ErrClusterMismatch)
				done = true
			}
		case <-deadline:
			t.Fatal("the watch neither failed nor delivered anything")
		}
	}
	_, err = c.Get(ctx, "k")
	require.ErrorIs(t, err, coord.ErrClusterMismatch)
	require.True(t, errors.Is(err, coord.ErrClusterMismatch))
	_, err = c.Put(ctx, "k", "stale client")
	require.ErrorIs(t, err, coord.ErrClusterMismatch)
	g, err := fresh.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "new9", string(g.Kvs[0].Value))
}
