package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// startLocalCluster starts n members with the given shard count and
// returns the cluster once every member is ready.
func startLocalCluster(t *testing.T, n, shards int) *server.LocalCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{
		Members: n, Shards: shards, StopTimeout: 10 * time.Second,
		Configure: func(cfg *server.Config) { cfg.ListenHTTP = ""; cfg.ListenEtcd = "" },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	return lc
}

var healthyLine = regexp.MustCompile(`^(\S+) is healthy: successfully committed proposal: took = \d+(\.\d+)?(µs|ms|s)$`)

func TestCLIEndpointHealth(t *testing.T) {
	lc := startLocalCluster(t, 3, 2)
	eps := lc.Endpoints()
	all := strings.Join(eps, ",")

	code, out, errOut := runCLI(t, "", "endpoint", "health", "--endpoints", all, "--cluster")
	if code != 0 || errOut != "" {
		t.Fatalf("endpoint health --cluster: %d %q %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("endpoint health: want 3 lines, got %q", out)
	}
	for i, l := range lines {
		m := healthyLine.FindStringSubmatch(l)
		if m == nil || m[1] != eps[i] {
			t.Fatalf("endpoint health line %d: %q", i, l)
		}
	}

	// --cluster finds the other members' client addresses in the
	// cluster's member registry: one endpoint given, three checked.
	code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", eps[0], "--cluster")
	if code != 0 || errOut != "" || strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health --endpoints %s --cluster: %d %q %q", eps[0], code, out, errOut)
	}

	code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", all, "-w", "json")
	var hs []jsonHealth
	if code != 0 || json.Unmarshal([]byte(out), &hs) != nil || len(hs) != 3 {
		t.Fatalf("endpoint health -w json: %d %q %q", code, out, errOut)
	}
	for i, h := range hs {
		if !h.Health || h.Endpoint != eps[i] || h.Member != lc.Config(i).Name || h.Error != "" {
			t.Fatalf("endpoint health -w json: %+v", h)
		}
	}

	// One member down: its endpoint is unhealthy and the exit code 1.
	if err := lc.Stop(1); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", all, "--dial-timeout", "500ms", "--timeout", "2s")
	if code != exitError {
		t.Fatalf("endpoint health with n2 down: exit %d, %q %q", code, out, errOut)
	}
	if strings.Count(out, "is healthy") != 2 || strings.Contains(out, eps[1]) {
		t.Fatalf("endpoint health with n2 down: stdout %q", out)
	}
	if !strings.Contains(errOut, eps[1]+" is unhealthy: failed to commit proposal: ") ||
		!strings.Contains(errOut, "Error: unhealthy cluster: "+eps[1]) {
		t.Fatalf("endpoint health with n2 down: stderr %q", errOut)
	}

	// The others still serve linearizable reads.
	others := eps[0] + "," + eps[2]
	if code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", others); code != 0 {
		t.Fatalf("endpoint health of the live members: %d %q %q", code, out, errOut)
	}
	// With --cluster the cluster's members must all answer: n2's address,
	// from the registry, is checked and named.
	code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", others, "--cluster", "--dial-timeout", "500ms", "--timeout", "2s")
	if code != exitError || !strings.Contains(errOut, eps[1]+" is unhealthy") ||
		!strings.Contains(errOut, "Error: unhealthy cluster: "+eps[1]) {
		t.Fatalf("endpoint health --cluster with n2 down: %d %q %q", code, out, errOut)
	}

	// Two of three down: the last cannot commit a read.
	if err := lc.Stop(2); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "endpoint", "health", "--endpoints", eps[0], "--timeout", "2s")
	if code != exitError || !strings.Contains(errOut, eps[0]+" (member n1) is unhealthy") {
		t.Fatalf("endpoint health without quorum: %d %q %q", code, out, errOut)
	}
}

func TestCLIEndpointStatus(t *testing.T) {
	lc := startLocalCluster(t, 3, 2)
	eps := lc.Endpoints()
	all := strings.Join(eps, ",")

	code, out, errOut := runCLI(t, "", "put", "--endpoints", all, "k", "v")
	if code != 0 {
		t.Fatalf("put: %d %q", code, errOut)
	}
	code, out, errOut = runCLI(t, "", "endpoint", "status", "--endpoints", all, "-w", "json")
	var st []jsonEndpointStatus
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != 3 {
		t.Fatalf("endpoint status -w json: %d %q %q", code, out, errOut)
	}
	led := map[uint32]string{}
	for i, s := range st {
		if s.Endpoint != eps[i] || s.Member != lc.Config(i).Name || len(s.Shards) != 2 || s.DBSize <= 0 || s.Version == "" {
			t.Fatalf("endpoint status -w json: %+v", s)
		}
		for _, sh := range s.LeaderOf {
			led[sh] = s.Member
		}
		if s.Shards[0].Term == 0 || s.Shards[0].AppliedIndex == 0 {
			t.Fatalf("endpoint status -w json: no raft term or index: %+v", s)
		}
	}
	if len(led) != 2 {
		t.Fatalf("endpoint status: want a leader of each of 2 shards, got %v", led)
	}

	// Simple: one etcdctl-like line per endpoint.
	code, out, errOut = runCLI(t, "", "endpoint", "status", "--endpoints", all)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("endpoint status: %d %q %q", code, out, errOut)
	}
	for i, l := range lines {
		f := strings.Split(l, ", ")
		if len(f) != len(endpointStatusHeader) || f[0] != eps[i] || f[1] != lc.Config(i).Name ||
			!regexp.MustCompile(`^\d+/\d+$`).MatchString(f[6]) {
			t.Fatalf("endpoint status line %d: %q", i, l)
		}
	}
	code, out, _ = runCLI(t, "", "endpoint", "status", "--endpoints", all, "-w", "table")
	if code != 0 || !strings.Contains(out, "LEADER OF SHARDS") || !strings.Contains(out, "RAFT APPLIED INDEX") {
		t.Fatalf("endpoint status -w table: %d %q", code, out)
	}

	// --cluster takes the other members' client addresses from the
	// cluster's member registry: one endpoint given, every member listed.
	code, out, errOut = runCLI(t, "", "endpoint", "status", "--endpoints", eps[0], "--cluster")
	if code != 0 || errOut != "" || strings.Count(strings.TrimSpace(out), "\n") != 2 {
		t.Fatalf("endpoint status --cluster with one endpoint: %d %q %q", code, out, errOut)
	}
	for i, ep := range eps {
		if !strings.Contains(out, ep+", "+lc.Config(i).Name+",") {
			t.Fatalf("endpoint status --cluster does not list %s (%s): %q", ep, lc.Config(i).Name, out)
		}
	}

	if code, _, errOut = runCLI(t, "", "endpoint", "nosuch"); code != exitUsage || !strings.Contains(errOut, "want status or health") {
		t.Fatalf("endpoint nosuch: %d %q", code, errOut)
	}
}
