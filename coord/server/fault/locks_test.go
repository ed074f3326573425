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
	// Two more holders run `coord lock acquire -- COMMAND` through links
	// of their own, which the cut-client nemesis cuts.
	links := []*ClientLink{c.AddClient("cli1"), c.AddClient("cli2")}
	dir := t.TempDir()
	next := Schedule(rng, deadline(t, 0.3), []string{"kill-leader", "isolate-leader-drop", "pause-leader", "cut-client"})
	commands := 0
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &LockWorkload{
			Clients: cls, Locks: []string{fmt.Sprintf("lk%d-a", s), fmt.Sprintf("lk%d-b", s)},
			SessionTTL: 3, OpTimeout: 2 * time.Second, Think: 10 * time.Millisecond, Stall: true,
			Bin: bin, Commands: links, Dir: dir,
		}
		faults := c.Faults
		start := time.Now()
		var h LockHistory
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { h = w.Run(ctx, start, seed+int64(s)) })
		problems := CheckLocks(h)
		counts := map[string]int{}
		for _, e := range h.Events {
			counts[e.Kind+"/"+e.Outcome]++
			if e.Kind == "section" && e.Client >= len(cls) {
				counts["section/command"]++
			}
		}
		if len(problems) > 0 {
			path, err := WriteArtifact(artifactName("locks", seed, s, n.Name)+".json", h)
			t.Errorf("scenario %d (%s): %d lock violations; seed %d; history %s (%v):\n%s",
				s, n.Name, len(problems), seed, path, err, strings.Join(problems, "\n"))
		}
		if counts["grant/"] == 0 {
			t.Errorf("scenario %d (%s): no lock was ever granted", s, n.Name)
		}
		// A scenario of a fault that stops the cluster for most of it (kill-two)
		// may end before a command-line holder got its turn, more so on a loaded
		// machine; the run as a whole must have run commands (checked below).
		commands += counts["section/command"]
		stats.Add(1, len(h.Events), c.Faults-faults, len(problems))
		t.Logf("scenario %d %-24s events=%d %v", s, n.Name, len(h.Events), counts)
	}
	if commands == 0 {
		t.Errorf("no command under coord lock acquire ran in any scenario")
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

// TestFaultLockCheckerCatchesOverlap feeds the checker critical sections
// that overlap (a holder cut off the cluster whose command ran on after
// the lock moved on) and ones that only touch nothing.
func TestFaultLockCheckerCatchesOverlap(t *testing.T) {
	ms := int64(time.Millisecond)
	h := LockHistory{Events: []LockEvent{
		{Kind: "section", Client: 4, Lock: "L", Token: 5, Start: 100 * ms, End: 3100 * ms},
		{Kind: "section", Client: 0, Lock: "L", Token: 9, Start: 3050 * ms, End: 3200 * ms},
		{Kind: "section", Client: 1, Lock: "L", Token: 11, Start: 3201 * ms, End: 3300 * ms},
		{Kind: "section", Client: 2, Lock: "M", Token: 6, Start: 3000 * ms, End: 3400 * ms},
	}}
	got := CheckLocks(h)
	if len(got) != 1 || !strings.Contains(got[0], "lock L: two holders at once: client 4's critical section (token 5) ran until 3.1s, 50ms after client 0's (token 9) began at 3.05s") {
		t.Fatalf("checker reported %q", got)
	}
}
