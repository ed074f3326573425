package fault

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFaultLocks checks mutual exclusion through a fenced register while
// members crash, pause and are partitioned: tokens are unique and
// increase in grant order, no write of a superseded holder is accepted,
// and a released token never writes again.
func TestFaultLocks(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	cls := clients(t, c, 4)
	next := Schedule(rng, deadline(t, 0.3), []string{"kill-leader", "isolate-leader-drop", "pause-leader"})
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &LockWorkload{
			Clients: cls, Locks: []string{fmt.Sprintf("lk%d-a", s), fmt.Sprintf("lk%d-b", s)},
			SessionTTL: 3, OpTimeout: 2 * time.Second, Think: 10 * time.Millisecond, Stall: true,
		}
		faults := c.Faults
		start := time.Now()
		var h LockHistory
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { h = w.Run(ctx, start, seed+int64(s)) })
		problems := CheckLocks(h)
		counts := map[string]int{}
		for _, e := range h.Events {
			counts[e.Kind+"/"+e.Outcome]++
		}
		if len(problems) > 0 {
			path, err := WriteArtifact(artifactName("locks", seed, s, n.Name)+".json", h)
			t.Errorf("scenario %d (%s): %d lock violations; seed %d; history %s (%v):\n%s",
				s, n.Name, len(problems), seed, path, err, strings.Join(problems, "\n"))
		}
		if counts["grant/"] == 0 {
			t.Errorf("scenario %d (%s): no lock was ever granted", s, n.Name)
		}
		stats.Add(1, len(h.Events), c.Faults-faults, len(problems))
		t.Logf("scenario %d %-24s events=%d %v", s, n.Name, len(h.Events), counts)
	}
	t.Log(stats.Summary())
}

// TestFaultLockCheckerCatchesBadHistory runs the lock checker on a
// recorded history of a broken build — a holder whose lease expired kept
// writing after the lock moved on (as when the stale-revoke guard is off
// or a lock is granted without checking the holder's lease), a token
// handed out twice, and a released token still accepted — and requires
// every violation to be reported.
func TestFaultLockCheckerCatchesBadHistory(t *testing.T) {
	b, err := os.ReadFile("testdata/bad_lock_history.json")
	if err != nil {
		t.Fatal(err)
	}
	var h LockHistory
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(CheckLocks(h), "\n")
	for _, want := range []string{
		"two holders: client 0's write fenced by token 5 accepted at revision 9, after token 7 was granted",
		"token 12 granted twice",
		"stale token 14 accepted",
		"fenced writes out of order",
		"not increasing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("checker missed %q; it reported:\n%s", want, got)
		}
	}
	// The good part of the history alone passes.
	var good LockHistory
	for _, e := range h.Events {
		if e.Lock == "good" {
			good.Events = append(good.Events, e)
		}
	}
	if p := CheckLocks(good); len(p) != 0 {
		t.Errorf("checker flagged a correct history: %v", p)
	}
}
