package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// semStatusJSON runs semaphore status -w json.
func (c cliAt) semStatusJSON(name string) jsonSemStatus {
	c.t.Helper()
	out := c.ok("*", "semaphore", "status", name, "-w", "json")
	var st jsonSemStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		c.t.Fatalf("semaphore status -w json: %v in %q", err, out)
	}
	return st
}

// TestCLISemaphoreAtMostLimit runs 8 concurrent `coord semaphore acquire
// S --limit 3 -- CMD`: the commands, which record their start and end,
// never run more than 3 at once, and do run 3 at once.
func TestCLISemaphoreAtMostLimit(t *testing.T) {
	ep := startMemberShards(t, 2)
	dir := t.TempDir()
	// Each command stamps its start and end (ns) into a file of its own,
	// with its token.
	script := `f="$1"; echo "start $(date +%s%N) $COORD_SEMAPHORE_TOKEN $COORD_SEMAPHORE_NAME $COORD_SEMAPHORE_WEIGHT" > "$f"; sleep 0.8; echo "end $(date +%s%N)" >> "$f"`
	const n, limit = 8, 3
	var runs []*bg
	for i := 0; i < n; i++ {
		runs = append(runs, startBG(t, ep, "semaphore", "acquire", "S", "--limit", strconv.Itoa(limit), "--",
			"sh", "-c", script, "sh", filepath.Join(dir, fmt.Sprintf("run%d", i))))
	}
	for i, r := range runs {
		if code := r.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("run %d: exit %d stderr %q", i, code, r.stderr.String())
		}
	}
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("run%d", i)))
		if err != nil {
			t.Fatalf("run %d never ran its command: %v", i, err)
		}
		var start, end int64
		var token int64
		var name, weight string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 5 && f[0] == "start":
				start, _ = strconv.ParseInt(f[1], 10, 64)
				token, _ = strconv.ParseInt(f[2], 10, 64)
				name, weight = f[3], f[4]
			case len(f) == 2 && f[0] == "end":
				end, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
		if start == 0 || end == 0 || token <= 0 || name != "S" || weight != "1" {
			t.Fatalf("run %d recorded %q", i, b)
		}
		edges = append(edges, edge{start, +1}, edge{end, -1})
	}
	// Ends before starts at the same instant: touching is not overlapping.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	running, most := 0, 0
	for _, e := range edges {
		running += e.delta
		most = max(most, running)
	}
	if most > limit {
		t.Fatalf("%d commands ran at once under --limit %d", most, limit)
	}
	if most < limit {
		t.Fatalf("at most %d commands ran at once, never %d", most, limit)
	}
	c := cliAt{t, ep}
	c.ok("free\nwaiters: 0\n", "semaphore", "status", "S")
}

// TestCLISemaphoreHolderCrash kills -9 a `coord semaphore acquire` that
// holds the semaphore's only permit: its permit is released within the
// session TTL and the waiter's command runs.
func TestCLISemaphoreHolderCrash(t *testing.T) {
	if args := os.Getenv("COORD_TEST_CLI_ARGS"); args != "" {
		// The holder: this test binary as coord.
		os.Exit(run(append([]string{"coord"}, strings.Split(args, "\x1f")...), os.Stdin, os.Stdout, os.Stderr))
	}
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	holder := exec.Command(os.Args[0], "-test.run=^TestCLISemaphoreHolderCrash$")
	holder.Env = append(os.Environ(), "COORD_TEST_CLI_ARGS="+strings.Join([]string{
		"semaphore", "acquire", "S", "--limit", "1", "--ttl", "2s", "--endpoints", ep}, "\x1f"))
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		if !regexp.MustCompile(`^S [1-9][0-9]*\n$`).MatchString(line) {
			t.Fatalf("holder printed %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the holder never held the semaphore")
	}

	w := startBG(t, ep, "semaphore", "acquire", "S", "--limit", "1", "--", "sh", "-c", `echo "got $COORD_SEMAPHORE_TOKEN $(date +%s%N)"`)
	waitFor(t, 30*time.Second, "a waiter", func() bool {
		w.running(t)
		return len(c.semStatusJSON("S").Waiters) == 1
	})
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if code := w.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("waiter: exit %d stderr %q", code, w.stderr.String())
	}
	m := regexp.MustCompile(`^got [1-9][0-9]* ([0-9]+)\n$`).FindStringSubmatch(w.stdout.String())
	if m == nil {
		t.Fatalf("waiter printed %q", w.stdout.String())
	}
	ran, _ := strconv.ParseInt(m[1], 10, 64)
	// The lease expires at most the TTL after the holder's last renewal;
	// the leader's lessor notices it within its tick, and the waiter's
	// command needs a moment to start.
	took := time.Unix(0, ran).Sub(killed)
	t.Logf("the waiter's command ran %v after the holder was killed (TTL 2s)", took)
	if took > 2*time.Second+1500*time.Millisecond {
		t.Fatalf("the crashed holder's permit was released only after %v (TTL 2s)", took)
	}
	c.ok("free\nwaiters: 0\n", "semaphore", "status", "S")
}

