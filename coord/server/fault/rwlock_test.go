package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFaultRWLocks checks a read-write lock while members crash and are
// partitioned: a writer's critical section overlaps nobody's (readers'
// may overlap each other), no write fenced by a superseded or released
// writer token is accepted, a reader's token never fences, and tokens
// increase in grant order.
func TestFaultRWLocks(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	cls := clients(t, c, 5)
	next := Schedule(rng, deadline(t, 0.2), RWLockNemeses)
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &RWLockWorkload{
			Clients: cls, Locks: []string{fmt.Sprintf("rw%d-a", s), fmt.Sprintf("rw%d-b", s)},
			SessionTTL: 3, OpTimeout: 2 * time.Second, Think: 10 * time.Millisecond, WritePercent: 30, Stall: true,
		}
		faults := c.Faults
		start := time.Now()
		var h RWLockHistory
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { h = w.Run(ctx, start, seed+int64(s)) })
		problems := CheckRWLocks(h)
		counts := map[string]int{}
		for _, e := range h.Events {
			counts[e.Mode+"-"+e.Kind+"/"+e.Outcome]++
		}
		if len(problems) > 0 {
			path, err := WriteArtifact(artifactName("rwlocks", seed, s, n.Name)+".json", h)
			t.Errorf("scenario %d (%s): %d read-write lock violations; seed %d; history %s (%v):\n%s",
				s, n.Name, len(problems), seed, path, err, strings.Join(problems, "\n"))
		}
		if counts["shared-grant/"] == 0 || counts["exclusive-grant/"] == 0 {
			t.Errorf("scenario %d (%s): a mode was never granted: %v", s, n.Name, counts)
		}
		if h.ReaderOverlaps == 0 {
			t.Errorf("scenario %d (%s): readers never held a lock together", s, n.Name)
		}
		stats.Add(1, len(h.Events), c.Faults-faults, len(problems))
		t.Logf("scenario %d %-24s events=%d reader-overlaps=%d %v", s, n.Name, len(h.Events), h.ReaderOverlaps, counts)
	}
	t.Log(stats.Summary())
}

// TestFaultRWLockCheckerCatchesBadHistory feeds the read-write checker a
// history a broken build could produce and a correct one.
func TestFaultRWLockCheckerCatchesBadHistory(t *testing.T) {
	ms := int64(time.Millisecond)
	sec := func(c int, mode string, token, start, end int64) RWLockEvent {
		return RWLockEvent{Mode: mode, LockEvent: LockEvent{Kind: "section", Client: c, Lock: "L", Token: token, Start: start * ms, End: end * ms}}
	}
	ev := func(c int, mode, kind, outcome string, token, rev, call, ret int64) RWLockEvent {
		return RWLockEvent{Mode: mode, LockEvent: LockEvent{Kind: kind, Client: c, Lock: "L", Token: token, Outcome: outcome, Rev: rev, Call: call, Return: ret}}
	}
	good := []RWLockEvent{
		ev(0, "shared", "grant", "", 5, 0, 0, 10), ev(1, "shared", "grant", "", 6, 0, 0, 10),
		sec(0, "shared", 5, 20, 100), sec(1, "shared", 6, 30, 90), // readers overlap: fine
		ev(0, "shared", "reader-write", "rejected", 5, 0, 40, 50),
		ev(2, "exclusive", "grant", "", 9, 0, 5, 110),
		sec(2, "exclusive", 9, 120, 200),
		ev(2, "exclusive", "write", "ok", 9, 10, 130, 140),
		ev(2, "exclusive", "stale", "rejected", 9, 0, 210, 220),
		ev(3, "shared", "grant", "", 12, 0, 150, 230), ev(4, "shared", "grant", "", 12, 0, 150, 230), // one command
		sec(3, "shared", 12, 240, 300), sec(4, "shared", 12, 240, 300),
	}
	if p := CheckRWLocks(RWLockHistory{Events: good}); len(p) != 0 {
		t.Fatalf("checker flagged a correct history: %v", p)
	}
	bad := append(append([]RWLockEvent{}, good...),
		sec(5, "exclusive", 13, 290, 320),                   // a writer beside readers 3 and 4
		ev(5, "exclusive", "grant", "", 12, 0, 280, 285),    // a writer with a reader's token
		ev(1, "shared", "reader-write", "ok", 6, 7, 60, 70), // a reader's token fenced
		ev(2, "exclusive", "write", "ok", 9, 13, 190, 195),  // after token 12 was granted
		ev(2, "exclusive", "stale", "ok", 9, 14, 230, 235),
		ev(6, "shared", "grant", "", 4, 0, 400, 410), // not increasing
	)
	got := strings.Join(CheckRWLocks(RWLockHistory{Events: bad}), "\n")
	for _, want := range []string{
		"lock L: a writer beside another holder: client 3's shared section (token 12)",
		"lock L: token 12 granted to writer client 5 and to client 3",
		"lock L: reader client 1's token 6 fenced a write, accepted at revision 7",
		"lock L: two holders: client 2's write fenced by token 9 accepted at revision 13, after token 12 was granted",
		"lock L: stale token 9 accepted at revision 14",
		"not increasing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("checker missed %q; it reported:\n%s", want, got)
		}
	}
}
