package fault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/coord-io/coord/coord"
)

// TestMemberChangeScenario, on real processes: three members with two
// shards under a steady write load (four writers, each its own keys);
// `coord member add n4`, start n4 (it catches up and promotes itself),
// `coord member remove` one of the three, whose process then exits
// non-zero saying it was removed. No acknowledged write is lost: n4
// alone serves every one; `coord member list` shows three members; a
// lease kept alive throughout still exists. Two variants: the removed
// member leads no shard (short mode), and it leads every shard (full
// mode only: it takes restarts to get one member to lead both shards).
func TestMemberChangeScenario(t *testing.T) {
	t.Run("follower-removed", func(t *testing.T) { memberChangeScenario(t, false) })
	t.Run("leader-of-every-shard-removed", func(t *testing.T) {
		if testing.Short() {
			t.Skip("full mode only (-short runs the follower variant): getting one member to lead every shard takes restarts")
		}
		memberChangeScenario(t, true)
	})
}

func memberChangeScenario(t *testing.T, removeLeader bool) {
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	victim := pickVictim(t, c, removeLeader)
	t.Logf("removing %s (leader of every shard: %v)", victim.Name, removeLeader)

	// A lease kept alive throughout, with a key.
	lc := c.Client()
	lease, err := lc.Grant(ctx, 3, coord.WithLeaseKey("leased"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Put(ctx, "leased", "v", coord.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.KeepAlive(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}

	// Writers: each puts its own keys in order and remembers what was
	// acknowledged.
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]string{}
	failed := 0
	for w, cl := range clients(t, c, 4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; wctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("w%d/%05d", w, i), fmt.Sprintf("v%d", i)
				octx, ocancel := context.WithTimeout(wctx, 10*time.Second)
				_, err := cl.Put(octx, k, v)
				ocancel()
				mu.Lock()
				if err == nil {
					acked[k] = v
				} else if wctx.Err() == nil {
					failed++
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	time.Sleep(500 * time.Millisecond)
	n4 := c.AddMember("n4")
	time.Sleep(500 * time.Millisecond)
	c.RemoveMember(victim)
	time.Sleep(time.Second)
	stopWriters()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged (%d failed): no steady load", len(acked), failed)
	}
	// n4 alone serves every acknowledged write.
	only4, err := coord.New(coord.Config{Endpoints: []string{n4.Client}, StaticEndpoints: true, DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer only4.Close()
	for w := 0; w < 4; w++ {
		g, err := only4.Get(ctx, fmt.Sprintf("w%d/", w), coord.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range g.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if k[:3] == fmt.Sprintf("w%d/", w) && got[k] != v {
				t.Errorf("acknowledged write %s=%s lost (n4 has %q)", k, v, got[k])
			}
		}
	}
	ttl, err := only4.TimeToLive(ctx, lease.ID, false)
	if err != nil || ttl.TTL <= 0 {
		t.Errorf("the lease kept alive through the changes: %+v, %v", ttl, err)
	}
	rows, err := c.MemberList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name)
		if r.Status != "started" || r.IsLearner {
			t.Errorf("member list row %+v: want started and voting", r)
		}
	}
	if len(rows) != 3 {
		t.Errorf("member list shows %v, want three members", names)
	}
	t.Logf("%d writes acknowledged, %d failed, none lost; members %v", len(acked), failed, names)
}

// pickVictim returns a member that leads no shard, or (leader) one that
// leads every shard, restarting leaders until one does.
func pickVictim(t *testing.T, c *Cluster, leader bool) *Member {
	for attempt := 0; attempt < 20; attempt++ {
		l0, l1 := c.Leader(0, 10*time.Second), c.Leader(1, 10*time.Second)
		if l0 == nil || l1 == nil {
			continue
		}
		if !leader {
			for _, m := range c.Members {
				if m != l0 && m != l1 {
					return m
				}
			}
			t.Fatal("every member leads a shard")
		}
		if l0 == l1 {
			return l0
		}
		// Restart shard 1's leader: another member takes over, maybe l0.
		c.Restart(l1)
		c.WaitReady(30 * time.Second)
	}
	t.Fatal("no member came to lead every shard")
	return nil
}

// TestFaultMemberChange runs the KV workload (linearizability checked)
// and the lock workload (mutual exclusion, fencing checked) together
// while the member-change nemesis replaces a member: a new member is
// added and catches up, another is removed. No violation.
func TestFaultMemberChange(t *testing.T) {
	seed := Seed(t)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	cls := clients(t, c, 4)
	n := MemberChange
	rounds := 1
	if !testing.Short() {
		rounds = 2
	}
	for s := 0; s < rounds; s++ {
		kv := &KVWorkload{Clients: cls, Think: 20 * time.Millisecond, OpTimeout: 2 * time.Second}
		for k := 0; k < 4; k++ {
			kv.Keys = append(kv.Keys, fmt.Sprintf("mc/s%d/k%d", s, k))
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := kv.Setup(sctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		lw := &LockWorkload{Clients: cls, Locks: []string{fmt.Sprintf("mc%d-a", s)},
			SessionTTL: 3, OpTimeout: 2 * time.Second, Think: 10 * time.Millisecond}
		faults := c.Faults
		start := time.Now()
		var hist []KVOp
		var lh LockHistory
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); hist = kv.Run(ctx, start, seed+int64(s)) }()
			go func() { defer wg.Done(); lh = lw.Run(ctx, start, seed+int64(s)) }()
			wg.Wait()
		})
		violations := 0
		res, _ := CheckKV(hist)
		if res == porcupine.Illegal {
			violations++
			path, err := WriteArtifact(artifactName("kv", seed, s, n.Name)+".json", hist)
			t.Errorf("round %d: KV history is not linearizable; seed %d; history %s (%v)", s, seed, path, err)
		}
		if problems := CheckLocks(lh); len(problems) > 0 {
			violations += len(problems)
			t.Errorf("round %d: %d lock violations:\n%s", s, len(problems), strings.Join(problems, "\n"))
		}
		grants := 0
		for _, e := range lh.Events {
			if e.Kind == "grant" {
				grants++
			}
		}
		if len(hist) == 0 || grants == 0 {
			t.Errorf("round %d: no load: %d KV ops, %d lock grants", s, len(hist), grants)
		}
		stats.Add(1, len(hist)+len(lh.Events), c.Faults-faults, violations)
		t.Logf("round %d: kv ops=%d check=%s, lock events=%d grants=%d, members now %d", s, len(hist), res, len(lh.Events), grants, len(c.Members))
	}
}
