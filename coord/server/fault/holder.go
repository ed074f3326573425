package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/locks"
)

// What the lock-like workloads (LockWorkload, RWLockWorkload,
// SemaphoreWorkload) share: the loop of a Go client that takes holds
// through a session (holdWorker), the fenced write of a lock holder
// (fencedWrite) and the command-line holder (commandHolder).

// runHolders is the skeleton of a lock-like workload's Run: one goroutine
// per client (client) and, unless bin is "", one per command-line link
// (command), each recording events; when all have returned (ctx ended)
// it returns the events in order of call time (call).
func runHolders[E any](clients []*coord.Client, links []*ClientLink, bin string, call func(E) int64,
	client func(id int, c *coord.Client, record func(E)), command func(id int, l *ClientLink, record func(E))) []E {
	var mu sync.Mutex
	var events []E
	record := func(e E) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i, l := range links {
		if bin == "" {
			break
		}
		wg.Add(1)
		go func(id int, l *ClientLink) {
			defer wg.Done()
			command(id, l, record)
		}(len(clients)+i, l)
	}
	for i, c := range clients {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			client(id, c, record)
		}(i, c)
	}
	wg.Wait()
	sort.Slice(events, func(i, j int) bool { return call(events[i]) < call(events[j]) })
	return events
}

// clocks returns the times of a history that started at start, in ns:
// now (monotonic, for calls and returns) and wall (the wall clock, for
// sections, which are compared with the stamps of other processes on the
// same machine).
func clocks(start time.Time) (now, wall func() int64) {
	return func() int64 { return int64(time.Since(start)) },
		func() int64 { return time.Now().UnixNano() - start.UnixNano() }
}

// grantTimes is a grant as notIncreasing reads it.
type grantTimes struct {
	client           int
	token, call, ret int64
}

// notIncreasing reports the grants of one lock or semaphore (what: "lock
// NAME") whose tokens do not increase in grant order: a grant that
// returned before another was asked for has a token no smaller. at reads
// an event.
func notIncreasing[E any](what string, grants []E, at func(E) grantTimes) []string {
	var out []string
	for _, ea := range grants {
		a := at(ea)
		for _, eb := range grants {
			if b := at(eb); a.ret < b.call && a.token >= b.token {
				out = append(out, fmt.Sprintf("%s: grant of token %d to client %d returned before client %d asked, yet client %d got token %d (not increasing)",
					what, a.token, a.client, b.client, b.client, b.token))
			}
		}
	}
	return out
}

// holdStep is one step of a hold, recorded by a workload as its own
// event: "grant" (Call, Return), "section" (Start, End) or "release"
// (Call, Return, Outcome "ok" or "unknown").
type holdStep struct {
	Kind       string
	Token      int64
	Outcome    string
	Call       int64
	Return     int64
	Start, End int64
}

// holdTurn is one hold a holdWorker takes: what differs between the
// workloads.
type holdTurn struct {
	acquire func(context.Context) error
	release func(context.Context) error
	token   func() int64 // of the grant, once acquire returned
	// record records a step of the hold as the workload's event.
	record func(holdStep)
	// work is the critical section: sec.alive marks each sign of life.
	work func(token int64, sec *section)
	// released, if set, runs after a release was acknowledged.
	released func(token int64)
}

// holdWorker is one Go client of a lock-like workload.
type holdWorker struct {
	client    *coord.Client
	ttl       int64 // seconds
	opTimeout time.Duration
	think     time.Duration
	rng       *rand.Rand
	now, wall func() int64 // ns since the history started (wall: the wall clock)
}

