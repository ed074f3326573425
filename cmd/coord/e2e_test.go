package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
	"github.com/coord-io/coord/coord/wire"
)

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startMember starts a one-member cluster on free loopback ports and
// returns its client address once it is ready.
func startMember(t *testing.T, maxValueSize int) string {
	t.Helper()
	return startMemberWith(t, func(cfg *server.Config) { cfg.MaxValueSize = maxValueSize })
}

// startMemberWith starts a one-member cluster configured by mutate and
// returns its client address once it is ready.
func startMemberWith(t *testing.T, mutate func(*server.Config)) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lc, err := server.StartLocalCluster(ctx, server.LocalClusterConfig{
		Members: 1, StopTimeout: 10 * time.Second,
		Configure: func(cfg *server.Config) {
			cfg.ListenHTTP = ""
			mutate(cfg)
		},
	})
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := lc.Close(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return lc.Endpoints()[0]
}

type jsonGet struct {
	Header struct {
		Shard    uint32 `json:"shard"`
		Revision int64  `json:"revision"`
		RaftTerm uint64 `json:"raft_term"`
		Member   string `json:"member"`
	} `json:"header"`
	Kvs []struct {
		Key            []byte `json:"key"` // base64 in JSON, as etcdctl's
		Value          []byte `json:"value"`
		CreateRevision int64  `json:"create_revision"`
		ModRevision    int64  `json:"mod_revision"`
		Version        int64  `json:"version"`
		Lease          int64  `json:"lease"`
	} `json:"kvs"`
	Count int64 `json:"count"`
	More  bool  `json:"more"`
}

