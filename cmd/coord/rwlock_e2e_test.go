package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rwInterval is the run of one guarded command: its mode ("r" or "w")
// and its start and end in nanoseconds, as the command logged them.
type rwInterval struct {
	mode       string
	start, end int64
}

func readIntervals(t *testing.T, log string) []rwInterval {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var out []rwInterval
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("log line %q", line)
		}
		s, err1 := strconv.ParseInt(f[1], 10, 64)
		e, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || e < s {
			t.Fatalf("log line %q", line)
		}
		out = append(out, rwInterval{f[0], s, e})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// checkWritersAlone fails if a writer's interval overlaps any other, and
// returns how many pairs of readers overlapped.
func checkWritersAlone(t *testing.T, ivs []rwInterval) int {
	t.Helper()
	readerPairs := 0
	for i, a := range ivs {
		for _, b := range ivs[i+1:] {
			if b.start > a.end {
				continue
			}
			if a.mode == "w" || b.mode == "w" {
				t.Fatalf("a writer overlaps another holder: %+v and %+v", a, b)
			}
			readerPairs++
		}
	}
	return readerPairs
}

// TestCLIRWLock: --shared commands hold the lock together, a writer holds
// it alone, and readers that arrive behind a waiting writer wait for it.
func TestCLIRWLock(t *testing.T) {
	ep := startMemberShards(t, 2)
	c := cliAt{t, ep}
	dir := t.TempDir()
	log, gate := filepath.Join(dir, "log"), filepath.Join(dir, "go")
	// A reader marks that it runs, then holds until the test opens the
	// gate (at most 30s), and logs its interval.
	reader := fmt.Sprintf(`s=$(date +%%s%%N); touch %s/in.$$; i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; `+
		`[ "$COORD_LOCK_SHARED" = 1 ] || exit 7; e=$(date +%%s%%N); echo "r $s $e" >> %s`, dir, gate, log)
	writer := fmt.Sprintf(`s=$(date +%%s%%N); sleep 0.2; [ -z "$COORD_LOCK_SHARED" ] || exit 7; e=$(date +%%s%%N); echo "w $s $e" >> %s`, log)
	running := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "in.*"))
		return len(m)
	}

	var runs []*bg
	for i := 0; i < 3; i++ {
		runs = append(runs, startBG(t, ep, "lock", "acquire", "L", "--shared", "--", "sh", "-c", reader))
	}
	waitFor(t, 30*time.Second, "three readers to run at once", func() bool { return running() == 3 })
	st := c.lockStatusJSON("L")
	if !st.Held || st.Readers != 3 || len(st.Holders) != 3 || st.Waiters != 0 || st.Owner != nil {
		t.Fatalf("status with three readers: %+v", st)
	}
	for _, h := range st.Holders {
		if h.Mode != "shared" || h.Token == 0 || h.LeaseTTL <= 0 {
			t.Fatalf("holder %+v", h)
		}
	}
	out := c.ok("*", "lock", "status", "L")
	if !strings.HasPrefix(out, "readers: 3\nwaiters: 0\nholders:\n  shared token ") || strings.Count(out, "\n  shared token ") != 3 {
		t.Fatalf("lock status: %q", out)
	}

	// A writer waits for the readers; a reader that comes after it waits
	// for the writer.
	runs = append(runs, startBG(t, ep, "lock", "acquire", "L", "--", "sh", "-c", writer))
	waitFor(t, 30*time.Second, "the writer to queue", func() bool { return c.lockStatusJSON("L").Waiters == 1 })
	runs = append(runs, startBG(t, ep, "lock", "acquire", "L", "--shared", "--", "sh", "-c", reader))
	waitFor(t, 30*time.Second, "the late reader to queue", func() bool { return c.lockStatusJSON("L").Waiters == 2 })
	if st := c.lockStatusJSON("L"); len(st.Queue) != 2 || st.Queue[0].Mode != "exclusive" || st.Queue[1].Mode != "shared" || running() != 3 {
		t.Fatalf("queue: %+v (%d readers ran)", st.Queue, running())
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		if code := r.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("run %d: exit %d stderr %q", i, code, r.stderr.String())
		}
	}
	ivs := readIntervals(t, log)
	if len(ivs) != 5 {
		t.Fatalf("intervals %+v", ivs)
	}
	if pairs := checkWritersAlone(t, ivs); pairs < 3 {
		t.Fatalf("readers did not overlap: %+v", ivs)
	}
	if ivs[3].mode != "w" || ivs[4].mode != "r" {
		t.Fatalf("the late reader ran before the writer: %+v", ivs)
	}
	c.ok("free\nwaiters: 0\n", "lock", "status", "L")
}

// TestCLIRWLockWriterNotStarved: readers keep coming (each holds a while,
// so readers always hold the lock), and a writer still gets in within a
// bound: readers that come after it wait for it.
func TestCLIRWLockWriterNotStarved(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	log := filepath.Join(t.TempDir(), "log")
	reader := fmt.Sprintf(`s=$(date +%%s%%N); sleep 0.3; e=$(date +%%s%%N); echo "r $s $e" >> %s`, log)
	writer := fmt.Sprintf(`s=$(date +%%s%%N); sleep 0.1; e=$(date +%%s%%N); echo "w $s $e" >> %s`, log)

	stop := make(chan struct{})
	var mu sync.Mutex
	var readers []*bg
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// A long TTL: dozens of coord processes start here (a
			// reader every 100ms), and on a loaded machine (-race in CI)
			// a 10s session of one of them expired while it waited.
			r := startBG(t, ep, "lock", "acquire", "S", "--shared", "--ttl", "60s", "--", "sh", "-c", reader)
			mu.Lock()
			readers = append(readers, r)
			mu.Unlock()
		}
	}()
	waitFor(t, 30*time.Second, "readers to hold", func() bool { return c.lockStatusJSON("S").Readers >= 2 })
	start := time.Now()
	w := startBG(t, ep, "lock", "acquire", "S", "--ttl", "60s", "--", "sh", "-c", writer)
	code := w.wait(t, 20*time.Second) // the bound: readers keep coming meanwhile
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if code != 0 {
		t.Fatalf("writer exit %d stderr %q", code, w.stderr.String())
	}
	t.Logf("the writer got in and finished %v after it queued, with readers arriving every 100ms", took)
	mu.Lock()
	defer mu.Unlock()
	for i, r := range readers {
		if code := r.wait(t, 60*time.Second); code != 0 {
			t.Fatalf("reader %d: exit %d stderr %q", i, code, r.stderr.String())
		}
	}
	ivs := readIntervals(t, log)
	checkWritersAlone(t, ivs)
	var wi int
	for i, iv := range ivs {
		if iv.mode == "w" {
			wi = i
		}
	}
	if wi == len(ivs)-1 {
		t.Fatalf("no reader ran after the writer: it waited for the readers to stop coming: %+v", ivs)
	}
}
