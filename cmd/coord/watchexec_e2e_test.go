package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCLIWatchExec: watch KEY -- CMD runs CMD once per event with
// etcdctl's ETCD_WATCH_* environment (values quoted as etcdctl's %q), after
// printing the event, and stops on Ctrl-C.
func TestCLIWatchExec(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	c.ok("OK\n", "put", "w/a", "1")
	rev := c.getJSON("w/a").Kvs[0].ModRevision
	c.ok("OK\n", "put", "w/b", "two words")
	c.ok("1\n", "del", "w/a")
	w := startBG(t, ep, "watch", "w/", "--prefix", "--rev", fmt.Sprint(rev), "--", "sh", "-c",
		`echo "[$ETCD_WATCH_EVENT_TYPE|$ETCD_WATCH_KEY|$ETCD_WATCH_VALUE|$ETCD_WATCH_REVISION]"`)
	// etcdctl prints a response's events, then runs the command per event
	// with the response's revision (at least the event's).
	events := "PUT\nw/a\n1\nPUT\nw/b\ntwo words\nDELETE\nw/a\n\n"
	cmds := []string{`["PUT"|"w/a"|"1"|`, `["PUT"|"w/b"|"two words"|`, `["DELETE"|"w/a"|""|`}
	waitFor(t, 30*time.Second, "three events and commands", func() bool {
		w.running(t)
		return strings.Count(w.stdout.String(), "]\n") >= 3
	})
	var printed, ran []string
	for _, line := range strings.SplitAfter(w.stdout.String(), "\n") {
		if strings.HasPrefix(line, "[") {
			ran = append(ran, line)
		} else {
			printed = append(printed, line)
		}
	}
	if got := strings.Join(printed, ""); got != events {
		t.Fatalf("events printed %q, want %q (stdout %q)", got, events, w.stdout.String())
	}
	if len(ran) != 3 {
		t.Fatalf("commands ran %q", ran)
	}
	for i, line := range ran {
		var r int64
		if !strings.HasPrefix(line, cmds[i]) {
			t.Fatalf("command %d saw %q, want %s...", i, line, cmds[i])
		}
		if _, err := fmt.Sscanf(strings.TrimPrefix(line, cmds[i]), "%d]", &r); err != nil || r < rev+int64(i) || r > rev+2 {
			t.Fatalf("command %d: ETCD_WATCH_REVISION in %q, want %d..%d", i, line, rev+int64(i), rev+2)
		}
	}
	if code := w.stop(t); code != 0 {
		t.Fatalf("exit %d stderr %q", code, w.stderr.String())
	}
	// A command that fails ends the watch with exit 1, as etcdctl's.
	f := startBG(t, ep, "watch", "w/", "--prefix", "--rev", fmt.Sprint(rev), "--", "sh", "-c", "exit 3")
	if code := f.wait(t, 30*time.Second); code != exitError || !strings.Contains(f.stderr.String(), "exit status 3") {
		t.Fatalf("failing command: exit %d stderr %q", code, f.stderr.String())
	}
	code, _, errOut := c.run("", "watch", "w/", "--")
	if code != exitUsage || !strings.HasPrefix(errOut, `Error: missing command after "--"`) {
		t.Fatalf("watch w/ --: %d %q", code, errOut)
	}
}
