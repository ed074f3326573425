package main

import (
	"os"
	"strings"
	"testing"
)

// TestProcfile checks that deploy/Procfile starts valid members that agree
// on the cluster and share no listening address.
func TestProcfile(t *testing.T) {
	data, err := os.ReadFile("../../deploy/Procfile")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{}
	var names []string
	var cluster string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		proc, cmd, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("Procfile line without a process name: %q", line)
		}
		f := strings.Fields(cmd)
		if len(f) < 2 || f[0] != "bin/coord" || f[1] != "serve" {
			t.Fatalf("Procfile %s: want bin/coord serve ..., got %q", proc, cmd)
		}
		cfg := serveConfigFromArgs(t, f[2:]...)
		if cfg.Name != proc {
			t.Errorf("Procfile %s: member name %q", proc, cfg.Name)
		}
		if cluster == "" {
			cluster = cfg.InitialCluster
		} else if cfg.InitialCluster != cluster {
			t.Errorf("Procfile %s: --initial-cluster %q differs from %q", proc, cfg.InitialCluster, cluster)
		}
		if !strings.Contains(cluster, cfg.Name+"="+cfg.ListenPeer) {
			t.Errorf("Procfile %s: peer %s not in --initial-cluster %q", proc, cfg.ListenPeer, cluster)
		}
		for what, addr := range map[string]string{"client": cfg.ListenClient, "peer": cfg.ListenPeer, "http": cfg.ListenHTTP, "etcd": cfg.ListenEtcd, "data dir": cfg.DataDir} {
			if addr == "" {
				continue
			}
			if other, dup := used[addr]; dup {
				t.Errorf("Procfile %s: %s %s is also %s", proc, what, addr, other)
			}
			used[addr] = proc + "'s " + what
		}
		names = append(names, proc)
	}
	if len(names) != 3 {
		t.Fatalf("Procfile: want 3 members, got %v", names)
	}
}
