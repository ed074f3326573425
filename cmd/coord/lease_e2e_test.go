package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/server"
)

// startMemberShards starts a one-member cluster with the given number of
// shards and returns its client address once it is ready.
func startMemberShards(t *testing.T, shards int) string {
	t.Helper()
	return startMemberWith(t, func(cfg *server.Config) { cfg.Shards = shards })
}

// cliAt runs command lines against one endpoint.
type cliAt struct {
	t  *testing.T
	ep string
}

func (c cliAt) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	return runCLI(c.t, stdin, withEndpoints(args, c.ep)...)
}

// withEndpoints adds --endpoints ep at the end of args, or before the
// command to run after "--".
func withEndpoints(args []string, ep string) []string {
	out := make([]string, 0, len(args)+2)
	for i, a := range args {
		if a == "--" {
			out = append(out, "--endpoints", ep)
			return append(out, args[i:]...)
		}
		out = append(out, a)
	}
	return append(out, "--endpoints", ep)
}

// ok runs args, which must succeed; want "*" accepts any output.
func (c cliAt) ok(want string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("%q: exit %d, stderr %q", args, code, errOut)
	}
	if want != "*" && out != want {
		c.t.Fatalf("%q: stdout %q, want %q", args, out, want)
	}
	return out
}

// fails runs args, which must exit 1 with one error line containing want.
func (c cliAt) fails(want string, args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run("", args...)
	if code != exitError || out != "" || !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		c.t.Fatalf("%q: exit %d stdout %q stderr %q; want exit 1 and one error line with %q", args, code, out, errOut, want)
	}
	return errOut
}

func (c cliAt) getJSON(args ...string) jsonGet {
	c.t.Helper()
	out := c.ok("*", append(append([]string{"get"}, args...), "-w", "json")...)
	var g jsonGet
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		c.t.Fatalf("get %q: %v in %q", args, err, out)
	}
	return g
}

