package server

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLocalCluster checks the fixture's own promises: a temporary data
// directory removed by Close, Stop and Restart (with a change) of one
// member on the same address, and an idempotent Close.
func TestLocalCluster(t *testing.T) {
	lc, err := StartLocalCluster(context.Background(), LocalClusterConfig{Members: 1, Shards: 2, ReadyTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lc.Close() })
	dir := lc.Dir()
	require.DirExists(t, dir)
	require.Equal(t, 1, lc.Len())
	cfg := lc.Config(0)
	require.Equal(t, "n1", cfg.Name)
	require.Equal(t, 2, cfg.Shards)
	require.Equal(t, "n1="+cfg.ListenPeer, cfg.InitialCluster)
	require.Equal(t, []string{cfg.ListenClient}, lc.Endpoints())
	require.NotEmpty(t, lc.HTTPAddrs()[0])

	require.NoError(t, lc.Stop(0))
	require.Nil(t, lc.Member(0))
	require.Equal(t, []string{cfg.ListenClient}, lc.Endpoints(), "a stopped member keeps its endpoint")
	require.NoError(t, lc.Stop(0), "stopping a stopped member does nothing")

	require.NoError(t, lc.Restart(0, func(c *Config) { c.MaxValueSize = 1000 }))
	require.Equal(t, 1000, lc.Config(0).MaxValueSize)
	require.Equal(t, 1000, lc.Member(0).cfg.MaxValueSize)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, lc.WaitReady(ctx))
	require.Equal(t, cfg.ListenClient, lc.Member(0).ClientAddr(), "restarted on the same address")

	require.NoError(t, lc.Close())
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "Close removes the temporary directory")
	require.NoError(t, lc.Close())
}

// TestLocalClusterKeepsGivenDir checks that a caller's directory and the
// members' data in it outlive Close.
func TestLocalClusterKeepsGivenDir(t *testing.T) {
	dir := t.TempDir()
	lc, err := StartLocalCluster(context.Background(), LocalClusterConfig{Members: 1, Dir: dir, ReadyTimeout: 30 * time.Second})
	require.NoError(t, err)
	require.NoError(t, lc.Close())
	require.DirExists(t, lc.Config(0).DataDir)
}