// run takes holds until ctx ends: it pauses up to 2×think, keeps a
// session (a new one when the last ended; orphaned at the end), asks next
// for the hold to take, acquires it within opTimeout, records the grant,
// runs its work as the section the client sees (on only while the session
// counts itself alive), records it and releases. A release whose outcome
// is unknown drops the session: the hold may still be ours, so its lease
// must expire for it to move on.
func (w *holdWorker) run(ctx context.Context, next func(sess *coord.Session) holdTurn) {
	var sess *coord.Session
	defer func() {
		if sess != nil {
			sess.Orphan()
		}
	}()
	for ctx.Err() == nil {
		if w.think > 0 {
			pause(ctx, time.Duration(w.rng.Int63n(int64(2*w.think))))
		}
		if sess = dropEnded(sess); sess == nil {
			if sess = newSession(ctx, w.client, w.ttl); sess == nil {
				continue
			}
		}
		t := next(sess)
		call := w.now()
		actx, cancel := context.WithTimeout(ctx, w.opTimeout)
		err := t.acquire(actx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, coord.ErrTimeout) && !errors.Is(err, coord.ErrCanceled) {
				pause(ctx, 50*time.Millisecond)
			}
			continue
		}
		token := t.token()
		t.record(holdStep{Kind: "grant", Token: token, Call: call, Return: w.now()})
		// (A grant may come back after the session's deadline: then there
		// is no section at all.)
		sec := &section{sess: sess, wall: w.wall}
		sec.alive()
		t.work(token, sec)
		if sec.Start != 0 {
			t.record(holdStep{Kind: "section", Token: token, Start: sec.Start, End: sec.End})
		}
		e := holdStep{Kind: "release", Token: token, Call: w.now()}
		rctx, cancel := context.WithTimeout(context.Background(), w.opTimeout)
		err = t.release(rctx)
		cancel()
		e.Return = w.now()
		if err != nil {
			e.Outcome, e.Return = "unknown", Infinity
			t.record(e)
			sess.Orphan()
			sess = nil
			continue
		}
		e.Outcome = "ok"
		t.record(e)
		if t.released != nil {
			t.released(token)
		}
	}
}

// dropEnded returns sess, or nil (orphaning it) if it has ended.
func dropEnded(sess *coord.Session) *coord.Session {
	if sess == nil {
		return nil
	}
	select {
	case <-sess.Done():
		sess.Orphan()
		return nil
	default:
		return sess
	}
}

// newSession returns a new session of c with ttl, or nil after a pause
// if there is none to be had.
func newSession(ctx context.Context, c *coord.Client, ttl int64) *coord.Session {
	s, err := coord.NewSession(c, coord.WithTTL(ttl))
	if err != nil {
		pause(ctx, 100*time.Millisecond)
		return nil
	}
	return s
}

// section is a critical section as a Go client sees it: its first and
// last signs of life (wall clock, ns since the history started) while its
// session counted itself alive.
type section struct {
	sess       *coord.Session
	wall       func() int64
	Start, End int64
}

// alive marks a sign of life if the session still counts itself alive
// (not ended, its deadline ahead) and reports whether it does.
func (s *section) alive() bool {
	t := s.wall()
	select {
	case <-s.sess.Done():
		return false
	default:
	}
	if !time.Now().Before(s.sess.Deadline()) {
		return false
	}
	if s.Start == 0 {
		s.Start = t
	}
	s.End = t
	return true
}

// fencedWrite writes token to lock name's register (Register) in a txn
// guarded by locks.LockToken(name, token), within timeout, and returns e
// with its Call, Return, Outcome and Rev: "ok" (accepted at Rev),
// "rejected" (the compare failed) or "unknown" (returning at Infinity).
func fencedWrite(c *coord.Client, timeout time.Duration, now func() int64, e LockEvent) LockEvent {
	e.Call = now()
	octx, cancel := context.WithTimeout(context.Background(), timeout)
	r, err := c.Txn(octx).If(locks.LockToken(e.Lock, e.Token)).
		Then(coord.OpPut(Register(e.Lock), strconv.FormatInt(e.Token, 10))).Commit()
	cancel()
	e.Return = now()
	switch {
	case err != nil:
		e.Outcome, e.Return = "unknown", Infinity
	case r.Succeeded:
		e.Outcome, e.Rev = "ok", r.Header.Revision
	default:
		e.Outcome = "rejected"
	}
	return e
}

