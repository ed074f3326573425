package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// queueLenJSON runs queue len -w json.
func (c cliAt) queueLenJSON(name string) (ready, inFlight int64) {
	c.t.Helper()
	out := c.ok("*", "queue", "len", name, "-w", "json")
	var l struct {
		Len      int64 `json:"len"`
		Ready    int64 `json:"ready"`
		InFlight int64 `json:"in_flight"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.Len != l.Ready+l.InFlight {
		c.t.Fatalf("queue len -w json: %v in %q", err, out)
	}
	return l.Ready, l.InFlight
}

var receiptLineRE = regexp.MustCompile(`^receipt: ([0-9a-f]{16})\n$`)

// popNoAck runs queue pop --no-ack with args: its output must be want (the
// lines of an item) and then the receipt line, whose receipt it returns.
func (c cliAt) popNoAck(want string, args ...string) string {
	c.t.Helper()
	out := c.ok("*", append([]string{"queue", "pop", "--no-ack"}, args...)...)
	rest, ok := strings.CutPrefix(out, want)
	m := receiptLineRE.FindStringSubmatch(rest)
	if !ok || m == nil {
		c.t.Fatalf("queue pop --no-ack %q: stdout %q, want %q and a receipt line", args, out, want)
	}
	return m[1]
}

func TestCLIQueueBasics(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}

	// Empty: pop and peek print nothing and exit 1.
	c.fails("Error: queue Q is empty\n", "queue", "pop", "Q")
	c.fails("Error: queue Q is empty\n", "queue", "peek", "Q")
	start := time.Now()
	c.fails("Error: queue Q is empty (waited 300ms)\n", "queue", "pop", "Q", "--wait", "300ms")
	if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
		t.Fatalf("pop --wait 300ms took %s", d)
	}
	c.ok("0\n", "queue", "len", "Q")

	c.ok("1\n2\n3\n", "queue", "push", "Q", "a", "b", "c")
	c.ok(`{"seqs":[4,5]}`+"\n", "queue", "push", "Q", "d", "e", "-w", "json")
	c.ok("6\n", "queue", "push", "Q", "--", "-g")
	c.ok("6\n", "queue", "len", "Q")
	c.ok("1\na\n", "queue", "peek", "Q")
	c.ok(`{"seq":1,"value":"a","deliveries":0}`+"\n", "queue", "peek", "Q", "-w", "json")

	// pop acks: the item is gone.
	c.ok("1\na\n", "queue", "pop", "Q")
	c.ok(`{"seq":2,"value":"b","deliveries":1}`+"\n", "queue", "pop", "Q", "-w", "json")
	if r, f := c.queueLenJSON("Q"); r != 4 || f != 0 {
		t.Fatalf("len after two pops: ready %d in flight %d", r, f)
	}

	// --no-ack leaves it in flight, with its delivery count shown; ack
	// completes it once, then it is not in flight any more.
	r3 := c.popNoAck("3\nc\ndeliveries: 1\n", "Q")
	if r, f := c.queueLenJSON("Q"); r != 3 || f != 1 {
		t.Fatalf("len with one in flight: ready %d in flight %d", r, f)
	}
	if out := c.ok("*", "queue", "len", "Q", "-w", "table"); !strings.Contains(out, "| Q    |     3 |         1 |     4 |") {
		t.Fatalf("len -w table:\n%s", out)
	}
	c.ok("4\n", "queue", "len", "Q")
	c.ok("4\nd\n", "queue", "peek", "Q")
	// Only the receipt's holder acks it: another receipt changes nothing.
	c.fails(`item 3 of queue "Q" in flight: only its consumer may ack it`, "queue", "ack", "Q", "3", "--receipt", "0123456789abcdef")
	if r, f := c.queueLenJSON("Q"); r != 3 || f != 1 {
		t.Fatalf("len after a foreign ack: ready %d in flight %d", r, f)
	}
	c.ok("OK\n", "queue", "ack", "Q", "3", "--receipt", r3)
	c.fails("item 3 of queue \"Q\" is not in flight", "queue", "ack", "Q", "3", "--receipt", r3)
	c.fails("not in flight", "queue", "ack", "Q", "99", "--receipt", r3)
	c.ok("3\n", "queue", "len", "Q")

	// --max-deliveries is accepted; a bad name is the server's error.
	c.ok("7\n", "queue", "push", "Q", "h", "--max-deliveries", "2")
	c.fails(`queue name "a{b" contains '{'`, "queue", "push", "a{b", "x")
	c.fails(`queue name "a}b" contains '}'`, "queue", "pop", "a}b")
	// Hierarchical names: jobs/a is a queue of its own.
	c.ok("1\n", "queue", "push", "jobs/a", "x")
	c.ok("0\n", "queue", "len", "jobs")
	c.ok("1\n", "queue", "len", "jobs/a")
	c.ok("1\nx\n", "queue", "pop", "jobs/a")

	c.ok("4\nd\n", "queue", "pop", "Q")
	c.ok("5\ne\n", "queue", "pop", "Q")
	c.ok("6\n-g\n", "queue", "pop", "Q")
	c.ok("7\nh\n", "queue", "pop", "Q")
	c.fails("Error: queue Q is empty\n", "queue", "pop", "Q")
	c.ok("0\n", "queue", "len", "Q")
}

func TestCLIQueueConcurrentPoppers(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	const n = 20
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("v%02d", i+1)
	}
	want := ""
	for i := 1; i <= n; i++ {
		want += strconv.Itoa(i) + "\n"
	}
	c.ok(want, append([]string{"queue", "push", "Q"}, values...)...)

	// Two poppers pop until the queue is empty.
	type popped struct{ seq, value string }
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  = map[string]string{}
		errs []string
	)
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []popped
			for {
				code, out, errOut := runCLI(t, "", "queue", "pop", "Q", "--endpoints", ep)
				if code == exitError && out == "" && errOut == "Error: queue Q is empty\n" {
					break
				}
				lines := strings.Split(out, "\n")
				if code != 0 || len(lines) != 3 || lines[2] != "" {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("pop: exit %d stdout %q stderr %q", code, out, errOut))
					mu.Unlock()
					return
				}
				mine = append(mine, popped{lines[0], lines[1]})
			}
			mu.Lock()
			defer mu.Unlock()
			last := 0
			for _, it := range mine {
				seq, _ := strconv.Atoi(it.seq)
				if seq <= last {
					errs = append(errs, fmt.Sprintf("one popper saw seq %d after %d", seq, last))
				}
				last = seq
				if prev, dup := got[it.seq]; dup {
					errs = append(errs, fmt.Sprintf("seq %s popped twice (%s, %s)", it.seq, prev, it.value))
				}
				got[it.seq] = it.value
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	if len(got) != n {
		t.Fatalf("popped %d items, want %d: %v", len(got), n, got)
	}
	for i := 1; i <= n; i++ {
		if got[strconv.Itoa(i)] != values[i-1] {
			t.Fatalf("seq %d popped as %q, want %q", i, got[strconv.Itoa(i)], values[i-1])
		}
	}
	c.ok("0\n", "queue", "len", "Q")
}

func TestCLIQueueRedelivery(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	// pop --no-ack, then a waiting pop gets the same item back once its
	// visibility timeout runs out. The coord that popped has exited, but
	// the item stays in flight until then (its session was orphaned, not
	// closed, which would return the item at once).
	c.ok("1\n", "queue", "push", "Q", "x")
	c.popNoAck("1\nx\ndeliveries: 1\n", "Q", "--visibility", "1s")
	if r, f := c.queueLenJSON("Q"); r != 0 || f != 1 {
		t.Fatalf("after pop --no-ack: ready %d in flight %d", r, f)
	}
	c.fails("Error: queue Q is empty\n", "queue", "pop", "Q")
	start := time.Now()
	c.ok("1\nx\ndeliveries: 2\n", "queue", "pop", "Q", "--wait", "5s")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("redelivery after a 1s visibility took %s", d)
	}
	// A redelivered item is ahead of later ones.
	c.ok("2\n3\n", "queue", "push", "Q", "y", "z")
	c.popNoAck("2\ny\ndeliveries: 1\n", "Q", "--visibility", "1s")
	time.Sleep(2500 * time.Millisecond)
	c.ok("2\ny\ndeliveries: 2\n", "queue", "pop", "Q")
	c.ok("3\nz\n", "queue", "pop", "Q")
}

func TestCLIQueueBlockedPopWakes(t *testing.T) {
	ep := startMemberShards(t, 4)
	c := cliAt{t, ep}
	p := startBG(t, ep, "queue", "pop", "Q", "--wait", "10s")
	time.Sleep(500 * time.Millisecond)
	p.running(t)
	pushed := time.Now()
	c.ok("1\n", "queue", "push", "Q", "hello")
	if code := p.wait(t, 10*time.Second); code != 0 || p.stdout.String() != "1\nhello\n" {
		t.Fatalf("blocked pop: exit %d stdout %q stderr %q", code, p.stdout.String(), p.stderr.String())
	}
	if d := time.Since(pushed); d > 2*time.Second {
		t.Fatalf("blocked pop returned %s after the push", d)
	}
	c.ok("0\n", "queue", "len", "Q")

	// Interrupted while waiting: exit 1, nothing on stdout.
	p = startBG(t, ep, "queue", "pop", "Q", "--wait", "1m")
	time.Sleep(300 * time.Millisecond)
	p.running(t)
	if code := p.stop(t); code != exitError || p.stdout.String() != "" ||
		p.stderr.String() != "Error: interrupted while waiting for an item in queue Q\n" {
		t.Fatalf("interrupted pop: exit %d stdout %q stderr %q", code, p.stdout.String(), p.stderr.String())
	}
	// Nothing was taken by it.
	c.ok("2\n", "queue", "push", "Q", "after")
	c.ok("2\nafter\n", "queue", "pop", "Q")
}