var grantRE = regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)\n$`)

// grant runs `lease grant` with args and returns the hex ID and TTL.
func (c cliAt) grant(args ...string) (string, int64) {
	c.t.Helper()
	out := c.ok("*", append([]string{"lease", "grant"}, args...)...)
	m := grantRE.FindStringSubmatch(out)
	if m == nil {
		c.t.Fatalf("lease grant %q: output %q", args, out)
	}
	ttl, _ := strconv.ParseInt(m[2], 10, 64)
	return m[1], ttl
}

func TestCLILease(t *testing.T) {
	c := cliAt{t, startMemberShards(t, 4)}

	id, ttl := c.grant("60", "--key", "svc/a")
	if ttl != 60 {
		t.Fatalf("granted TTL %d, want 60", ttl)
	}
	idNum, err := parseLeaseArg(id)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("OK\n", "put", "svc/a", "up", "--lease", id)
	// JSON keeps the lease a number; the table shows it in hex.
	if g := c.getJSON("svc/a"); len(g.Kvs) != 1 || g.Kvs[0].Lease != idNum {
		t.Fatalf("get -w json: %+v, want lease %d", g, idNum)
	}
	if table := c.ok("*", "get", "svc/a", "-w", "table"); !strings.Contains(table, "| "+id+" |") {
		t.Fatalf("get -w table lacks the lease %s:\n%s", id, table)
	}

	ttlRE := regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[svc/a\]\)\n$`)
	if out := c.ok("*", "lease", "ttl", id, "--keys"); !ttlRE.MatchString(out) {
		t.Fatalf("lease ttl --keys: %q", out)
	}
	if out := c.ok("*", "lease", "ttl", id); !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\(\d+s\)\n$`).MatchString(out) {
		t.Fatalf("lease ttl: %q", out)
	}
	var tj struct {
		ID         int64    `json:"id"`
		TTL        int64    `json:"ttl"`
		GrantedTTL int64    `json:"granted_ttl"`
		Keys       []string `json:"keys"`
	}
	if err := json.Unmarshal([]byte(c.ok("*", "lease", "ttl", id, "--keys", "-w", "json")), &tj); err != nil ||
		tj.ID != idNum || tj.GrantedTTL != 60 || tj.TTL <= 0 || tj.TTL > 60 || len(tj.Keys) != 1 || tj.Keys[0] != "svc/a" {
		t.Fatalf("lease ttl -w json: %v %+v", err, tj)
	}

	// A second lease elsewhere; list shows both.
	id2, _ := c.grant("30s")
	list := c.ok("*", "lease", "list")
	if lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n"); lines[0] != fmt.Sprintf("found %d leases", len(lines)-1) ||
		!strings.Contains(list, "\n"+id+"\n") || !strings.Contains(list, "\n"+id2+"\n") {
		t.Fatalf("lease list:\n%s", list)
	}

	c.ok("lease "+id+" keepalived with TTL(60)\n", "lease", "keepalive", id, "--once")

	c.ok("lease "+id+" revoked\n", "lease", "revoke", id)
	c.ok("", "get", "svc/a")
	c.ok("lease "+id+" already expired\n", "lease", "ttl", id, "--keys")
	c.fails("lease "+id+" expired or revoked", "lease", "keepalive", id, "--once")
	c.fails("lease "+id, "lease", "revoke", id)
	c.fails("lease "+id, "put", "svc/a", "x", "--lease", id)
	c.ok("lease "+id2+" revoked\n", "lease", "revoke", id2)
}

// TestCLILeaseWrongShard checks that a key cannot join a lease of another
// shard, and that --key avoids that.
func TestCLILeaseWrongShard(t *testing.T) {
	c := cliAt{t, startMemberShards(t, 4)}
	id, _ := c.grant("60", "--key", "{a}")
	// Find a key in another shard: some of 20 keys must be.
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("k%d", i)
		code, _, errOut := c.run("", "put", k, "v", "--lease", id)
		if code == exitError {
			if !strings.Contains(errOut, "shard") || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("wrong-shard error: %q", errOut)
			}
			id2, _ := c.grant("60", "--key", k)
			c.ok("OK\n", "put", k, "v", "--lease", id2)
			return
		}
		if code != 0 {
			t.Fatalf("put %s --lease: exit %d %q", k, code, errOut)
		}
	}
	t.Fatal("20 keys all in the shard of {a} (or the server does not check lease shards)")
}

func TestCLIPutTTL(t *testing.T) {
	c := cliAt{t, startMemberShards(t, 4)}
	c.ok("OK\n", "put", "tmp/token", "abc", "--ttl", "2s")
	g := c.getJSON("tmp/token")
	if len(g.Kvs) != 1 || g.Kvs[0].Lease == 0 {
		t.Fatalf("put --ttl: %+v, want a key with a lease", g)
	}
	lease := formatLease(g.Kvs[0].Lease)
	if out := c.ok("*", "lease", "ttl", lease, "--keys"); !strings.Contains(out, "attached keys([tmp/token])") {
		t.Fatalf("lease ttl of the --ttl lease: %q", out)
	}
	// The server may raise a short TTL to its minimum: wait generously.
	waitFor(t, 30*time.Second, "the --ttl key to expire", func() bool {
		code, out, _ := c.run("", "get", "tmp/token")
		return code == 0 && out == ""
	})
	c.ok("lease "+lease+" already expired\n", "lease", "ttl", lease)
}

// bg runs a long-running command line in the background until stop.
type bg struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func startBG(t *testing.T, ep string, args ...string) *bg {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bg{cancel: cancel, done: make(chan int, 1)}
	full := append([]string{"coord"}, withEndpoints(args, ep)...)
	go func() { b.done <- runContext(ctx, full, strings.NewReader(""), &b.stdout, &b.stderr) }()
	t.Cleanup(func() { cancel(); <-b.done })
	return b
}

// wait waits for the command to exit by itself and returns its exit code.
func (b *bg) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code // for the cleanup
		return code
	case <-time.After(d):
		t.Fatalf("command still running after %s; stdout %q stderr %q", d, b.stdout.String(), b.stderr.String())
		return 0
	}
}

// stop interrupts the command (as Ctrl-C would) and returns its exit code.
func (b *bg) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	return b.wait(t, 30*time.Second)
}

// running fails the test if the command has exited.
func (b *bg) running(t *testing.T) {
	t.Helper()
	select {
	case code := <-b.done:
		b.done <- code
		t.Fatalf("command exited early with %d; stdout %q stderr %q", code, b.stdout.String(), b.stderr.String())
	default:
	}
}

func TestCLILeaseKeepAlive(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	id, ttl := c.grant("3")
	ka := startBG(t, ep, "lease", "keepalive", id)
	line := fmt.Sprintf("lease %s keepalived with TTL(%d)\n", id, ttl)
	// Renewals every TTL/3: three within a few TTLs, and the lease lives on.
	waitFor(t, time.Duration(ttl)*4*time.Second+10*time.Second, "three renewals", func() bool {
		ka.running(t)
		return strings.Count(ka.stdout.String(), line) >= 3
	})
	if out := ka.stdout.String(); strings.ReplaceAll(out, line, "") != "" {
		t.Fatalf("keepalive output: %q", out)
	}
	if code := ka.stop(t); code != 0 {
		t.Fatalf("keepalive exit %d after interrupt, stderr %q", code, ka.stderr.String())
	}
	if ka.stderr.String() != "" {
		t.Fatalf("keepalive stderr %q", ka.stderr.String())
	}

	// A revoked lease ends the keep-alive with exit 1.
	ka = startBG(t, ep, "lease", "keepalive", id)
	waitFor(t, 10*time.Second, "the first renewal", func() bool {
		ka.running(t)
		return strings.Contains(ka.stdout.String(), line)
	})
	c.ok("lease "+id+" revoked\n", "lease", "revoke", id)
	if code := ka.wait(t, time.Duration(ttl)*2*time.Second+10*time.Second); code != exitError {
		t.Fatalf("keepalive of a revoked lease: exit %d, stderr %q", code, ka.stderr.String())
	}
	if got, want := ka.stderr.String(), "Error: lease "+id+" expired or revoked\n"; got != want {
		t.Fatalf("keepalive stderr %q, want %q", got, want)
	}
}

// watchBlock is the simple output of one event.
func watchBlock(typ, key, value string) string { return typ + "\n" + key + "\n" + value + "\n" }

func TestCLIWatch(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	// Keys with a {w} hash tag live in one shard, so their events are
	// totally ordered even with several shards.
	w := startBG(t, ep, "watch", "{w}/", "--prefix")
	// The watch starts at the next revision once established: put a
	// marker until it shows up.
	ready := watchBlock("PUT", "{w}/ready", "x")
	waitFor(t, 30*time.Second, "the watch to see the marker", func() bool {
		w.running(t)
		c.ok("OK\n", "put", "{w}/ready", "x")
		return strings.Contains(w.stdout.String(), ready)
	})
	var want strings.Builder
	for i := 0; i < 5; i++ {
		k, v := fmt.Sprintf("{w}/k%d", i), fmt.Sprintf("v%d", i)
		c.ok("OK\n", "put", k, v)
		want.WriteString(watchBlock("PUT", k, v))
	}
	c.ok("OK\n", "put", "other", "not watched")
	c.ok("1\n", "del", "{w}/k2")
	want.WriteString(watchBlock("DELETE", "{w}/k2", ""))
	waitFor(t, 30*time.Second, "the puts and the delete", func() bool {
		w.running(t)
		return strings.HasSuffix(w.stdout.String(), want.String())
	})
	if code := w.stop(t); code != 0 || w.stderr.String() != "" {
		t.Fatalf("watch exit %d after interrupt, stderr %q", code, w.stderr.String())
	}
	if rest := strings.ReplaceAll(w.stdout.String(), ready, ""); rest != want.String() {
		t.Fatalf("watch output:\n%s\nwant (after the markers)\n%s", rest, want.String())
	}
}

func TestCLIWatchHistory(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	c.ok("OK\n", "put", "h/a", "1")
	start := c.getJSON("h/a").Kvs[0].ModRevision
	c.ok("OK\n", "put", "h/a", "2")
	c.ok("OK\n", "put", "h/b", "3")
	c.ok("1\n", "del", "h/a")

	// --rev replays from start; --prev-kv prints the previous key/value
	// after the type line, as etcdctl does.
	w := startBG(t, ep, "watch", "h/", "--prefix", "--rev", strconv.FormatInt(start, 10), "--prev-kv")
	want := "PUT\nh/a\n1\n" +
		"PUT\nh/a\n1\nh/a\n2\n" +
		"PUT\nh/b\n3\n" +
		"DELETE\nh/a\n2\nh/a\n\n"
	waitFor(t, 30*time.Second, "the history", func() bool {
		w.running(t)
		return w.stdout.String() == want
	})
	// Then live.
	c.ok("OK\n", "put", "h/c", "4")
	want += "PUT\nh/c\n4\n"
	waitFor(t, 30*time.Second, "the live event", func() bool {
		w.running(t)
		return w.stdout.String() == want
	})
	if code := w.stop(t); code != 0 {
		t.Fatalf("watch exit %d, stderr %q", code, w.stderr.String())
	}

	// --filter-put leaves the delete; -w json is one object per batch, in
	// etcdctl's shape (clientv3's WatchResponse field names, type 1 for a
	// delete, base64 keys).
	w = startBG(t, ep, "watch", "h/", "--prefix", "--rev", strconv.FormatInt(start, 10), "--filter-put", "-w", "json")
	type event struct {
		Type int `json:"type"`
		Kv   struct {
			Key         []byte `json:"key"`
			Value       []byte `json:"value"`
			ModRevision int64  `json:"mod_revision"`
		} `json:"kv"`
	}
	var events []event
	waitFor(t, 30*time.Second, "the json delete event", func() bool {
		w.running(t)
		events = nil
		for _, line := range strings.Split(strings.TrimSpace(w.stdout.String()), "\n") {
			if line == "" {
				continue
			}
			var batch struct {
				Header struct {
					Revision int64 `json:"revision"`
				} `json:"Header"`
				Events          []event `json:"Events"`
				CompactRevision *int64  `json:"CompactRevision"`
			}
			if err := json.Unmarshal([]byte(line), &batch); err != nil || batch.CompactRevision == nil || len(batch.Events) == 0 {
				t.Fatalf("watch -w json line %q: %v", line, err)
			}
			events = append(events, batch.Events...)
		}
		return len(events) >= 1
	})
	if len(events) != 1 || events[0].Type != 1 || string(events[0].Kv.Key) != "h/a" || events[0].Kv.ModRevision <= start {
		t.Fatalf("json events: %+v", events)
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("watch exit %d, stderr %q", code, w.stderr.String())
	}

	// Below the compacted revision: exit 1 naming the compact revision.
	rev := c.getJSON("h/c").Header.Revision
	c.ok(fmt.Sprintf("compacted revision %d\n", rev), "compact", strconv.FormatInt(rev, 10))
	w = startBG(t, ep, "watch", "h/", "--prefix", "--rev", strconv.FormatInt(start, 10))
	if code := w.wait(t, 30*time.Second); code != exitError {
		t.Fatalf("watch below compaction: exit %d, stderr %q", code, w.stderr.String())
	}
	errOut := w.stderr.String()
	if !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "compacted") || !strings.Contains(errOut, strconv.FormatInt(rev, 10)) {
		t.Fatalf("watch below compaction: stderr %q, want one line naming revision %d", errOut, rev)
	}
	if w.stdout.String() != "" {
		t.Fatalf("watch below compaction printed %q", w.stdout.String())
	}
}
