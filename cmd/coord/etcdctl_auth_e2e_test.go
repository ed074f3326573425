package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// TestEtcdctlAuth runs etcdctl's user, role and auth commands against a
// three-member Coord through its etcd door, as one would against etcd:
// the root user, a role with readwrite on the /app/ prefix, user alice
// with it, auth enable (etcdctl adds the root role itself when etcd says
// it is missing); then --user root:PW user list, --user alice:PW put
// /app/x works and put /other/x is denied (and not written); auth disable
// as root.
func TestEtcdctlAuth(t *testing.T) {
	ctl := etcdctlBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 3, Dir: t.TempDir(), EtcdPorts: []int{0, 0, 0},
		Configure: func(c *server.Config) { c.BcryptCost = 4 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	eps := strings.Join(lc.EtcdEndpoints(), ",")
	try := func(endpoints string, args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, ctl, append([]string{"--endpoints", endpoints, "--dial-timeout", "5s"}, args...)...)
		out, err := cmd.Output()
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return string(out), string(stderr), err
	}
	expect := func(want string, args ...string) {
		t.Helper()
		out, stderr, err := try(eps, args...)
		if err != nil {
			t.Fatalf("etcdctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		if out != want {
			t.Errorf("etcdctl %s printed %q, want %q", strings.Join(args, " "), out, want)
		}
	}

	expect("User root created\n", "user", "add", "root:rootpw")
	expect("Role app created\n", "role", "add", "app")
	expect("Role app updated\n", "role", "grant-permission", "app", "readwrite", "/app/", "--prefix")
	expect("Role app\nKV Read:\n\t[/app/, /app0) (prefix /app/)\nKV Write:\n\t[/app/, /app0) (prefix /app/)\n", "role", "get", "app")
	expect("User alice created\n", "user", "add", "alice:pw")
	expect("Role app is granted to user alice\n", "user", "grant-role", "alice", "app")
	expect("Authentication Enabled\n", "auth", "enable")

	// Every member enforces it before the checks below.
	for _, ep := range lc.EtcdEndpoints() {
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, stderr, err := try(ep, "get", "/app/x")
			if err != nil && strings.Contains(stderr, "user name is empty") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %s does not enforce auth: err %v, %s", ep, err, stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	expect("alice\nroot\n", "--user", "root:rootpw", "user", "list")
	expect("app\nroot\n", "--user", "root:rootpw", "role", "list")
	expect("OK\n", "--user", "alice:pw", "put", "/app/x", "1")
	expect("/app/x\n1\n", "--user", "alice:pw", "get", "/app/x")
	out, stderr, err := try(eps, "--user", "alice:pw", "put", "/other/x", "1")
	if err == nil || !strings.Contains(stderr, "permission denied") {
		t.Errorf("etcdctl --user alice:pw put /other/x: err %v, printed %q %q; want permission denied", err, out, stderr)
	}
	_, stderr, err = try(eps, "--user", "alice:wrong", "put", "/app/x", "2")
	if err == nil || !strings.Contains(stderr, "authentication failed") {
		t.Errorf("etcdctl with a wrong password: err %v, %q; want authentication failed", err, stderr)
	}
	expect("", "--user", "root:rootpw", "get", "/other/x")
	expect("Authentication Disabled\n", "--user", "root:rootpw", "auth", "disable")
}
