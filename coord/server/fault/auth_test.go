package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/locks"
)

// Credentials of TestFaultAuth.
const (
	faultRootPassword  = "root-secret"
	faultAlicePassword = "alice-secret"
	faultAllowed       = "auth/ok/" // alice: readwrite on this prefix
	faultDenied        = "auth/no/" // alice: nothing
)

// TestFaultAuth runs a workload with auth enabled while members crash,
// restart and are partitioned: a user whose role allows one prefix is
// never denied there (and its history stays linearizable), is always
// denied outside it (puts, deletes, txns, reads, a lock it has no
// permission for), and nothing it was denied exists afterwards. The auth
// store itself survives every fault (it is still enabled, the user still
// authenticates).
func TestFaultAuth(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	setupAuth(t, c)
	root := authClients(t, c, 1, "root", faultRootPassword)[0]
	alice := authClients(t, c, 4, "alice", faultAlicePassword)
	next := Schedule(rng, deadline(t, 0.2), []string{"kill-restart", "kill-leader", "isolate-leader-drop"})
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &KVWorkload{Clients: alice[:3], Think: 20 * time.Millisecond, OpTimeout: 2 * time.Second}
		for k := 0; k < 3; k++ {
			w.Keys = append(w.Keys, fmt.Sprintf("%ss%d/k%d", faultAllowed, s, k))
		}
		var mu sync.Mutex
		var deniedAllowed []string
		w.OnError = func(in KVInput, err error) {
			if errors.Is(err, coord.ErrPermissionDenied) || errors.Is(err, coord.ErrAuthFailed) {
				mu.Lock()
				deniedAllowed = append(deniedAllowed, fmt.Sprintf("%s %s: %v", in.Op, in.Key, err))
				mu.Unlock()
			}
		}
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := w.Setup(sctx); err != nil {
			cancel()
			t.Fatalf("scenario %d: %v", s, err)
		}
		cancel()
		faults := c.Faults
		start := time.Now()
		var hist []KVOp
		var denied deniedStats
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) {
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); denied = runDenied(ctx, alice[3], s, seed+int64(s)) }()
			hist = w.Run(ctx, start, seed+int64(s))
			wg.Wait()
		})
		violations := 0
		if res, _ := CheckKV(hist); res == porcupine.Illegal {
			violations++
			path, err := WriteArtifact(artifactName("auth", seed, s, n.Name)+".json", hist)
			t.Errorf("scenario %d (%s): the allowed history is not linearizable; seed %d; history %s (%v)", s, n.Name, seed, path, err)
		}
		if len(deniedAllowed) > 0 {
			violations++
			t.Errorf("scenario %d (%s): %d allowed calls were refused, first: %s", s, n.Name, len(deniedAllowed), deniedAllowed[0])
		}
		if len(denied.succeeded) > 0 {
			violations++
			t.Errorf("scenario %d (%s): %d denied calls succeeded, first: %s", s, n.Name, len(denied.succeeded), denied.succeeded[0])
		}
		if denied.refused == 0 {
			t.Errorf("scenario %d (%s): no denied call was answered at all (%d failed otherwise)", s, n.Name, denied.other)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		left, err := root.Get(ctx, faultDenied, coord.WithPrefix())
		if err != nil {
			t.Fatalf("scenario %d: reading %s as root: %v", s, faultDenied, err)
		}
		if len(left.Kvs) > 0 {
			violations++
			t.Errorf("scenario %d (%s): a denied write took effect: %s exists", s, n.Name, left.Kvs[0].Key)
		}
		on, _, err := root.AuthStatus(ctx)
		cancel()
		if err != nil || !on {
			t.Fatalf("scenario %d (%s): auth status after recovery: enabled=%v err=%v", s, n.Name, on, err)
		}
		stats.Add(1, len(hist)+denied.refused+denied.other+len(denied.succeeded), c.Faults-faults, violations)
		t.Logf("scenario %d %-24s allowed-ops=%d denied-refused=%d denied-failed-otherwise=%d", s, n.Name, len(hist), denied.refused, denied.other)
	}
}

// setupAuth creates user root (role root), role app (readwrite on
// faultAllowed) and user alice with it, then enables auth.
func setupAuth(t *testing.T, c *Cluster) {
	t.Helper()
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	steps := []struct {
		what string
		err  func() error
	}{
		{"user add root", func() error { return cl.UserAdd(ctx, "root", faultRootPassword) }},
		{"role add root", func() error { return cl.RoleAdd(ctx, "root") }},
		{"grant root", func() error { return cl.UserGrantRole(ctx, "root", "root") }},
		{"role add app", func() error { return cl.RoleAdd(ctx, "app") }},
		{"grant-permission app", func() error {
			return cl.RoleGrantPermission(ctx, "app", coord.PrefixPermission(coord.KindKV, coord.PermReadWrite, faultAllowed))
		}},
		{"user add alice", func() error { return cl.UserAdd(ctx, "alice", faultAlicePassword) }},
		{"grant alice", func() error { return cl.UserGrantRole(ctx, "alice", "app") }},
		{"auth enable", func() error { return cl.AuthEnable(ctx) }},
	}
	for _, st := range steps {
		if err := st.err(); err != nil {
			t.Fatalf("setting up auth: %s: %v", st.what, err)
		}
	}
}

// authClients returns n clients authenticated as user, each trying the
// members in a different order.
func authClients(t *testing.T, c *Cluster, n int, user, password string) []*coord.Client {
	eps := c.Endpoints()
	var out []*coord.Client
	for i := 0; i < n; i++ {
		rot := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := coord.New(coord.Config{Endpoints: rot, DialTimeout: 500 * time.Millisecond, Username: user, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// deniedStats counts the calls of runDenied: refused with
// ErrPermissionDenied, failed otherwise (no member reachable, timeouts
// under the fault), and those that succeeded (each a violation).
type deniedStats struct {
	refused, other int
	succeeded      []string
}

// runDenied makes calls the user may not make until ctx ends: writes,
// deletes, txns and reads under faultDenied, and a lock outside its
// permissions.
func runDenied(ctx context.Context, cl *coord.Client, scenario int, seed int64) deniedStats {
	var st deniedStats
	rng := rand.New(rand.NewSource(seed))
	sess, serr := coord.NewSession(cl, coord.WithTTL(5))
	for n := 0; ctx.Err() == nil; n++ {
		pause(ctx, time.Duration(rng.Int63n(int64(40*time.Millisecond))))
		key := fmt.Sprintf("%ss%d/k%d", faultDenied, scenario, rng.Intn(3))
		octx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var what string
		var err error
		switch rng.Intn(5) {
		case 0:
			what = "put " + key
			_, err = cl.Put(octx, key, "x")
		case 1:
			what = "delete " + key
			_, err = cl.Delete(octx, key)
		case 2:
			what = "txn put " + key
			_, err = cl.Txn(octx).Then(coord.OpPut(key, "x")).Commit()
		case 3:
			what = "get " + faultDenied
			_, err = cl.Get(octx, faultDenied, coord.WithPrefix())
		default:
			what = "lock deploy"
			if serr != nil {
				err = serr
				break
			}
			m := locks.NewMutex(sess, "deploy")
			if err = m.TryLock(octx); err == nil {
				_ = m.Unlock(octx)
			}
		}
		cancel()
		switch {
		case err == nil:
			st.succeeded = append(st.succeeded, what)
		case errors.Is(err, coord.ErrPermissionDenied):
			st.refused++
		default:
			st.other++
		}
	}
	if sess != nil && serr == nil {
		sess.Close()
	}
	return st
}