// writerWork is a lock writer's critical section: two fenced writes
// (write) a few ms apart. With stall the client first stalls while
// holding: it stops renewing its session and waits out the lease, so the
// lock moves on and the writes carry a superseded token, which the store
// must refuse (the process pause of Jepsen's etcd lock analysis).
func writerWork(ctx context.Context, sess *coord.Session, ttl int64, stall bool, rng *rand.Rand, sec *section, write func()) {
	if stall {
		sess.Orphan()
		pause(ctx, time.Duration(ttl)*time.Second+1500*time.Millisecond)
	}
	sec.alive()
	write()
	pause(ctx, time.Duration(rng.Int63n(int64(10*time.Millisecond))))
	sec.alive()
	write()
}

// stampScript writes "token $VAR" to file $1, where VAR is the
// environment variable holding the grant's token, then the time (ns)
// every 20 ms, $2 times.
func stampScript(tokenVar string) string {
	return `echo "token $` + tokenVar + `" > "$1"; i=0; while [ $i -lt $2 ]; do date +%s%N >> "$1"; sleep 0.02; i=$((i+1)); done`
}

// commandHolder is one command-line holder of a lock-like workload: it
// runs `Bin ARGS... --ttl TTL --timeout 10s --endpoints LINK -- sh -c
// SCRIPT` through the link's proxies again and again, the script
// (stampScript) stamping the time every 20 ms into a file of Dir, for
// 0.1–0.3 s or, one time in four, for 4 s while ignoring SIGTERM (so only
// the deadline's SIGKILL stops it in time). The link is marked holding
// while such a long command runs, for the cut-client nemesis.
type commandHolder struct {
	bin, dir   string
	ttl        int64 // seconds
	think      time.Duration
	link       *ClientLink
	start      time.Time
	tokenVar   string // the command's variable with the grant's token
	filePrefix string // of the stamp files
}

// commandTurn is one run of a commandHolder: the arguments before --ttl
// (the hold to take), and done, called with the token and the call time,
// first and last stamps (ns since the history started) of a run that
// stamped.
type commandTurn struct {
	name string
	args []string
	done func(token, call, first, last int64)
}

// run runs commands until ctx ends; next draws each one's hold.
func (h *commandHolder) run(ctx context.Context, id int, rng *rand.Rand, next func() commandTurn) {
	now := func() int64 { return int64(time.Since(h.start)) }
	base := stampScript(h.tokenVar)
	for iter := 0; ctx.Err() == nil; iter++ {
		if h.think > 0 {
			pause(ctx, time.Duration(rng.Int63n(int64(2*h.think))))
		}
		t := next()
		n, script, long := 5+rng.Intn(11), base, rng.Intn(4) == 0
		if long {
			n, script = 200, "trap '' TERM; "+base
		}
		file := filepath.Join(h.dir, fmt.Sprintf("%s%d-%d-%s", h.filePrefix, id, iter, t.name))
		args := append(t.args, "--ttl", fmt.Sprintf("%ds", h.ttl), "--timeout", "10s",
			"--endpoints", strings.Join(h.link.Endpoints, ","),
			"--", "sh", "-c", script, "sh", file, strconv.Itoa(n))
		cmd := exec.CommandContext(ctx, h.bin, args...)
		// At the end of the run: Ctrl-C, as a user would; coord passes it
		// on and releases the hold.
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 15 * time.Second
		call := now()
		if err := cmd.Start(); err != nil {
			pause(ctx, 100*time.Millisecond)
			continue
		}
		exited := make(chan struct{})
		go func() {
			// Holding, as far as the cut-client nemesis needs to know:
			// a long command has begun.
			tk := time.NewTicker(20 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-exited:
					return
				case <-tk.C:
					if _, err := os.Stat(file); err == nil && long {
						h.link.SetHolding(true)
					}
				}
			}
		}()
		_ = cmd.Wait()
		close(exited)
		h.link.SetHolding(false)
		token, stamps := readStamps(file)
		if len(stamps) == 0 {
			continue
		}
		t.done(token, call, stamps[0]-h.start.UnixNano(), stamps[len(stamps)-1]-h.start.UnixNano())
	}
}

// readStamps reads a stamp file of stampScript.
func readStamps(file string) (token int64, stamps []int64) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if t, ok := strings.CutPrefix(line, "token "); ok {
			token, _ = strconv.ParseInt(t, 10, 64)
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil {
			stamps = append(stamps, v)
		}
	}
	return token, stamps
}
