package fault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/coord-io/coord/coord"
)

// bin is the coord binary every test of this run starts; stats sums
// every scenario for the summary line.
var (
	bin   string
	stats Stats
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coord-fault-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = Binary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if stats.Scenarios > 0 {
		fmt.Println(stats.Summary())
	}
	os.Exit(code)
}

// deadline returns when a long-mode test must stop (share of the whole
// COORD_FAULT_DURATION), or the zero time in short mode.
func deadline(t *testing.T, share float64) time.Time {
	d := Duration(t)
	if d == 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(float64(d) * share))
}

// clients returns n clients, each trying the members in a different order.
func clients(t *testing.T, c *Cluster, n int) []*coord.Client {
	eps := c.Endpoints()
	var out []*coord.Client
	for i := 0; i < n; i++ {
		rot := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := coord.New(coord.Config{Endpoints: rot, DialTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// Fault timeline of one scenario: the workload runs alone for warmup,
// under the fault for faultFor, then recovers for after.
const (
	warmup   = time.Second
	faultFor = 2500 * time.Millisecond
	after    = 2 * time.Second
)

// runScenario runs work in the background while n is injected and healed
// on the test goroutine, then brings the cluster back to full health.
func runScenario(t *testing.T, c *Cluster, n Nemesis, seed int64, work func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); work(ctx) }()
	pause(ctx, warmup)
	heal := n.Inject(c, NewRand(seed))
	pause(ctx, faultFor)
	heal()
	pause(ctx, after)
	cancel()
	<-done
	c.RecoverAll()
}

// TestFaultKV checks that concurrent get/put/CAS histories stay
// linearizable while members crash, pause and are partitioned.
func TestFaultKV(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	cls := clients(t, c, 5)
	next := Schedule(rng, deadline(t, 0.4), ShortNemeses)
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &KVWorkload{Clients: cls, Think: 20 * time.Millisecond, OpTimeout: 2 * time.Second}
		for k := 0; k < 4; k++ {
			w.Keys = append(w.Keys, fmt.Sprintf("kv/s%d/k%d", s, k))
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
		runScenario(t, c, n, seed+int64(s), func(ctx context.Context) { hist = w.Run(ctx, start, seed+int64(s)) })
		res, info := CheckKV(hist)
		unknown := 0
		for _, op := range hist {
			if op.Output.Unknown {
				unknown++
			}
		}
		violations := 0
		if res == porcupine.Illegal {
			violations = 1
			name := artifactName("kv", seed, s, n.Name)
			path, err := WriteArtifact(name+".json", hist)
			html := ArtifactDir() + "/" + name + ".html"
			if verr := porcupine.VisualizePath(KVModel, info, html); verr != nil {
				html = verr.Error()
			}
			t.Errorf("scenario %d (%s): history is not linearizable; seed %d; history %s (%v); visualization %s",
				s, n.Name, seed, path, err, html)
		}
		if res == porcupine.Unknown {
			t.Logf("scenario %d (%s): the linearizability check timed out after %v (not counted as a violation)", s, n.Name, KVCheckTimeout)
		}
		stats.Add(1, len(hist), c.Faults-faults, violations)
		t.Logf("scenario %d %-24s ops=%d unknown=%d check=%s", s, n.Name, len(hist), unknown, res)
	}
	t.Log(stats.Summary())
}
