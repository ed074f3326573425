package bench

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/server"
)

// testCluster starts a one-member in-process cluster for the test.
func testCluster(t *testing.T) *server.LocalCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// shortConfig is a run of about 300 ms with few clients and keys.
func shortConfig(workload string) Config {
	cfg := DefaultConfig()
	cfg.Workload = workload
	cfg.Clients, cfg.Conns = 4, 2
	cfg.Duration = 300 * time.Millisecond
	cfg.Keys = 20
	cfg.Watchers = 3
	cfg.Sessions = 20
	cfg.TTL = 3 * time.Second
	cfg.OpTimeout = 5 * time.Second
	return cfg
}

// checkRun checks the result of a short run that should have succeeded.
func checkRun(t *testing.T, res *Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("%s: %d ops, %d errors (%v)", res.Workload, res.Ops, res.Errors, res.ErrorKinds)
	}
	if res.Latency.Count == 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || res.OpsPerSec <= 0 {
		t.Fatalf("%s: latency %+v, %v ops/s", res.Workload, res.Latency, res.OpsPerSec)
	}
	if len(res.Timeline) == 0 || len(res.Percentiles) == 0 {
		t.Fatalf("%s: no timeline or percentiles", res.Workload)
	}
}

func TestCoordWorkloads(t *testing.T) {
	cl := testCluster(t)
	target := NewCoordTarget(coord.Config{Endpoints: cl.Endpoints()})
	for _, w := range workloadOrder {
		t.Run(w, func(t *testing.T) {
			cfg := shortConfig(w)
			cfg.SelfIsServer = true
			if w == "barrier" {
				cfg.Duration = time.Second
			}
			res, err := Run(context.Background(), target, cfg)
			checkRun(t, res, err)
			if res.Target != "coord" || res.Resources == nil || len(res.Resources.Processes) != 1 {
				t.Fatalf("target %q resources %+v", res.Target, res.Resources)
			}
			switch w {
			case "rwlock":
				if res.Extra["reads"].(int64) == 0 || res.Extra["writes"].(int64) == 0 {
					t.Fatalf("rwlock: a mode never ran: %v", res.Extra)
				}
			case "txn":
				if res.Extra["cas_succeeded"].(int64) == 0 {
					t.Fatalf("no CAS succeeded: %v", res.Extra)
				}
			case "watch":
				// Each put is seen by every watcher: one sample each.
				if res.Latency.Count != res.Ops*3 {
					t.Fatalf("%d samples for %d puts and 3 watchers", res.Latency.Count, res.Ops)
				}
			case "lease":
				if res.Params.Rate != 20 {
					t.Fatalf("lease rate %v, want sessions×3/ttl = 20", res.Params.Rate)
				}
			case "semaphore":
				// 4 clients, limit 4/4 = 1 by default: they contend.
				if res.Extra["limit"] != int64(1) {
					t.Fatalf("semaphore extra %v, want limit 1", res.Extra)
				}
			}
		})
	}
}

func TestTotalAndOpenLoop(t *testing.T) {
	cl := testCluster(t)
	target := NewCoordTarget(coord.Config{Endpoints: cl.Endpoints()})

	cfg := shortConfig("put")
	cfg.Duration, cfg.Total = 0, 50
	res, err := Run(context.Background(), target, cfg)
	checkRun(t, res, err)
	if res.Ops != 50 || res.Latency.Count != 50 {
		t.Fatalf("--total 50 ran %d ops (%d samples)", res.Ops, res.Latency.Count)
	}

	cfg = shortConfig("put")
	cfg.Duration, cfg.Rate = 500*time.Millisecond, 100
	res, err = Run(context.Background(), target, cfg)
	checkRun(t, res, err)
	if res.Ops < 35 || res.Ops > 51 {
		t.Fatalf("open loop at 100/s for 0.5 s ran %d ops", res.Ops)
	}
}

func TestInterruptedRun(t *testing.T) {
	cl := testCluster(t)
	target := NewCoordTarget(coord.Config{Endpoints: cl.Endpoints()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg := shortConfig("put")
	cfg.Duration = time.Minute
	start := time.Now()
	res, err := Run(ctx, target, cfg)
	checkRun(t, res, err)
	if !res.Interrupted || time.Since(start) > 10*time.Second {
		t.Fatalf("interrupted %v after %s", res.Interrupted, time.Since(start))
	}
}

func TestUnreachableTarget(t *testing.T) {
	target := NewCoordTarget(coord.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Run(ctx, target, shortConfig("put")); err == nil || !strings.Contains(err.Error(), "connecting to coord") {
		t.Fatalf("got %v", err)
	}
}

// TestEtcdWorkloads runs every workload against a real etcd when
// COORD_BENCH_ETCD_ENDPOINTS names one (bench/compare.sh starts one).
func TestEtcdWorkloads(t *testing.T) {
	eps := os.Getenv("COORD_BENCH_ETCD_ENDPOINTS")
	if eps == "" {
		t.Skip("set COORD_BENCH_ETCD_ENDPOINTS=host:port,... to run the etcd target against a real etcd (bench/compare.sh builds and starts one)")
	}
	target := &EtcdTarget{Endpoints: strings.Split(eps, ",")}
	for _, w := range workloadOrder {
		t.Run(w, func(t *testing.T) {
			cfg := shortConfig(w)
			cfg.Prefix = "coord-bench-test/"
			if w == "barrier" {
				cfg.Duration = time.Second
			}
			res, err := Run(context.Background(), target, cfg)
			if errors.Is(err, ErrUnsupported) {
				t.Skipf("etcd: %v", err)
			}
			checkRun(t, res, err)
		})
	}
}

// TestEtcdConnEndpoints: connection i of the etcd target is a client of
// endpoint i mod n alone (as the Coord target's connection i), or with
// RoundRobin of every endpoint starting there.
func TestEtcdConnEndpoints(t *testing.T) {
	eps := []string{"a:1", "b:2", "c:3"}
	one := &EtcdTarget{Endpoints: eps}
	rr := &EtcdTarget{Endpoints: eps, RoundRobin: true}
	for i, want := range [][]string{{"a:1"}, {"b:2"}, {"c:3"}, {"a:1"}} {
		if got := one.connEndpoints(i); !slices.Equal(got, want) {
			t.Errorf("connection %d: %v, want %v", i, got, want)
		}
	}
	for i, want := range [][]string{{"a:1", "b:2", "c:3"}, {"b:2", "c:3", "a:1"}, {"c:3", "a:1", "b:2"}} {
		if got := rr.connEndpoints(i); !slices.Equal(got, want) {
			t.Errorf("round robin, connection %d: %v, want %v", i, got, want)
		}
	}
}

// TestEtcdNoRWLock: the rwlock workload is Coord's only; etcd says so
// before connecting.
func TestEtcdNoRWLock(t *testing.T) {
	err := Supports(&EtcdTarget{}, "rwlock")
	var ue *UnsupportedError
	if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.Primitive != "read-write lock" {
		t.Fatalf("Supports(etcd, rwlock) = %v", err)
	}
	if err := Supports(&EtcdTarget{}, "lock"); err != nil {
		t.Fatal(err)
	}
}

// TestEtcdSemaphoreUnsupported: etcd has no semaphore, so the workload is
// refused before connecting (bench/compare.sh shows n/a for etcd).
func TestEtcdSemaphoreUnsupported(t *testing.T) {
	target := &EtcdTarget{Endpoints: []string{"127.0.0.1:1"}}
	_, err := Run(context.Background(), target, shortConfig("semaphore"))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "semaphore") || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("got %v", err)
	}
}
