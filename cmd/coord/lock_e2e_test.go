package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lockStatusJSON runs lock status -w json.
func (c cliAt) lockStatusJSON(name string) jsonLockStatus {
	c.t.Helper()
	out := c.ok("*", "lock", "status", name, "-w", "json")
	var st jsonLockStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("lock status -w json: %v in %q", err, out)
	}
	return st
}

func TestCLILockAcquireCommand(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")

	// The command sees the token and the name; its status is ours.
	out := c.ok("*", "lock", "acquire", "L", "--", "sh", "-c", `echo "$COORD_LOCK_NAME $COORD_LOCK_TOKEN"`)
	if !regexp.MustCompile(`^L [1-9][0-9]*\n$`).MatchString(out) {
		t.Fatalf("lock acquire -- sh: %q", out)
	}
	code, out, errOut := c.run("", "lock", "acquire", "L", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("exit status: %d %q %q", code, out, errOut)
	}
	// Released after the command: free again.
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")
	// The command's flags are its own.
	c.ok("--ttl x\n", "lock", "acquire", "L", "--ttl", "5s", "--", "echo", "--ttl", "x")
	// A command that cannot be found is an error of ours, found before
	// waiting for the lock (held here by another acquire).
	holder := startBG(t, ep, "lock", "acquire", "L")
	waitFor(t, 30*time.Second, "the lock to be held", func() bool {
		holder.running(t)
		return strings.HasPrefix(holder.stdout.String(), "L ")
	})
	c.fails("cannot run coord-no-such-command: executable file not found", "lock", "acquire", "L", "--", "coord-no-such-command")
	c.fails("cannot run coord-no-such-command: executable file not found", "elect", "campaign", "E", "v", "--", "coord-no-such-command")
	if code := holder.stop(t); code != 0 {
		t.Fatalf("holder exit %d", code)
	}
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")
}

func TestCLILockHoldStatusAndTimeout(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	holder := startBG(t, ep, "lock", "acquire", "L", "--ttl", "30s")
	lineRE := regexp.MustCompile(`^L ([1-9][0-9]*)\n$`)
	var token string
	waitFor(t, 30*time.Second, "the lock to be held", func() bool {
		holder.running(t)
		m := lineRE.FindStringSubmatch(holder.stdout.String())
		if m != nil {
			token = m[1]
		}
		return m != nil
	})

	host, _ := os.Hostname()
	st := c.lockStatusJSON("L")
	if !st.Held || strconv.FormatInt(st.Token, 10) != token || st.Owner == nil || !strings.HasPrefix(*st.Owner, host+" pid ") ||
		st.Lease == 0 || st.LeaseTTL <= 0 || st.LeaseTTL > 30 || st.Waiters != 0 || st.Name != "L" {
		t.Fatalf("lock status -w json: %+v", st)
	}
	want := fmt.Sprintf("holder: %s\ntoken: %s\nlease: %s\nttl: \\d+s\nwaiters: 0\n", regexp.QuoteMeta(*st.Owner), token, leaseHex(st.Lease))
	if out := c.ok("*", "lock", "status", "L"); !regexp.MustCompile("^" + want + "$").MatchString(out) {
		t.Fatalf("lock status: %q, want %q", out, want)
	}
	if out := c.ok("*", "lock", "status", "L", "-w", "table"); !strings.Contains(out, "| L    |") || !strings.Contains(out, token) {
		t.Fatalf("lock status -w table:\n%s", out)
	}

	// --timeout after the command is the wait: it runs out, naming the holder.
	start := time.Now()
	errOut := c.fails("timed out waiting for lock L (held by "+*st.Owner+", token "+token+")\n", "lock", "acquire", "L", "--timeout", "300ms", "--", "true")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("--timeout 300ms took %s (%q)", d, errOut)
	}
	// The global --timeout before the command is per request, not the wait.
	w := startBG(t, ep, "--timeout", "200ms", "lock", "acquire", "L", "--", "sh", "-c", `echo "got $COORD_LOCK_TOKEN"`)
	waitFor(t, 30*time.Second, "a waiter", func() bool {
		w.running(t)
		return c.lockStatusJSON("L").Waiters == 1
	})
	time.Sleep(500 * time.Millisecond)
	w.running(t)

	// A waiter interrupted gives up its place.
	if code := w.stop(t); code != exitError || w.stderr.String() != "Error: interrupted while waiting for lock L\n" || w.stdout.String() != "" {
		t.Fatalf("interrupted waiter: exit %d stdout %q stderr %q", code, w.stdout.String(), w.stderr.String())
	}
	waitFor(t, 10*time.Second, "the waiter to leave", func() bool { return c.lockStatusJSON("L").Waiters == 0 })

	// The holder releases on Ctrl-C; then the lock is free.
	if code := holder.stop(t); code != 0 || holder.stderr.String() != "" {
		t.Fatalf("holder exit %d stderr %q", code, holder.stderr.String())
	}
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")
}