func TestCLISemaphoreHoldStatusTryAndTimeout(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	c.ok("free\nwaiters: 0\n", "semaphore", "status", "S")

	holder := startBG(t, ep, "semaphore", "acquire", "S", "--limit", "3", "--weight", "2", "--ttl", "30s")
	lineRE := regexp.MustCompile(`^S ([1-9][0-9]*)\n$`)
	var token string
	waitFor(t, 30*time.Second, "the permits to be held", func() bool {
		holder.running(t)
		m := lineRE.FindStringSubmatch(holder.stdout.String())
		if m != nil {
			token = m[1]
		}
		return m != nil
	})
	host, _ := os.Hostname()
	st := c.semStatusJSON("S")
	if st.Name != "S" || st.Limit != 3 || st.Held != 2 || len(st.Holders) != 1 || len(st.Waiters) != 0 {
		t.Fatalf("semaphore status -w json: %+v", st)
	}
	h := st.Holders[0]
	if strconv.FormatInt(h.Token, 10) != token || h.Weight != 2 || h.Owner == nil || !strings.HasPrefix(*h.Owner, host+" pid ") ||
		h.Lease == 0 || h.LeaseTTL <= 0 || h.LeaseTTL > 30 {
		t.Fatalf("semaphore status -w json holder: %+v", h)
	}
	want := fmt.Sprintf("limit: 3\nheld: 2\nholder: %s weight 2 token %s lease %s ttl \\d+s\nwaiters: 0\n",
		regexp.QuoteMeta(*h.Owner), token, leaseHex(h.Lease))
	if out := c.ok("*", "semaphore", "status", "S"); !regexp.MustCompile("^" + want + "$").MatchString(out) {
		t.Fatalf("semaphore status: %q, want %q", out, want)
	}
	if out := c.ok("*", "semaphore", "status", "S", "-w", "table"); !strings.Contains(out, "| S    |") || !strings.Contains(out, token) || !strings.Contains(out, "holding") {
		t.Fatalf("semaphore status -w table:\n%s", out)
	}

	// One permit is free: a weight-1 acquire runs at once, also with --try.
	c.ok("ok\n", "semaphore", "acquire", "S", "--limit", "3", "--try", "--", "echo", "ok")
	// Two are not: --try fails at once, --timeout runs out.
	c.fails(`semaphore "S": 2 permit(s) not free at once: 2 of 3 held by 1 holder(s), 0 waiting`,
		"semaphore", "acquire", "S", "--limit", "3", "--weight", "2", "--try", "--", "true")
	start := time.Now()
	c.fails("timed out waiting for semaphore S (2 of 3 permits held by 1 holder(s))\n",
		"semaphore", "acquire", "S", "--limit", "3", "--weight", "2", "--timeout", "300ms", "--", "true")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("--timeout 300ms took %s", d)
	}
	c.fails(`semaphore "S" has a limit of 3, not 4`, "semaphore", "acquire", "S", "--limit", "4", "--", "true")

	// A waiter interrupted gives up its place.
	w := startBG(t, ep, "semaphore", "acquire", "S", "--limit", "3", "--weight", "3", "--", "true")
	waitFor(t, 30*time.Second, "a waiter", func() bool {
		w.running(t)
		return len(c.semStatusJSON("S").Waiters) == 1
	})
	if out := c.ok("*", "semaphore", "status", "S"); !strings.Contains(out, "waiters: 1\nwaiter: ") || !strings.Contains(out, " weight 3 lease ") {
		t.Fatalf("semaphore status with a waiter: %q", out)
	}
	if code := w.stop(t); code != exitError || w.stderr.String() != "Error: interrupted while waiting for semaphore S\n" {
		t.Fatalf("interrupted waiter: exit %d stdout %q stderr %q", code, w.stdout.String(), w.stderr.String())
	}
	waitFor(t, 10*time.Second, "the waiter to leave", func() bool { return len(c.semStatusJSON("S").Waiters) == 0 })

	if code := holder.stop(t); code != 0 || holder.stderr.String() != "" {
		t.Fatalf("holder exit %d stderr %q", code, holder.stderr.String())
	}
	c.ok("free\nwaiters: 0\n", "semaphore", "status", "S")
}

func TestCLISemaphoreUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"semaphore", "acquire"}, "Error: missing argument: NAME"},
		{[]string{"semaphore", "acquire", "S"}, "Error: --limit is required"},
		{[]string{"semaphore", "acquire", "S", "--limit", "0"}, "Error: --limit must be at least 1"},
		{[]string{"semaphore", "acquire", "S", "--limit", "2", "--weight", "3"}, "Error: --weight 3 is more than --limit 2"},
		{[]string{"semaphore", "acquire", "S", "--limit", "2", "--weight", "0"}, "Error: --weight must be at least 1"},
		{[]string{"semaphore", "acquire", "S", "x", "--limit", "2"}, `Error: too many arguments: unexpected "x"`},
		{[]string{"semaphore", "acquire", "S", "--limit", "2", "--"}, `Error: missing command after "--"`},
		{[]string{"semaphore", "acquire", "S", "--limit", "2", "--timeout", "-1s"}, "Error: --timeout must not be negative"},
		{[]string{"semaphore", "status"}, "Error: missing argument: NAME"},
		{[]string{"semaphore", "frob"}, `Error: unknown semaphore command "frob"`},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%q: exit %d stdout %q stderr %q, want usage error %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestSemaphoreHelp(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"semaphore", "--help"}, []string{"acquire", "status", "--limit"}},
		{[]string{"semaphore", "acquire", "--help"}, []string{"COORD_SEMAPHORE_TOKEN", "--limit", "--weight", "--try", "--kill-grace", "--ttl", "--timeout", "SIGKILL", "coord semaphore acquire"}},
		{[]string{"semaphore", "status", "-h"}, []string{"holder:", "waiters:", "-w json"}},
		{[]string{"--help"}, []string{"semaphore"}},
	} {
		code, out, errOut := runCLI(t, "", tt.args...)
		if code != 0 || errOut != "" {
			t.Errorf("%q: exit %d stderr %q", tt.args, code, errOut)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}
