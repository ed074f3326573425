package fault

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFaultDurability checks that every acknowledged write survives a
// SIGKILL of every member at once, in the middle of a write load that has
// already been through a member crash.
func TestFaultDurability(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	cls := clients(t, c, 4)
	end := deadline(t, 0.15)
	for round := 0; round == 0 || (!end.IsZero() && time.Now().Before(end)); round++ {
		w := &WriteWorkload{Clients: cls, Prefix: fmt.Sprintf("dur/r%d", round), OpTimeout: 2 * time.Second}
		faults := c.Faults
		ctx, cancel := context.WithCancel(context.Background())
		var acked Acked
		var attempts int
		done := make(chan struct{})
		go func() { defer close(done); acked, attempts = w.Run(ctx) }()
		pause(ctx, time.Second)
		m := randomMember(c, rng)
		c.Kill(m)
		pause(ctx, time.Second)
		c.Start(m)
		pause(ctx, 1500*time.Millisecond)
		c.KillAll() // with writes in flight
		cancel()
		<-done
		c.StartAll()
		c.WaitReady(60 * time.Second)
		missing, err := w.Missing(c.Client(), acked, 30*time.Second)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if len(acked) == 0 {
			t.Errorf("round %d: no write was acknowledged", round)
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			path, werr := WriteArtifact(artifactName("durability", seed, round)+".json", map[string]any{"acked": acked, "missing": missing})
			t.Errorf("round %d: %d of %d acknowledged writes lost after killing every member; seed %d; details %s (%v); first: %s",
				round, len(missing), len(acked), seed, path, werr, strings.Join(missing[:min(5, len(missing))], ", "))
		}
		stats.Add(1, attempts, c.Faults-faults, len(missing))
		t.Logf("round %d: writes=%d acknowledged=%d lost=%d", round, attempts, len(acked), len(missing))
	}
	t.Log(stats.Summary())
}
