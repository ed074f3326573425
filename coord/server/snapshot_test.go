package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/statemachine"
)

// slowWriter takes its time over every write, as a slow disk would.
type slowWriter struct {
	bytes.Buffer
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.Buffer.Write(p)
}

// TestSnapshotStream: Client.Snapshot streams a backup of every shard
// from the member named, many messages long, to a writer slower than
// the member (flow control: nothing is lost); the file verifies, holds
// every key and each shard's revision as the member reports it. A
// snapshot whose caller gives up ends with the caller's error, and the
// member serves the next one.
func TestSnapshotStream(t *testing.T) {
	tc := newTestCluster(t, 3, 2)
	ctx := ctxT(t, time.Minute)
	c := tc.client()
	val := strings.Repeat("x", 8<<10)
	for i := 0; i < 200; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("k/%04d", i), val)
		require.NoError(t, err)
	}
	ep := tc.Endpoints()[2]
	w := &slowWriter{delay: 5 * time.Millisecond}
	info, err := c.Snapshot(ctx, ep, w)
	require.NoError(t, err)
	require.Equal(t, "n3", info.Member)
	require.Equal(t, int64(w.Len()), info.Size)
	require.Greater(t, info.Size, int64(200*8<<10), "at least the values")
	sum, err := statemachine.ReadBackup(bytes.NewReader(w.Bytes()), int64(w.Len()), nil)
	require.NoError(t, err)
	require.Equal(t, "n3", sum.Header.Member)
	require.Equal(t, c.ClusterID(), sum.Header.ClusterID)
	var keys int64
	for _, s := range sum.Shards {
		keys += s.Keys
	}
	require.Equal(t, int64(200), keys)
	st, err := c.Status(ctx, ep)
	require.NoError(t, err)
	for i, sh := range st.Shards {
		require.Equal(t, sh.Revision, sum.Shards[i].Revision, "shard %d", i)
	}

	cctx, cancel := context.WithCancel(ctx)
	_, err = c.Snapshot(cctx, ep, writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil }))
	require.ErrorIs(t, err, coord.ErrCanceled)
	var again bytes.Buffer
	_, err = c.Snapshot(ctx, "", &again)
	require.NoError(t, err)
	_, err = statemachine.ReadBackup(bytes.NewReader(again.Bytes()), int64(again.Len()), nil)
	require.NoError(t, err)
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRestoreShardCount: a member restored from a backup of two shards
// refuses to start with another shard count, saying which to give.
func TestRestoreShardCount(t *testing.T) {
	tc := newTestCluster(t, 1, 2)
	ctx := ctxT(t, time.Minute)
	c := tc.client()
	_, err := c.Put(ctx, "a", "1")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "b.coord")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = c.Snapshot(ctx, "", f)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	lc, err := NewLocalCluster(LocalClusterConfig{Members: 1, Shards: 1, Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lc.Close() })
	cfg := lc.Config(0)
	sum, err := Restore(RestoreConfig{Backup: file, DataDir: cfg.DataDir, Name: cfg.Name, InitialCluster: cfg.InitialCluster})
	require.NoError(t, err)
	require.Len(t, sum.Shards, 2)
	err = lc.Start()
	require.Error(t, err)
	require.Contains(t, err.Error(), "restored from a backup of 2 shards: start it with --shards 2")
	_, err = Restore(RestoreConfig{Backup: file, DataDir: cfg.DataDir, Name: cfg.Name, InitialCluster: cfg.InitialCluster})
	require.ErrorIs(t, err, ErrRestoreTarget)
}

// TestRestoredMemberCatchesUp: a member that joins a restored cluster
// without the restored state (here the third member of the initial
// cluster, started empty after the two others were restored and had
// written; as a member added later would be) catches up by snapshot and
// gets the restored state: each restored member compacted its Raft log
// behind a snapshot on its first start, so no leader can send it the log
// from index 1, which lacks the restored state. (Without the compaction,
// or with a snapshot taken among the log's first entries, the initial
// configuration entries every initial member writes itself, member 3
// ends up with the new log's keys and none of the restored ones.)
func TestRestoredMemberCatchesUp(t *testing.T) {
	src := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 2*time.Minute)
	c := src.client()
	for i := 0; i < 10; i++ {
		_, err := c.Put(ctx, fmt.Sprintf("k/%d", i), "restored")
		require.NoError(t, err)
	}
	file := filepath.Join(t.TempDir(), "b.coord")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = c.Snapshot(ctx, "", f)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	lc, err := NewLocalCluster(LocalClusterConfig{Members: 3, Shards: 1, Dir: t.TempDir(), StopTimeout: 5 * time.Second, Logger: testLogger(), Configure: func(cfg *Config) {
		if os.Getenv("COORD_TEST_RAFTLOG") != "" {
			cfg.RaftLogLevel = slog.LevelInfo
		}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lc.Close() })
	for i := 0; i < 2; i++ {
		cfg := lc.Config(i)
		_, err := Restore(RestoreConfig{Backup: file, DataDir: cfg.DataDir, Name: cfg.Name, InitialCluster: cfg.InitialCluster})
		require.NoError(t, err)
		require.NoError(t, lc.Restart(i))
	}
	dc, err := coord.New(coord.Config{Endpoints: lc.Endpoints()[:2], DialTimeout: time.Second})
	require.NoError(t, err)
	defer dc.Close()
	_, err = dc.Put(ctx, "after", "x") // an entry of the new log
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		require.Eventually(t, func() bool {
			m, err := readRestoreMarker(lc.Config(i).DataDir)
			return err == nil && m != nil && m.Compacted
		}, 30*time.Second, 20*time.Millisecond, "member %d compacts its raft log", i)
	}

	// The third member starts with an empty data directory.
	require.NoError(t, lc.Restart(2))
	one, err := coord.New(coord.Config{Endpoints: lc.Endpoints()[2:], DialTimeout: time.Second})
	require.NoError(t, err)
	defer one.Close()
	require.Eventually(t, func() bool {
		g, err := one.Get(ctx, "after", coord.WithSerializable())
		return err == nil && len(g.Kvs) == 1
	}, 30*time.Second, 20*time.Millisecond, "member 3 catches up")
	g, err := one.Get(ctx, "k/", coord.WithPrefix(), coord.WithSerializable())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 10, "member 3 has the restored state")
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("COORD_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
