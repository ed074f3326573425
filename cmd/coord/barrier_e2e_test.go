package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCLIBarrierGate(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	// An open gate: wait returns at once.
	c.ok("", "barrier", "wait", "B")
	c.ok("OK\n", "barrier", "hold", "B")
	c.ok("OK\n", "barrier", "hold", "B") // holding a held gate changes nothing
	c.ok(`{"name":"B","held":true}`+"\n", "barrier", "hold", "B", "-w", "json")

	// wait blocks while held, beyond the per-request --timeout.
	w := startBG(t, ep, "--timeout", "300ms", "barrier", "wait", "B")
	w2 := startBG(t, ep, "barrier", "wait", "B")
	time.Sleep(time.Second)
	w.running(t)
	w2.running(t)
	released := time.Now()
	c.ok("OK\n", "barrier", "release", "B")
	for _, b := range []*bg{w, w2} {
		if code := b.wait(t, 10*time.Second); code != 0 || b.stdout.String() != "" || b.stderr.String() != "" {
			t.Fatalf("wait: exit %d stdout %q stderr %q", code, b.stdout.String(), b.stderr.String())
		}
	}
	if d := time.Since(released); d > 2*time.Second {
		t.Fatalf("wait returned %s after the release", d)
	}
	c.ok("", "barrier", "wait", "B")
	c.ok("OK\n", "barrier", "release", "B")

	// Interrupted while waiting: exit 1.
	c.ok("OK\n", "barrier", "hold", "B")
	w = startBG(t, ep, "barrier", "wait", "B")
	time.Sleep(300 * time.Millisecond)
	w.running(t)
	if code := w.stop(t); code != exitError || w.stdout.String() != "" || w.stderr.String() != "Error: interrupted while waiting at barrier B\n" {
		t.Fatalf("interrupted wait: exit %d stdout %q stderr %q", code, w.stdout.String(), w.stderr.String())
	}
	c.fails(`barrier name "a{b" contains '{'`, "barrier", "hold", "a{b")
	c.fails(`barrier name "a}b" contains '}'`, "barrier", "wait", "a}b")

	// Hierarchical names: jobs/b is a barrier of its own, not jobs'.
	c.ok("OK\n", "barrier", "hold", "jobs/b")
	c.ok("", "barrier", "wait", "jobs")
	c.ok("OK\n", "barrier", "release", "jobs/b")
	c.ok("", "barrier", "wait", "jobs/b")
}

func TestCLIBarrierEnterCommand(t *testing.T) {
	ep := startMemberShards(t, 4)
	// The first participant waits for the second before running anything.
	script := `echo "$COORD_BARRIER_NAME $COORD_BARRIER_COUNT $(date +%s%N)"`
	p1 := startBG(t, ep, "barrier", "enter", "B", "--count", "2", "--", "sh", "-c", script)
	time.Sleep(time.Second)
	p1.running(t)
	if out := p1.stdout.String(); out != "" {
		t.Fatalf("ran before the second participant entered: %q", out)
	}
	second := time.Now()
	p2 := startBG(t, ep, "barrier", "enter", "B", "--count", "2", "--", "sh", "-c", script+"; exit 3")
	var at []int64
	for i, p := range []*bg{p1, p2} {
		want := []int{0, 3}[i]
		if code := p.wait(t, 30*time.Second); code != want {
			t.Fatalf("participant %d: exit %d, want %d; stdout %q stderr %q", i+1, code, want, p.stdout.String(), p.stderr.String())
		}
		f := strings.Fields(p.stdout.String())
		if len(f) != 3 || f[0] != "B" || f[1] != "2" || p.stderr.String() != "" {
			t.Fatalf("participant %d: stdout %q stderr %q", i+1, p.stdout.String(), p.stderr.String())
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, ns)
	}
	for i, ns := range at {
		if ns < second.UnixNano() {
			t.Fatalf("participant %d ran at %d, before the second entered (%d)", i+1, ns, second.UnixNano())
		}
	}
	if d := time.Duration(at[0] - at[1]).Abs(); d > 500*time.Millisecond {
		t.Fatalf("the commands ran %s apart", d)
	}
}

func TestCLIBarrierEnterThree(t *testing.T) {
	ep := startMemberShards(t, 1)
	var ps []*bg
	var last time.Time
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		last = time.Now()
		ps = append(ps, startBG(t, ep, "barrier", "enter", "B3", "--count", "3", "--", "date", "+%s%N"))
	}
	var lo, hi int64
	for i, p := range ps {
		if code := p.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("participant %d: exit %d stderr %q", i+1, code, p.stderr.String())
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(p.stdout.String()), 10, 64)
		if err != nil {
			t.Fatalf("participant %d: %q", i+1, p.stdout.String())
		}
		if ns < last.UnixNano() {
			t.Fatalf("participant %d ran before the third entered", i+1)
		}
		if i == 0 || ns < lo {
			lo = ns
		}
		if i == 0 || ns > hi {
			hi = ns
		}
	}
	t.Logf("three commands ran within %s", time.Duration(hi-lo))
	if d := time.Duration(hi - lo); d > 500*time.Millisecond {
		t.Fatalf("the commands ran %s apart", d)
	}
}

func TestCLIBarrierEnterNoCommand(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	p1 := startBG(t, ep, "barrier", "enter", "E", "--count", "2", "--ttl", "5s")
	time.Sleep(500 * time.Millisecond)
	p1.running(t)
	if out := p1.stdout.String(); out != "" {
		t.Fatalf("entered alone: %q", out)
	}
	c.ok("entered\nleft\n", "barrier", "enter", "E", "--count", "2")
	if code := p1.wait(t, 30*time.Second); code != 0 || p1.stdout.String() != "entered\nleft\n" {
		t.Fatalf("first participant: exit %d stdout %q stderr %q", code, p1.stdout.String(), p1.stderr.String())
	}

	// A participant that gives up while entering is removed: it does not
	// count for the next two.
	g := startBG(t, ep, "barrier", "enter", "E", "--count", "2")
	time.Sleep(500 * time.Millisecond)
	g.running(t)
	if code := g.stop(t); code != exitError || g.stdout.String() != "" || g.stderr.String() != "Error: interrupted while entering barrier E\n" {
		t.Fatalf("interrupted enter: exit %d stdout %q stderr %q", code, g.stdout.String(), g.stderr.String())
	}
	p1 = startBG(t, ep, "barrier", "enter", "E", "--count", "2", "-w", "json")
	time.Sleep(500 * time.Millisecond)
	p1.running(t)
	if out := p1.stdout.String(); out != "" {
		t.Fatalf("entered with a participant that gave up: %q", out)
	}
	c.ok("entered\nleft\n", "barrier", "enter", "E", "--count", "2")
	if code := p1.wait(t, 30*time.Second); code != 0 ||
		p1.stdout.String() != `{"name":"E","count":2,"state":"entered"}`+"\n"+`{"name":"E","count":2,"state":"left"}`+"\n" {
		t.Fatalf("json participant: exit %d stdout %q stderr %q", code, p1.stdout.String(), p1.stderr.String())
	}
}
