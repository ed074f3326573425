package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdClients returns n clientv3 clients of the members' etcd doors, each
// listing the members in a different order.
func etcdClients(t *testing.T, c *Cluster, n int) []*clientv3.Client {
	eps := c.EtcdEndpoints()
	var out []*clientv3.Client
	for i := 0; i < n; i++ {
		rot := append(append([]string(nil), eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := clientv3.New(clientv3.Config{Endpoints: rot, DialTimeout: 500 * time.Millisecond, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		out = append(out, cl)
	}
	return out
}

// TestFaultEtcdKV checks that get/put/CAS histories of etcd's clientv3,
// through the members' etcd doors, stay linearizable (porcupine, the KV
// register model) while members are killed: kill-leader and kill-restart
// in short mode; with COORD_FAULT_DURATION, random nemeses for its share.
func TestFaultEtcdKV(t *testing.T) {
	seed := Seed(t)
	rng := NewRand(seed)
	c := NewCluster(t, bin, ClusterOptions{Members: 3, Shards: 2})
	cls := etcdClients(t, c, 5)
	next := Schedule(rng, deadline(t, 0.15), []string{"kill-leader", "kill-restart"})
	for s := 0; ; s++ {
		n, ok := next()
		if !ok {
			break
		}
		w := &EtcdKVWorkload{Clients: cls, Think: 20 * time.Millisecond, OpTimeout: 2 * time.Second}
		for k := 0; k < 4; k++ {
			w.Keys = append(w.Keys, fmt.Sprintf("etcdkv/s%d/k%d", s, k))
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
		unknown, writes := 0, 0
		for _, op := range hist {
			if op.Output.Unknown {
				unknown++
			}
			if op.Input.Op != "get" && !op.Output.Unknown {
				writes++
			}
		}
		if writes == 0 {
			t.Errorf("scenario %d (%s): no write acknowledged: the workload did not run", s, n.Name)
		}
		violations := 0
		if res == porcupine.Illegal {
			violations = 1
			name := artifactName("etcdkv", seed, s, n.Name)
			path, err := WriteArtifact(name+".json", hist)
			html := ArtifactDir() + "/" + name + ".html"
			if verr := porcupine.VisualizePath(KVModel, info, html); verr != nil {
				html = verr.Error()
			}
			t.Errorf("scenario %d (%s): clientv3 history is not linearizable; seed %d; history %s (%v); visualization %s",
				s, n.Name, seed, path, err, html)
		}
		if res == porcupine.Unknown {
			t.Logf("scenario %d (%s): the linearizability check timed out after %v (not counted as a violation)", s, n.Name, KVCheckTimeout)
		}
		stats.Add(1, len(hist), c.Faults-faults, violations)
		t.Logf("scenario %d %-24s ops=%d acknowledged-writes=%d unknown=%d check=%s", s, n.Name, len(hist), writes, unknown, res)
	}
}
