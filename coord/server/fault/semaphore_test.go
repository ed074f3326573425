package fault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFaultSemaphore checks counting semaphores while members crash and
// are partitioned and a command-line holder is cut off the cluster: the
// permits held at any instant — as the guarded work itself saw its
// critical sections, weighted — never exceed the limit, and tokens
// increase in grant order.
func TestFaultSemaphore(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 1})
	cls := clients(t, c, 4)
	// Two more holders run `coord semaphore acquire -- COMMAND` through
	// links of their own, which the cut-client nemesis cuts.
	links := []*ClientLink{c.AddClient("sem1"), c.AddClient("sem2")}
	dir := t.TempDir()
	next := Schedule(rng, deadline(t, 0.2), []string{"kill-leader", "isolate-leader-drop", "kill-restart", "cut-client"})
	commands := 0
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &SemaphoreWorkload{
			Clients: cls, Semaphores: []string{fmt.Sprintf("sm%d-a", s), fmt.Sprintf("sm%d-b", s)}, Limit: 3,
			SessionTTL: 3, OpTimeout: 2 * time.Second, Think: 10 * time.Millisecond,
			Bin: bin, Commands: links, Dir: dir,
		}
		faults := c.Faults
		start := time.Now()
		var h SemaphoreHistory
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { h = w.Run(ctx, start, seed+int64(s)) })
		problems := CheckSemaphores(h)
		counts := map[string]int{}
		for _, e := range h.Events {
			counts[e.Kind]++
			if e.Kind == "section" && e.Client >= len(cls) {
				counts["section/command"]++
			}
		}
		if len(problems) > 0 {
			path, err := WriteArtifact(artifactName("semaphore", seed, s, n.Name)+".json", h)
			t.Errorf("scenario %d (%s): %d semaphore violations; seed %d; history %s (%v):\n%s",
				s, n.Name, len(problems), seed, path, err, strings.Join(problems, "\n"))
		}
		if counts["grant"] == 0 {
			t.Errorf("scenario %d (%s): no permit was ever granted", s, n.Name)
		}
		// A scenario of a fault that stops the cluster for most of it (kill-two)
		// may end before a command-line holder got its turn, more so on a loaded
		// machine; the run as a whole must have run commands (checked below).
		commands += counts["section/command"]
		stats.Add(1, len(h.Events), c.Faults-faults, len(problems))
		t.Logf("scenario %d %-24s events=%d most held=%v %v", s, n.Name, len(h.Events), MostHeld(h), counts)
	}
	if commands == 0 {
		t.Errorf("no command under coord semaphore acquire ran in any scenario")
	}
	t.Log(stats.Summary())
}

// TestFaultSemaphoreCheckerCatchesOverLimit feeds the checker weighted
// critical sections that hold more than the limit at one instant (a
// holder cut off the cluster whose command ran on after its permits were
// handed on), sections that only touch, and tokens that do not increase.
func TestFaultSemaphoreCheckerCatchesOverLimit(t *testing.T) {
	ms := int64(time.Millisecond)
	sec := func(client int, sem string, token, weight, start, end int64) SemEvent {
		return SemEvent{Kind: "section", Client: client, Sem: sem, Limit: 3, Token: token, Weight: weight, Start: start * ms, End: end * ms}
	}
	h := SemaphoreHistory{Events: []SemEvent{
		sec(4, "S", 5, 2, 100, 3100),
		sec(0, "S", 5, 1, 120, 500),
		sec(1, "S", 9, 2, 3050, 3200), // 2 + 2 > 3 from 3050 to 3100
		sec(2, "S", 11, 1, 3201, 3300),
		sec(3, "T", 6, 3, 0, 1000), // T: 3 of 3, then 3 again touching nothing
		sec(1, "T", 8, 3, 1001, 2000),
		{Kind: "grant", Client: 0, Sem: "U", Token: 20, Call: 0, Return: 10},
		{Kind: "grant", Client: 1, Sem: "U", Token: 20, Call: 20, Return: 30},
		{Kind: "grant", Client: 2, Sem: "U", Token: 25, Call: 5, Return: 40},
		{Kind: "grant", Client: 3, Sem: "U", Token: 25, Call: 6, Return: 41},
	}}
	got := CheckSemaphores(h)
	want := []string{
		"semaphore S: 4 permits of 3 held at once at 3.05s: client 4 (token 5, weight 2), client 1 (token 9, weight 2)",
		"semaphore U: grant of token 20 to client 0 returned before client 1 asked, yet client 1 got token 20 (not increasing)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checker reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m := MostHeld(h); m["S"] != 4 || m["T"] != 3 {
		t.Fatalf("most held %v", m)
	}
}