func TestCLIKV(t *testing.T) {
	ep := startMember(t, 1024)
	// c runs the CLI against the member; --endpoints goes after the
	// command name to exercise the reordering.
	c := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		full := append([]string{args[0], "--endpoints", ep}, args[1:]...)
		return runCLI(t, stdin, full...)
	}
	ok := func(want string, stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := c(stdin, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
		}
		if want != "*" && out != want {
			t.Fatalf("%q: stdout %q, want %q", args, out, want)
		}
		return out
	}
	getJSON := func(args ...string) jsonGet {
		t.Helper()
		out := ok("*", "", append(args, "-w", "json")...)
		var g jsonGet
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			t.Fatalf("%q: %v in %q", args, err, out)
		}
		return g
	}

	ok("OK\n", "", "put", "a", "1")
	ok("a\n1\n", "", "get", "a")

	g1 := getJSON("get", "a")
	if g1.Header.Member != "n1" || g1.Header.Revision < 1 || g1.Count != 1 || len(g1.Kvs) != 1 {
		t.Fatalf("get a -w json: %+v", g1)
	}
	// etcdctl's header ids: the cluster's ID and the member ID the etcd
	// door reports for n1.
	var ids struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(ok("*", "", "get", "a", "-w", "json")), &ids); err != nil ||
		ids.Header.ClusterID == 0 || ids.Header.MemberID != wire.EtcdMemberID("n1") {
		t.Fatalf("get -w json header ids: %+v %v", ids, err)
	}
	kv1 := g1.Kvs[0]
	if string(kv1.Key) != "a" || string(kv1.Value) != "1" || kv1.Version != 1 || kv1.CreateRevision != kv1.ModRevision || kv1.ModRevision < 1 {
		t.Fatalf("kv after first put: %+v", kv1)
	}

	ok("OK\na\n1\n", "", "put", "a", "2", "--prev-kv")
	kv2 := getJSON("get", "a").Kvs[0]
	if string(kv2.Value) != "2" || kv2.Version != 2 || kv2.ModRevision <= kv1.ModRevision || kv2.CreateRevision != kv1.CreateRevision {
		t.Fatalf("kv after second put: %+v (first %+v)", kv2, kv1)
	}

	// The value from stdin, byte for byte; flags before positionals.
	ok("OK\n", "x\ny\n", "put", "b")
	ok("x\ny\n\n", "", "get", "--print-value-only", "b")
	// A value that looks like a flag goes after "--".
	ok("OK\n", "", "put", "c", "--", "-3")
	ok("c\n-3\n", "", "get", "c")

	ok("a\nb\nc\n", "", "get", "--prefix", "", "--keys-only")
	ok("3\n", "", "get", "a", "--from-key", "--count-only")
	ok("a\n2\nb\nx\ny\n\n", "", "get", "a", "c")
	table := ok("*", "", "get", "a", "-w", "table")
	if !strings.Contains(table, "| KEY | VALUE | CREATE | MOD | VERSION | LEASE |") || !strings.Contains(table, "| a   | 2     |") {
		t.Fatalf("table:\n%s", table)
	}

	// Transactions: compare-and-swap succeeds once, then fails.
	cas := "value(\"a\") = \"2\"\n\nput a 3\n\nget a\n"
	ok("SUCCESS\n\nOK\n", cas, "txn")
	ok("FAILURE\n\na\n3\n", cas, "txn")
	out := ok("*", "version(\"a\") > \"1\"\n\nget a --keys-only\ndel c\n\n", "txn", "-w", "json")
	var txn struct {
		Succeeded bool `json:"succeeded"`
		Responses []struct {
			Response struct { // etcd's ResponseOp oneof, as etcdctl prints it
				Range       *jsonGet        `json:"response_range"`
				DeleteRange json.RawMessage `json:"response_delete_range"`
			}
		} `json:"responses"`
	}
	if err := json.Unmarshal([]byte(out), &txn); err != nil || !txn.Succeeded || len(txn.Responses) != 2 ||
		txn.Responses[0].Response.Range == nil || string(txn.Responses[0].Response.Range.Kvs[0].Key) != "a" || txn.Responses[1].Response.DeleteRange == nil {
		t.Fatalf("txn -w json: %v %s", err, out)
	}

	// A value over the member's limit: exit 1, one line.
	code, out, errOut := c("", "put", "big", strings.Repeat("x", 2000))
	if code != exitError || out != "" || !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("too large: exit %d stdout %q stderr %q", code, out, errOut)
	}
	// A usage error: exit 2.
	if code, _, errOut := c("", "get"); code != exitUsage || !strings.HasPrefix(errOut, "Error: missing argument") {
		t.Fatalf("usage: exit %d stderr %q", code, errOut)
	}

	ok("1\n", "", "del", "b")
	ok("0\n", "", "del", "b")
	ok("1\na\n3\n", "", "del", "a", "--prefix", "--prev-kv")

	// Compact, then reading below the compacted revision fails.
	rev := getJSON("get", "zzz").Header.Revision
	ok(fmt.Sprintf("compacted revision %d\n", rev), "", "compact", strconv.FormatInt(rev, 10))
	code, _, errOut = c("", "get", "a", "--rev", "1")
	if code != exitError || !strings.Contains(errOut, "compacted") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("get below compaction: exit %d stderr %q", code, errOut)
	}

	// Status.
	st := ok("*", "", "status")
	if lines := strings.Split(strings.TrimSpace(st), "\n"); len(lines) < 2 || !strings.HasPrefix(lines[0], "ENDPOINT") || !strings.Contains(lines[1], ep) || !strings.Contains(lines[1], "true") {
		t.Fatalf("status:\n%s", st)
	}
	var sts []map[string]any
	if err := json.Unmarshal([]byte(ok("*", "", "status", "-w", "json")), &sts); err != nil || len(sts) != 1 || sts[0]["member"] != "n1" {
		t.Fatalf("status json: %v %v", err, sts)
	}
	// One reachable and one unreachable endpoint: exit 1, rows for the first.
	code, out, errOut = runCLI(t, "", "status", "--endpoints", ep+","+freeAddr(t), "--dial-timeout", "300ms", "--timeout", "1s")
	if code != exitError || !strings.Contains(out, ep) || !strings.Contains(errOut, "Error: ") {
		t.Fatalf("status with a dead endpoint: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCLIServe runs `coord serve` in-process, uses it, and stops it as
// SIGINT would (by cancelling its context).
func TestCLIServe(t *testing.T) {
	client, etcd := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"coord", "serve", "--name", "s1", "--data-dir", t.TempDir(),
			"--listen-client", client, "--listen-peer", freeAddr(t), "--listen-http", freeAddr(t),
			"--listen-etcd", etcd, "--log-format", "json"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	waitFor(t, 30*time.Second, "serve to answer", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, stderr.String())
		default:
		}
		code, _, _ := runCLI(t, "", "put", "k", "v", "--endpoints", client, "--timeout", "1s")
		return code == 0
	})
	if code, out, _ := runCLI(t, "", "get", "k", "--endpoints", client); code != 0 || out != "k\nv\n" {
		t.Fatalf("get: %d %q", code, out)
	}
	// The etcd door (--listen-etcd): etcd's JSON gateway reads the key.
	resp, err := http.Post("http://"+etcd+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"aw=="}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":"dg=="`) {
		t.Fatalf("etcd gateway range: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopping member"`) {
		t.Fatalf("serve logs lack the stop message:\n%s", stderr.String())
	}
}

// freeBasePort finds a port p with p, p+1 and p+2 free on loopback.
func freeBasePort(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		_, ps, _ := net.SplitHostPort(freeAddr(t))
		p, _ := strconv.Atoi(ps)
		if p+2 > 65535 {
			continue
		}
		free := true
		for i := 1; i <= 2; i++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			return p
		}
	}
	t.Fatal("no three consecutive free ports")
	return 0
}

// TestCLIDev runs a one-member `coord dev` and checks its output.
func TestCLIDev(t *testing.T) {
	base := freeBasePort(t)
	etcd := freeAddr(t)
	_, etcdPort, _ := net.SplitHostPort(etcd)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, []string{"coord", "dev", "--nodes", "1", "--base-port", strconv.Itoa(base), "--etcd-ports", etcdPort},
			strings.NewReader(""), &stdout, &stderr)
	}()
	waitFor(t, 60*time.Second, "dev to print ready", func() bool {
		select {
		case code := <-done:
			t.Fatalf("dev exited early with %d: %s", code, stderr.String())
		default:
		}
		return strings.HasSuffix(stdout.String(), "ready\n")
	})
	client := fmt.Sprintf("127.0.0.1:%d", base)
	want := fmt.Sprintf("n1 client=%s peer=127.0.0.1:%d http=127.0.0.1:%d etcd=%s\nexport COORD_ENDPOINTS=%s\nexport ETCDCTL_ENDPOINTS=%s\nready\n",
		client, base+1, base+2, etcd, client, etcd)
	if got := stdout.String(); got != want {
		t.Fatalf("dev output:\n%s\nwant\n%s", got, want)
	}
	t.Setenv("COORD_ENDPOINTS", client)
	if code, out, errOut := runCLI(t, "", "put", "x", "1"); code != 0 || out != "OK\n" {
		t.Fatalf("put against dev: %d %q %q", code, out, errOut)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("dev exit code %d: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
}
