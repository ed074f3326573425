package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// snapshotStatus is `coord snapshot status -w json`.
type snapshotStatus struct {
	ClusterID string `json:"cluster_id"`
	Member    string `json:"member"`
	Size      int64  `json:"size"`
	Keys      int64  `json:"keys"`
	Shards    []struct {
		Shard    uint32 `json:"shard"`
		Revision int64  `json:"revision"`
		Keys     int64  `json:"keys"`
		Leases   int64  `json:"leases"`
	} `json:"shards"`
}

// coordCLI runs the coord binary and returns its stdout; it fails the
// test on a non-zero exit.
func coordCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("coord %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func statusOf(t *testing.T, file string) snapshotStatus {
	t.Helper()
	var st snapshotStatus
	require.NoError(t, json.Unmarshal([]byte(coordCLI(t, "snapshot", "status", file, "-w", "json")), &st))
	return st
}

// countKeys counts the live keys of the whole keyspace (the primitives'
// reserved keys included).
func countKeys(ctx context.Context, t *testing.T, cl *coord.Client) int64 {
	t.Helper()
	g, err := cl.Get(ctx, "\x00", coord.WithFromKey(), coord.WithCountOnly())
	require.NoError(t, err)
	return g.Count
}

// TestSnapshotSaveRestore, on real processes: `coord snapshot save` under
// a write load on a three-member, two-shard cluster; `coord snapshot
// status` verifies the file; `coord snapshot restore` into a fresh
// three-member cluster, which then serves every write acknowledged
// before the save began, the lease (its TTL started again), the lock's
// holder and token, the queue with its in-flight item, the election's
// leader, the held gate barrier and the semaphore's permit; it has a new
// cluster identity, its revisions and key count are those status
// printed, it goes on from the backup's revisions, and each restored
// member compacts its Raft logs behind a snapshot. A second save of the
// quiet source cluster agrees with it exactly.
func TestSnapshotSaveRestore(t *testing.T) {
	t0 := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	phase("before src started")
	src := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	cl := src.Client()

	// State: keys on both shards, a lease with a key, and every
	// primitive, all named "p" (one shard, the lease's).
	for i := 0; i < 50; i++ {
		_, err := cl.Put(ctx, fmt.Sprintf("k/%02d", i), fmt.Sprintf("v%d", i))
		require.NoError(t, err)
	}
	const ttl = 60
	g, err := cl.Grant(ctx, ttl, coord.WithLeaseKey("p"))
	require.NoError(t, err)
	granted := time.Now()
	_, err = cl.Put(ctx, "{p}leased", "x", coord.WithLease(g.ID))
	require.NoError(t, err)
	var lock wire.LockResponse
	require.NoError(t, cl.Call(ctx, wire.MethodLock, &wire.LockRequest{Name: "p", Lease: g.ID, Try: true}, &lock))
	require.NotZero(t, lock.Token)
	var leader wire.LeaderResponse
	require.NoError(t, cl.Call(ctx, wire.MethodCampaign, &wire.CampaignRequest{Name: "p", Lease: g.ID, Value: []byte("boss")}, &leader))
	require.NoError(t, cl.Call(ctx, wire.MethodEnqueue, &wire.EnqueueRequest{Name: "p", Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}, &wire.EnqueueResponse{}))
	var deq wire.DequeueResponse
	require.NoError(t, cl.Call(ctx, wire.MethodDequeue, &wire.DequeueRequest{Name: "p", Lease: g.ID, VisibilitySeconds: 300}, &deq))
	require.Equal(t, "a", string(deq.Item.Value))
	require.NoError(t, cl.Call(ctx, wire.MethodBarrier, &wire.BarrierRequest{Name: "p", Op: wire.BarrierHold}, &wire.BarrierResponse{}))
	var sem wire.SemaphoreAcquireResponse
	require.NoError(t, cl.Call(ctx, wire.MethodSemAcquire, &wire.SemaphoreAcquireRequest{Name: "p", Lease: g.ID, Limit: 3, Weight: 2, Try: true}, &sem))
	require.True(t, sem.Granted())

	phase("state written")
	// A write load while the backup is taken: writers, each putting
	// load/W/00000, load/W/00001, … in turn.
	const writers = 8
	var acked [writers]atomic.Int64 // load/w/0 .. acked[w]-1 were acknowledged
	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				if _, err := cl.Put(loadCtx, fmt.Sprintf("load/%d/%05d", w, i), "x"); err != nil {
					return
				}
				acked[w].Store(int64(i + 1))
			}
		}()
	}
	total := func() (n int64) {
		for w := range acked {
			n += acked[w].Load()
		}
		return n
	}
	// Saved at least 5 s after the grant, so that a lease whose deadline
	// survived the restore would show clearly less time left than one
	// whose TTL restarted.
	waitForT(t, 20*time.Second, func() bool { return total() > 100 && time.Since(granted) > 5*time.Second })
	var before [writers]int64
	for w := range acked {
		before[w] = acked[w].Load()
	}
	file := filepath.Join(t.TempDir(), "backup.coord")
	out := coordCLI(t, "snapshot", "save", file, "--endpoints", src.Members[1].Client)
	require.Contains(t, out, "Snapshot saved at "+file)
	stopLoad()
	wg.Wait()
	t.Logf("saved under load of %d writers: %s (%d writes in all)", writers, strings.TrimSpace(out), total())
	_, err = os.Stat(file + ".part")
	require.True(t, os.IsNotExist(err), "no .part file left")
	// A second save refuses to overwrite.
	cmd := exec.Command(bin, "snapshot", "save", file, "--endpoints", src.Members[0].Client)
	b, err := cmd.CombinedOutput()
	require.Error(t, err, "%s", b)
	require.Contains(t, string(b), "--force")

	phase("saved")
	st := statusOf(t, file)
	require.Equal(t, fmt.Sprintf("%016x", cl.ClusterID()), st.ClusterID)
	require.Equal(t, src.Members[1].Name, st.Member)
	require.Len(t, st.Shards, 2)
	require.Greater(t, st.Keys, int64(150))

	// Status of a save of the quiet cluster agrees with the cluster.
	quiet := filepath.Join(t.TempDir(), "quiet.coord")
	coordCLI(t, "snapshot", "save", quiet, "--endpoints", src.Members[2].Client)
	qs := statusOf(t, quiet)
	require.Equal(t, countKeys(ctx, t, cl), qs.Keys)
	srcStatus, err := cl.Status(ctx, src.Members[0].Client)
	require.NoError(t, err)
	for i, sh := range srcStatus.Shards {
		require.Equal(t, sh.Revision, qs.Shards[i].Revision, "shard %d", i)
	}

	phase("quiet save compared")
	// Restore into a fresh three-member cluster.
	restoreStart := time.Now()
	restoreStartedAfter := restoreStart.Sub(granted)
	dst := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2, Prepare: func(m *Member, initial string) error {
		out, err := exec.Command(bin, "snapshot", "restore", file, "--data-dir", m.DataDir, "--name", m.Name, "--initial-cluster", initial).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}})
	phase("dst started")
	rc := dst.Client()
	require.Equal(t, st.Keys, countKeys(ctx, t, rc), "the restored cluster has the keys status counted")
	require.NotEqual(t, cl.ClusterID(), rc.ClusterID(), "a restored cluster has a new identity")
	require.NotZero(t, rc.ClusterID())
	dstStatus, err := rc.Status(ctx, dst.Members[0].Client)
	require.NoError(t, err)
	for i, sh := range dstStatus.Shards {
		require.Equal(t, st.Shards[i].Revision, sh.Revision, "shard %d restored at the backup's revision", i)
	}
	for i := 0; i < 50; i++ {
		gr, err := rc.Get(ctx, fmt.Sprintf("k/%02d", i))
		require.NoError(t, err)
		require.Len(t, gr.Kvs, 1)
		require.Equal(t, fmt.Sprintf("v%d", i), string(gr.Kvs[0].Value))
	}
	for w := range before {
		if before[w] == 0 {
			continue
		}
		gr, err := rc.Get(ctx, fmt.Sprintf("load/%d/%05d", w, before[w]-1))
		require.NoError(t, err)
		require.Len(t, gr.Kvs, 1, "writer %d's last write acknowledged before the save is restored", w)
		gr, err = rc.Get(ctx, fmt.Sprintf("load/%d/", w), coord.WithPrefix(), coord.WithCountOnly())
		require.NoError(t, err)
		require.GreaterOrEqual(t, gr.Count, before[w], "writer %d's writes acknowledged before the save are restored", w)
	}

	phase("keys checked")
	// The lease, with its TTL started again, and its key.
	tl, err := rc.TimeToLive(ctx, g.ID, true)
	require.NoError(t, err)
	require.Equal(t, int64(ttl), tl.GrantedTTL)
	require.Len(t, tl.Keys, 5, "leased key, lock, election, semaphore and in-flight queue item keys: %q", tl.Keys)
	require.GreaterOrEqual(t, tl.TTL, int64(ttl)-int64(time.Since(restoreStart).Seconds())-2,
		"the TTL restarted in full when the new cluster started (the lease was granted %v ago)", time.Since(granted).Round(time.Second))
	kept := int64(ttl) - int64(time.Since(granted).Seconds()) // had the deadline survived
	require.Greater(t, tl.TTL, kept+3, "the restored lease has more time left than its old deadline leaves (granted %v before the restore)", restoreStartedAfter.Round(time.Millisecond))
	_, err = rc.KeepAliveOnce(ctx, g.ID)
	require.NoError(t, err)

	// The primitives.
	var ls wire.LockStatusResponse
	require.NoError(t, rc.Call(ctx, wire.MethodLockStatus, &wire.LockStatusRequest{Name: "p"}, &ls))
	require.True(t, ls.Held)
	require.Equal(t, lock.Token, ls.Token)
	require.Equal(t, lock.Key, ls.Key)
	var lr wire.LeaderResponse
	require.NoError(t, rc.Call(ctx, wire.MethodLeader, &wire.LeaderRequest{Name: "p"}, &lr))
	require.Equal(t, "boss", string(lr.Value))
	require.Equal(t, leader.Key, lr.Key)
	var qi wire.QueueInfoResponse
	require.NoError(t, rc.Call(ctx, wire.MethodQueueInfo, &wire.QueueInfoRequest{Name: "p"}, &qi))
	require.Equal(t, int64(2), qi.Ready)
	require.Equal(t, int64(1), qi.InFlight)
	var br wire.BarrierResponse
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = rc.Call(wctx, wire.MethodBarrier, &wire.BarrierRequest{Name: "p", Op: wire.BarrierWait}, &br)
	wcancel()
	require.Error(t, err, "the gate is still held: wait blocks")
	var ss wire.SemaphoreStatusResponse
	require.NoError(t, rc.Call(ctx, wire.MethodSemStatus, &wire.SemaphoreStatusRequest{Name: "p"}, &ss))
	require.Equal(t, int64(2), ss.Held)
	require.Equal(t, int64(3), ss.Limit)

	// The restored cluster goes on from the backup's revisions.
	shard, err := rc.ShardOf(ctx, "after")
	require.NoError(t, err)
	pr, err := rc.Put(ctx, "after", "restore")
	require.NoError(t, err)
	require.Equal(t, st.Shards[shard].Revision+1, pr.Header.Revision)

	phase("primitives checked")
	// Each restored member compacted its Raft logs behind a snapshot, so
	// that a member added later is sent the restored state.
	for _, m := range dst.Members {
		waitForT(t, 30*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(m.DataDir, "restore.json"))
			return strings.Contains(string(b), `"compacted": true`)
		})
	}
	phase("compacted")
}

func waitForT(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
