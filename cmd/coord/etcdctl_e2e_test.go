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
	"github.com/coord-io/coord/coord/wire"
)

// etcdctlVersion is the etcdctl the tests build from the module proxy
// (bench/etcd/build-etcdctl.sh).
const etcdctlVersion = "v3.6.5"

// etcdctlBinary builds etcdctl once per machine (the script keeps a built
// binary of the right version) and returns its path.
func etcdctlBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(os.TempDir(), "coord-test-etcdctl-"+etcdctlVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "bench", "etcd", "build-etcdctl.sh"), out, etcdctlVersion)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building etcdctl %s from the module proxy: %v\n%s", etcdctlVersion, err, b)
	}
	return out
}

// TestEtcdctl runs etcd's own command line against a three-member Coord
// through its etcd door and checks etcdctl's own output: put, get (plain,
// --prefix --keys-only, -w json with base64 keys and values), del,
// leases (grant, timetolive --keys, list, keep-alive, revoke), lock NAME --
// CMD, elect NAME VALUE and elect -l, txn from stdin, watch --rev, member list,
// endpoint status, endpoint health --cluster and compaction; without -short
// also check perf --load s (60 s).
func TestEtcdctl(t *testing.T) {
	ctl := etcdctlBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{Members: 3, Dir: t.TempDir(), EtcdPorts: []int{0, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lc.Close() })
	eps := strings.Join(lc.EtcdEndpoints(), ",")
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, ctl, append([]string{"--endpoints", eps, "--dial-timeout", "5s"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("etcdctl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	expect := func(got, want, what string) {
		t.Helper()
		if got != want {
			t.Errorf("etcdctl %s printed %q, want %q", what, got, want)
		}
	}
	expect(run("", "put", "foo", "bar"), "OK\n", "put")
	expect(run("", "put", "fop", "baz"), "OK\n", "put")
	expect(run("", "get", "foo"), "foo\nbar\n", "get")
	expect(run("", "get", "fo", "--prefix", "--keys-only"), "foo\n\nfop\n\n", "get --prefix --keys-only")

	var js struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
		} `json:"header"`
		Kvs []struct {
			Key, Value string
			Version    int64
		} `json:"kvs"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal([]byte(run("", "get", "foo", "-w", "json")), &js); err != nil {
		t.Fatalf("get -w json: %v", err)
	}
	if js.Count != 1 || len(js.Kvs) != 1 || js.Kvs[0].Key != "Zm9v" || js.Kvs[0].Value != "YmFy" || js.Kvs[0].Version != 1 {
		t.Errorf("get -w json: %+v, want one kv Zm9v=YmFy (base64, as etcdctl prints)", js)
	}
	if js.Header.ClusterID == 0 || js.Header.MemberID == 0 || js.Header.Revision < 2 {
		t.Errorf("get -w json header: %+v, want cluster_id, member_id and the store's revision", js.Header)
	}

	expect(run("", "del", "foo"), "1\n", "del")
	expect(run("", "get", "foo"), "", "get after del")

	// Leases: grant, a key attached, time-to-live with keys, list,
	// keep-alive once, revoke (the key goes with it).
	grant := run("", "lease", "grant", "30")
	var lease string
	if _, err := fmt.Sscanf(grant, "lease %s granted with TTL(30s)", &lease); err != nil {
		t.Fatalf("lease grant printed %q", grant)
	}
	expect(run("", "put", "leased", "v", "--lease="+lease), "OK\n", "put --lease")
	if ttl := run("", "lease", "timetolive", lease, "--keys"); !strings.Contains(ttl, "attached keys([leased])") {
		t.Errorf("lease timetolive --keys printed %q", ttl)
	}
	if list := run("", "lease", "list"); !strings.Contains(list, "found 1 leases") || !strings.Contains(list, lease) {
		t.Errorf("lease list printed %q", list)
	}
	expect(run("", "lease", "keep-alive", "--once", lease), "lease "+lease+" keepalived with TTL(30)\n", "lease keep-alive --once")
	expect(run("", "lease", "revoke", lease), "lease "+lease+" revoked\n", "lease revoke")
	expect(run("", "get", "leased"), "", "get of a revoked lease's key")

	// etcdctl's lock (clientv3's concurrency.Mutex over KV, Lease and
	// Watch) runs its command while holding the lock.
	expect(run("", "lock", "mylock", "--", "echo", "locked"), "locked\n", "lock NAME -- CMD")

	// etcdctl's elect (clientv3's concurrency.Election): a campaigner
	// holds the leadership while it runs; `elect -l` observes, printing
	// the leader's key and value first.
	campaign := exec.CommandContext(ctx, ctl, "--endpoints", eps, "elect", "myelection", "alice")
	if err := campaign.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = campaign.Process.Kill(); _ = campaign.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// -l observes until stopped: its first lines are the leader.
		lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
		out, _ := exec.CommandContext(lctx, ctl, "--endpoints", eps, "elect", "-l", "myelection").Output()
		lcancel()
		if strings.HasPrefix(string(out), "myelection/") && strings.Contains(string(out), "\nalice\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("elect -l never showed alice leading: %q", out)
		}
	}

	// Transactions from stdin, in etcdctl's interactive format.
	expect(run("", "put", "t", "a"), "OK\n", "put")
	expect(run("value(\"t\") = \"a\"\n\nput t b\n\nput t c\n\n", "txn"), "SUCCESS\n\nOK\n", "txn")
	expect(run("", "get", "t", "--print-value-only"), "b\n", "get after txn")

	// A watch from an old revision replays the history.
	wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
	wcmd := exec.CommandContext(wctx, ctl, "--endpoints", eps, "watch", "t", "--rev=1")
	wout, _ := wcmd.Output() // ended by the timeout
	wcancel()
	if want := "PUT\nt\na\nPUT\nt\nb\n"; !strings.HasPrefix(string(wout), want) {
		t.Errorf("watch --rev=1 printed %q, want it to start with %q", wout, want)
	}

	members := run("", "member", "list", "-w", "table")
	for _, name := range []string{"n1", "n2", "n3"} {
		if !strings.Contains(members, "| "+name+" |") && !strings.Contains(members, " "+name+" ") {
			t.Errorf("member list -w table does not list %s:\n%s", name, members)
		}
	}
	status := run("", "endpoint", "status", "-w", "table")
	if !strings.Contains(status, "3.6.0") {
		t.Errorf("endpoint status -w table does not show the API version 3.6.0:\n%s", status)
	}

	// endpoint health --cluster: every member, found through member list
	// (each member's etcd door URL), is healthy.
	health := run("", "endpoint", "health", "--cluster")
	for _, ep := range lc.EtcdEndpoints() {
		if !strings.Contains(health, "http://"+ep+" is healthy: successfully committed proposal") {
			t.Errorf("endpoint health --cluster does not find %s healthy:\n%s", ep, health)
		}
	}

	// move-leader ID: etcdctl finds the leader among the endpoints and
	// asks it; a follower then leads (every member reports it).
	leaderOf := func() uint64 {
		var st []struct {
			Status struct {
				Leader uint64 `json:"leader"`
			} `json:"Status"`
		}
		if err := json.Unmarshal([]byte(run("", "endpoint", "status", "-w", "json")), &st); err != nil || len(st) != 3 {
			t.Fatalf("endpoint status -w json: %v %v", st, err)
		}
		for _, e := range st[1:] {
			if e.Status.Leader != st[0].Status.Leader {
				return 0 // members disagree for now
			}
		}
		return st[0].Status.Leader
	}
	from := leaderOf()
	for deadline := time.Now().Add(10 * time.Second); from == 0; from = leaderOf() {
		if time.Now().After(deadline) {
			t.Fatal("the members' endpoint status never agreed on a leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var to uint64
	for _, name := range []string{"n1", "n2", "n3"} {
		if id := wire.EtcdMemberID(name); id != from && to == 0 {
			to = id
		}
	}
	expect(run("", "move-leader", fmt.Sprintf("%x", to)), fmt.Sprintf("Leadership transferred from %x to %x\n", from, to), "move-leader")
	for deadline := time.Now().Add(10 * time.Second); leaderOf() != to; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after move-leader %x, endpoint status shows leader %x", to, leaderOf())
		}
	}

	// compaction REV: later reads below REV fail as etcd's do. Revisions
	// are taken from the puts' own headers (-w json), never assumed.
	putRev := func(v string) int64 {
		t.Helper()
		var pr struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
		}
		if err := json.Unmarshal([]byte(run("", "put", "compact-me", v, "-w", "json")), &pr); err != nil || pr.Header.Revision == 0 {
			t.Fatalf("put -w json: %v %+v", err, pr)
		}
		return pr.Header.Revision
	}
	r1, r2 := putRev("1"), putRev("2")
	putRev("3")
	expect(run("", "compaction", fmt.Sprint(r2)), fmt.Sprintf("compacted revision %d\n", r2), "compaction")
	expect(run("", "get", "compact-me", "--rev", fmt.Sprint(r2), "--print-value-only"), "2\n", "get at the compacted revision")
	old := exec.CommandContext(ctx, ctl, "--endpoints", eps, "get", "compact-me", "--rev", fmt.Sprint(r1))
	if out, err := old.CombinedOutput(); err == nil || !strings.Contains(string(out), "required revision has been compacted") {
		t.Errorf("get below the compacted revision: %v, printed %q; want a failure saying it was compacted", err, out)
	}

	// check perf (load s: 60 s of 150 puts/s from 50 clients) passes
	// against three members: long mode only.
	if testing.Short() {
		return
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer pcancel()
	perf, err := exec.CommandContext(pctx, ctl, "--endpoints", eps, "check", "perf", "--load", "s").CombinedOutput()
	if err != nil || !strings.Contains(string(perf), "PASS") || strings.Contains(string(perf), "FAIL") {
		t.Errorf("check perf --load s: %v\n%s", err, perf)
	}
	// Its verdict follows the progress bar.
	verdict := string(perf)
	first := len(verdict)
	for _, w := range []string{"PASS:", "FAIL:"} {
		if i := strings.Index(verdict, w); i >= 0 && i < first {
			first = i
		}
	}
	if first < len(verdict) {
		verdict = verdict[first:]
	}
	t.Logf("check perf --load s:\n%s", verdict)
}