func TestCLILockMutualExclusion(t *testing.T) {
	ep := startMemberShards(t, 4)
	dir := t.TempDir()
	counter, log := filepath.Join(dir, "counter"), filepath.Join(dir, "log")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`n=$(cat %s); sleep 0.05; echo $((n+1)) > %s; echo $COORD_LOCK_TOKEN >> %s`, counter, counter, log)
	const n = 5
	var runs []*bg
	for i := 0; i < n; i++ {
		runs = append(runs, startBG(t, ep, "lock", "acquire", "L", "--", "sh", "-c", script))
	}
	for i, r := range runs {
		if code := r.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("run %d: exit %d stderr %q", i, code, r.stderr.String())
		}
	}
	if b, _ := os.ReadFile(counter); strings.TrimSpace(string(b)) != strconv.Itoa(n) {
		t.Fatalf("counter %q, want %d (the lock did not exclude)", b, n)
	}
	b, _ := os.ReadFile(log)
	tokens := strings.Fields(string(b))
	if len(tokens) != n {
		t.Fatalf("tokens %q", tokens)
	}
	var last int64
	for _, s := range tokens {
		tok, err := strconv.ParseInt(s, 10, 64)
		if err != nil || tok <= last {
			t.Fatalf("tokens not strictly increasing in run order: %q", tokens)
		}
		last = tok
	}
}

func TestCLILockLostTerminatesCommand(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	r := startBG(t, ep, "lock", "acquire", "L", "--ttl", "2s", "--kill-grace", "300ms", "--",
		"sh", "-c", `trap '' TERM; echo started; sleep 60`)
	waitFor(t, 30*time.Second, "the command to start", func() bool {
		r.running(t)
		return r.stdout.String() == "started\n"
	})
	// Revoking the session's lease loses the lock.
	st := c.lockStatusJSON("L")
	c.ok("lease "+leaseHex(st.Lease)+" revoked\n", "lease", "revoke", leaseHex(st.Lease))
	if code := r.wait(t, 30*time.Second); code != exitError {
		t.Fatalf("exit %d, stderr %q", code, r.stderr.String())
	}
	if got, want := r.stderr.String(), "Error: lock L lost (session expired); command terminated\n"; got != want {
		t.Fatalf("stderr %q, want %q", got, want)
	}
}

func TestCLILockUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"lock", "acquire"}, "Error: missing argument: NAME"},
		{[]string{"lock", "acquire", "L", "x"}, `Error: too many arguments: unexpected "x" (a command to run goes after "--"`},
		{[]string{"lock", "acquire", "L", "--"}, `Error: missing command after "--"`},
		{[]string{"lock", "acquire", "L", "--ttl", "0"}, "Error: --ttl: TTL must be positive"},
		{[]string{"lock", "acquire", "L", "--timeout", "-1s"}, "Error: --timeout must not be negative"},
		{[]string{"lock", "acquire", "L", "--kill-grace", "-1s"}, "Error: --kill-grace must not be negative"},
		{[]string{"lock", "status"}, "Error: missing argument: NAME"},
		// "lock frob" is etcdctl's "lock NAME": acquire, with its usage.
		{[]string{"lock", "frob", "x"}, `Error: too many arguments: unexpected "x"`},
		{[]string{"lock", "--ttl", "0", "frob"}, "Error: --ttl: TTL must be positive"},
		{[]string{"elect", "campaign", "E"}, "Error: missing argument: NAME VALUE"},
		{[]string{"elect", "campaign", "E", "v", "w"}, `Error: too many arguments: unexpected "w"`},
		{[]string{"elect", "leader"}, "Error: missing argument: NAME"},
		{[]string{"elect", "frob"}, "Error: missing argument: NAME VALUE"},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%q: exit %d stdout %q stderr %q, want usage error %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

// TestCLILockElectEtcdctlShapes: "coord lock NAME [-- CMD]" and "coord elect
// NAME VALUE [-- CMD]" work as etcdctl's; the subcommands keep working and a
// lock named after one is reached through "lock acquire".
func TestCLILockElectEtcdctlShapes(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	out := c.ok("*", "lock", "L", "--ttl", "5s", "--", "sh", "-c", `echo "$COORD_LOCK_NAME $COORD_LOCK_TOKEN"`)
	if !regexp.MustCompile(`^L [1-9][0-9]*\n$`).MatchString(out) {
		t.Fatalf("lock L -- sh: %q", out)
	}
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")
	out = c.ok("*", "lock", "acquire", "status", "--", "sh", "-c", `echo "$COORD_LOCK_NAME"`)
	if out != "status\n" {
		t.Fatalf("lock acquire status --: %q", out)
	}
	out = c.ok("*", "elect", "E", "v1", "--", "sh", "-c", `echo "$COORD_ELECTION_NAME $COORD_ELECTION_VALUE"`)
	if out != "E v1\n" {
		t.Fatalf("elect E v1 --: %q", out)
	}
	c.fails("election E has no leader", "elect", "leader", "E")
	for _, args := range [][]string{{"lock", "--help"}, {"elect", "--help"}} {
		code, out, _ := runCLI(t, "", args...)
		if code != 0 || !strings.Contains(out, "coord "+args[0]+" NAME") {
			t.Fatalf("%v: %d %q", args, code, out)
		}
	}
}
