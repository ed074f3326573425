package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// TestEtcdctlSnapshot: `etcdctl snapshot save` through the etcd door
// keeps Coord's backup stream (it checks the trailing SHA-256 at a size
// of 32 modulo 512); `coord snapshot status` verifies that file and
// counts its keys; `coord snapshot restore` builds a member from it that
// serves the keys under a new cluster identity. A damaged copy is refused
// by status and restore with a one-line reason and exit status 1.
func TestEtcdctlSnapshot(t *testing.T) {
	ctl := etcdctlBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 3, Dir: t.TempDir(), EtcdPorts: []int{0, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	for i := 0; i < 10; i++ {
		if code, _, stderr := runCLI(t, "", "put", fmt.Sprintf("e/%d", i), fmt.Sprintf("v%d", i), "--endpoints", lc.Endpoints()[0]); code != 0 {
			t.Fatalf("put: %s", stderr)
		}
	}
	file := filepath.Join(t.TempDir(), "etcd.db")
	cmd := exec.CommandContext(ctx, ctl, "--endpoints", lc.EtcdEndpoints()[1], "--dial-timeout", "5s", "snapshot", "save", file)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Snapshot saved at "+file) {
		t.Fatalf("etcdctl snapshot save: %v\n%s", err, out)
	}

	code, stdout, stderr := runCLI(t, "", "snapshot", "status", file, "-w", "json")
	if code != 0 {
		t.Fatalf("snapshot status: %d %s", code, stderr)
	}
	var st struct {
		ClusterID string `json:"cluster_id"`
		Member    string `json:"member"`
		Keys      int64  `json:"keys"`
		Shards    []struct {
			Revision int64 `json:"revision"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status -w json: %v: %s", err, stdout)
	}
	if st.Keys != 10 || st.Member != "n2" || len(st.Shards) != 1 || st.Shards[0].Revision != 11 { // ten puts on a fresh store: revisions 2..11 (etcd's numbering)
		t.Fatalf("status of etcdctl's file: %+v", st)
	}
	for _, format := range []string{"simple", "table"} {
		code, stdout, stderr := runCLI(t, "", "snapshot", "status", file, "-w", format)
		if code != 0 || !strings.Contains(stdout, "1 shards, 10 keys") || !strings.Contains(stdout, "REVISION") {
			t.Fatalf("status -w %s: %d %s%s", format, code, stdout, stderr)
		}
	}

	// A damaged copy: status and restore refuse it.
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.db")
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "", "snapshot", "status", bad)
	if code != exitError || !strings.Contains(stderr, "checksum mismatch") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("status of a damaged file: %d %q", code, stderr)
	}

	// Restore into a one-member cluster.
	dst, err := server.NewLocalCluster(server.LocalClusterConfig{Members: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := dst.Config(0)
	code, _, stderr = runCLI(t, "", "snapshot", "restore", bad, "--data-dir", cfg.DataDir, "--name", cfg.Name, "--initial-cluster", cfg.InitialCluster)
	if code != exitError || !strings.Contains(stderr, "checksum mismatch") {
		t.Fatalf("restore of a damaged file: %d %q", code, stderr)
	}
	if _, err := os.Stat(cfg.DataDir); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s", cfg.DataDir)
	}
	code, stdout, stderr = runCLI(t, "", "snapshot", "restore", file, "--data-dir", cfg.DataDir, "--name", cfg.Name, "--initial-cluster", cfg.InitialCluster)
	if code != 0 || !strings.Contains(stdout, "--shards 1") {
		t.Fatalf("restore: %d %s%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "", "snapshot", "restore", file, "--data-dir", cfg.DataDir, "--name", cfg.Name, "--initial-cluster", cfg.InitialCluster)
	if code != exitError || !strings.Contains(stderr, "not empty") {
		t.Fatalf("restore into a used directory: %d %q", code, stderr)
	}
	t.Cleanup(func() { _ = dst.Close() })
	if err := dst.Start(); err != nil {
		t.Fatal(err)
	}
	if err := dst.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "", "get", "e/", "--prefix", "--count-only", "-w", "json", "--endpoints", dst.Endpoints()[0])
	if code != 0 || !strings.Contains(stdout, `"count":10`) {
		t.Fatalf("restored get: %d %s%s", code, stdout, stderr)
	}
	if dst.Member(0).ClusterID() == lc.Member(0).ClusterID() {
		t.Fatal("the restored cluster kept the old cluster identity")
	}
}

// TestSnapshotUsage: missing arguments and flags are usage errors (exit
// 2); a missing file is an error (exit 1).
func TestSnapshotUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"snapshot", "save"}, exitUsage, "missing argument: FILE"},
		{[]string{"snapshot", "status"}, exitUsage, "missing argument: FILE"},
		{[]string{"snapshot", "frob"}, exitUsage, "unknown snapshot command"},
		{[]string{"snapshot", "restore", "f"}, exitUsage, "missing flag: --data-dir"},
		{[]string{"snapshot", "status", filepath.Join(t.TempDir(), "none")}, exitError, "no such file"},
		{[]string{"snapshot", "restore", "f", "--data-dir", t.TempDir() + "/x", "--name", "n9", "--initial-cluster", "n1=127.0.0.1:1"}, exitError, `member "n9" is not in the initial cluster`},
	} {
		code, _, stderr := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("coord %s: exit %d %q, want %d and %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
}
