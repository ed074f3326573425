package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quotaProcEnv carries the arguments of a coord process that
// TestCLIQuotaNoSpace starts: this test binary runs as coord.
const quotaProcEnv = "COORD_TEST_QUOTA_ARGS"

// coordProc returns a command that runs this test binary as `coord
// ARGS...` (see TestCLIQuotaNoSpace).
func coordProc(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIQuotaNoSpace$")
	cmd.Env = append(os.Environ(), quotaProcEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

// TestCLIQuotaNoSpace, on real processes: three `coord serve` members
// with --quota-backend-bytes 2 MiB; puts of 100 kB values through the
// coord CLI until one fails. It must fail with exit 1 and "database space
// exceeded (alarm NOSPACE raised on member nX)"; alarm list shows the
// alarm; reads and deletes work; after del --prefix, compact, defrag
// --cluster (each member's size drops under the quota) and alarm
// disarm, a put works again and alarm list is empty.
func TestCLIQuotaNoSpace(t *testing.T) {
	if args := os.Getenv(quotaProcEnv); args != "" {
		os.Exit(run(append([]string{"coord"}, strings.Split(args, "\x1f")...), os.Stdin, os.Stdout, os.Stderr))
	}
	if testing.Short() {
		t.Skip("starts three coord serve processes and fills them past their quota (~15s); runs without -short")
	}
	const quota = 2 << 20
	n := 3
	peers, clients := make([]string, n), make([]string, n)
	var initial []string
	for i := range peers {
		peers[i], clients[i] = freeAddr(t), freeAddr(t)
		initial = append(initial, fmt.Sprintf("n%d=%s", i+1, peers[i]))
	}
	for i := range peers {
		var stderr syncBuffer
		cmd := coordProc("serve", "--name", fmt.Sprintf("n%d", i+1), "--data-dir", t.TempDir(),
			"--listen-client", clients[i], "--listen-peer", peers[i], "--listen-http", "", "--listen-etcd", "",
			"--initial-cluster", strings.Join(initial, ","), "--quota-backend-bytes", strconv.Itoa(quota), "--log-level", "warn")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Errorf("member n%d did not stop on SIGTERM; its log:\n%s", i+1, stderr.String())
			}
			if t.Failed() {
				t.Logf("member n%d log:\n%s", i+1, stderr.String())
			}
		})
	}
	eps := strings.Join(clients, ",")
	c := func(args ...string) (int, string, string) {
		t.Helper()
		cmd := coordProc(append(args, "--endpoints", eps)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			t.Fatalf("coord %s: %v", args[0], err)
		}
		return code, out.String(), errOut.String()
	}
	waitFor(t, 60*time.Second, "the cluster to answer", func() bool {
		code, _, _ := c("put", "ready", "1", "--timeout", "2s")
		return code == 0
	})

	value := strings.Repeat("v", 100_000)
	var code int
	var errOut string
	puts := 0
	deadline := time.Now().Add(60 * time.Second)
	for ; time.Now().Before(deadline); puts++ {
		if code, _, errOut = c("put", fmt.Sprintf("fill/%d", puts), value); code != 0 {
			break
		}
	}
	noSpace := regexp.MustCompile(`^Error: database space exceeded \(alarm NOSPACE raised on member n[123]\): .*coord alarm disarm\n$`)
	if code != 1 || !noSpace.MatchString(errOut) {
		t.Fatalf("put %d past the quota: exit %d, stderr %q", puts, code, errOut)
	}
	t.Logf("put %d of 100 kB refused: %s", puts, strings.TrimSpace(errOut))
	if code, _, errOut := c("lease", "grant", "60"); code != 1 || !strings.Contains(errOut, "database space exceeded") {
		t.Fatalf("lease grant under NOSPACE: exit %d, stderr %q", code, errOut)
	}

	alarmLine := regexp.MustCompile(`^memberID:\d+ alarm:NOSPACE \(member n[123]\)$`)
	code, out, errOut := c("alarm", "list")
	if code != 0 || out == "" {
		t.Fatalf("alarm list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !alarmLine.MatchString(line) {
			t.Fatalf("alarm list line %q", line)
		}
	}
	raised := out
	code, out, errOut = c("endpoint", "status")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != n || !strings.Contains(lines[0], " alarm:NOSPACE") || !strings.Contains(lines[n-1], " alarm:NOSPACE") {
		t.Fatalf("endpoint status under NOSPACE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = c("status")
	if code != 0 || !strings.Contains(out, "alarm: memberID:") {
		t.Fatalf("status under NOSPACE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// Reads and deletes work; then compact, defrag every member.
	if code, out, errOut := c("get", "fill/0", "--keys-only"); code != 0 || out != "fill/0\n" {
		t.Fatalf("get under NOSPACE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = c("del", "fill/", "--prefix", "-w", "json")
	if code != 0 {
		t.Fatalf("del --prefix under NOSPACE: exit %d, stderr %q", code, errOut)
	}
	var del struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Deleted int64 `json:"deleted"`
	}
	if err := json.Unmarshal([]byte(out), &del); err != nil || del.Deleted != int64(puts) || del.Header.Revision == 0 {
		t.Fatalf("del --prefix -w json: %q (%v), want %d deleted", out, err, puts)
	}
	if code, out, errOut := c("compact", strconv.FormatInt(del.Header.Revision, 10)); code != 0 {
		t.Fatalf("compact under NOSPACE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Each member applies the compaction on its own: defrag once they all have.
	waitFor(t, 20*time.Second, "every member to apply the compaction", func() bool {
		code, out, _ := c("endpoint", "status", "-w", "json")
		var st []struct {
			Shards []struct {
				CompactRevision int64 `json:"compact_revision"`
			} `json:"shards"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != n {
			return false
		}
		for _, s := range st {
			if len(s.Shards) == 0 || s.Shards[0].CompactRevision < del.Header.Revision {
				return false
			}
		}
		return true
	})
	code, out, errOut = c("defrag", "--cluster", "-w", "json")
	var defrag []struct {
		Member     string `json:"member"`
		SizeBefore int64  `json:"db_size_before"`
		SizeAfter  int64  `json:"db_size_after"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &defrag) != nil || len(defrag) != n {
		t.Fatalf("defrag --cluster -w json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, d := range defrag {
		if d.SizeAfter >= quota || d.SizeAfter >= d.SizeBefore {
			t.Fatalf("defrag of %s: %d -> %d bytes, want under the quota and smaller", d.Member, d.SizeBefore, d.SizeAfter)
		}
	}
	t.Logf("defrag --cluster: %s", strings.TrimSpace(out))
	code, out, errOut = c("defrag")
	finished := regexp.MustCompile(`^Finished defragmenting member n[123]\[127\.0\.0\.1:\d+\]\. took \S+; db size \S+ \S*B -> \S+ \S*B$`)
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != n {
		t.Fatalf("defrag: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !finished.MatchString(line) {
			t.Fatalf("defrag line %q", line)
		}
	}

	if code, out, errOut := c("alarm", "disarm"); code != 0 || out != raised {
		t.Fatalf("alarm disarm: exit %d, stdout %q (want %q), stderr %q", code, out, raised, errOut)
	}
	if code, out, errOut := c("put", "after", "1"); code != 0 || out != "OK\n" {
		t.Fatalf("put after disarm: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := c("alarm", "list"); code != 0 || out != "" {
		t.Fatalf("alarm list after disarm: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
