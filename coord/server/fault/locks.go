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

// LockEvent is one step of a lock client, recorded for the checker.
//
//   - "grant": Lock returned the lock with Token.
//   - "write": a write to the lock's fenced register, a txn guarded by
//     locks.LockToken(Lock, Token), made while the client believed it
//     held the lock. Outcome "ok" (accepted at revision Rev), "rejected"
//     (the compare failed) or "unknown".
//   - "release": Unlock of Token returned (Outcome "ok" or "unknown").
//   - "stale": a fenced write with Token made after its release was
//     acknowledged; it must be rejected.
//   - "section": the critical section of a grant of Token as the guarded
//     work itself saw it: Start and End are its first and last signs of
//     life (wall clock, ns since the history started). A command under
//     `coord lock acquire` stamps the time itself; a Go client stamps it
//     only while its Session's Done is open and its Deadline ahead.
type LockEvent struct {
	Kind    string `json:"kind"`
	Client  int    `json:"client"`
	Lock    string `json:"lock"`
	Token   int64  `json:"token"`
	Outcome string `json:"outcome,omitempty"`
	Rev     int64  `json:"rev,omitempty"`
	Call    int64  `json:"call"`   // ns since the history started
	Return  int64  `json:"return"` // ns since the history started
	Start   int64  `json:"start,omitempty"`
	End     int64  `json:"end,omitempty"`
}

// LockHistory is everything one lock scenario recorded.
type LockHistory struct {
	Events []LockEvent `json:"events"`
}

// CheckLocks checks a lock history and returns one message per violation:
//
//  1. a token granted twice (for one lock);
//  2. tokens not increasing in grant order: a grant that returned before
//     another was asked for has the smaller token;
//  3. two holders at once, as the store saw them: a write fenced by token
//     T accepted at revision R although a later token T2 (T < T2 <= R) had
//     been granted by then (tokens are grant revisions, so T was no longer
//     the holder at R);
//  4. accepted fenced writes whose tokens decrease in revision order;
//  5. a stale-token write accepted after its release was acknowledged;
//  6. two critical sections of one lock that overlap in time: the guarded
//     work of one holder showed a sign of life after the next holder's
//     had begun (no fencing saves a side effect outside the store).
func CheckLocks(h LockHistory) []string {
	var out []string
	grants := map[string][]LockEvent{}
	writes := map[string][]LockEvent{}
	sections := map[string][]LockEvent{}
	for _, e := range h.Events {
		switch e.Kind {
		case "section":
			sections[e.Lock] = append(sections[e.Lock], e)
		case "grant":
			grants[e.Lock] = append(grants[e.Lock], e)
		case "write", "stale":
			if e.Outcome == "ok" {
				writes[e.Lock] = append(writes[e.Lock], e)
			}
			if e.Kind == "stale" && e.Outcome == "ok" {
				out = append(out, fmt.Sprintf("lock %s: stale token %d accepted at revision %d after client %d released it", e.Lock, e.Token, e.Rev, e.Client))
			}
		}
	}
	names := make([]string, 0, len(grants)+len(writes))
	for n := range grants {
		names = append(names, n)
	}
	for n := range writes {
		if _, ok := grants[n]; !ok {
			names = append(names, n)
		}
	}
	for n := range sections {
		_, g := grants[n]
		_, w := writes[n]
		if !g && !w {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		gs := grants[name]
		seen := map[int64]LockEvent{}
		for _, g := range gs {
			if p, ok := seen[g.Token]; ok {
				out = append(out, fmt.Sprintf("lock %s: token %d granted twice (clients %d and %d)", name, g.Token, p.Client, g.Client))
			}
			seen[g.Token] = g
		}
		for _, a := range gs {
			for _, b := range gs {
				if a.Return < b.Call && a.Token >= b.Token {
					out = append(out, fmt.Sprintf("lock %s: grant of token %d to client %d returned before client %d asked, yet client %d got token %d (not increasing)", name, a.Token, a.Client, b.Client, b.Client, b.Token))
				}
			}
		}
		tokens := make([]int64, 0, len(seen))
		for t := range seen {
			tokens = append(tokens, t)
		}
		sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
		ws := writes[name]
		sort.Slice(ws, func(i, j int) bool { return ws[i].Rev < ws[j].Rev })
		for i, w := range ws {
			if w.Token > w.Rev {
				out = append(out, fmt.Sprintf("lock %s: write fenced by token %d accepted at revision %d, before the token existed", name, w.Token, w.Rev))
			}
			// The first grant after w.Token.
			j := sort.Search(len(tokens), func(k int) bool { return tokens[k] > w.Token })
			if j < len(tokens) && tokens[j] <= w.Rev {
				out = append(out, fmt.Sprintf("lock %s: two holders: client %d's write fenced by token %d accepted at revision %d, after token %d was granted at revision %d", name, w.Client, w.Token, w.Rev, tokens[j], tokens[j]))
			}
			if i > 0 && ws[i-1].Token > w.Token {
				out = append(out, fmt.Sprintf("lock %s: fenced writes out of order: token %d accepted at revision %d after token %d at revision %d", name, w.Token, w.Rev, ws[i-1].Token, ws[i-1].Rev))
			}
		}
		out = append(out, overlaps(name, sections[name])...)
	}
	return out
}

// overlaps reports the critical sections of lock name that overlap.
func overlaps(name string, ss []LockEvent) []string {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Start < ss[j].Start })
	var out []string
	for i, a := range ss {
		for _, b := range ss[i+1:] {
			if b.Start > a.End {
				break
			}
			out = append(out, fmt.Sprintf("lock %s: two holders at once: client %d's critical section (token %d) ran until %v, %v after client %d's (token %d) began at %v",
				name, a.Client, a.Token, time.Duration(a.End), time.Duration(a.End-b.Start), b.Client, b.Token, time.Duration(b.Start)))
		}
	}
	return out
}

// LockWorkload drives lock clients: acquire, two fenced writes, release,
// then one stale write with the released token.
type LockWorkload struct {
	Clients    []*coord.Client
	Locks      []string
	SessionTTL int64 // seconds
	OpTimeout  time.Duration
	Think      time.Duration
	// Stall makes client 0 stall once while holding a lock, on its third
	// grant: it stops renewing its session and waits out the lease, so
	// the lock moves on, then makes its fenced writes with the superseded
	// token, which the store must refuse (the process pause of Jepsen's
	// etcd lock analysis).
	Stall bool

	// Commands, when Bin is set, adds one command-line holder per link:
	// it runs `Bin lock acquire NAME --ttl SessionTTL -- sh -c SCRIPT`
	// through the link's proxies again and again, the script stamping the
	// time every 20 ms into a file of Dir, for 0.1–0.3 s or, one time in
	// four, for 4–5 s while ignoring SIGTERM (so only the deadline's
	// SIGKILL stops it in time). The stamps make its "section" events; its
	// first stamp ends its "grant". A link is marked holding while such a
	// long command runs, for the cut-client nemesis.
	Bin      string
	Commands []*ClientLink
	Dir      string
}

// Register is the key of lock name's fenced register (same hash tag as
// the lock, so a txn can guard it with the lock's token).
func Register(name string) string { return "{" + name + "}/reg" }

// Run runs every client until ctx ends and returns the history.
func (w *LockWorkload) Run(ctx context.Context, start time.Time, seed int64) LockHistory {
	var mu sync.Mutex
	var h LockHistory
	record := func(e LockEvent) {
		mu.Lock()
		h.Events = append(h.Events, e)
		mu.Unlock()
	}
	now := func() int64 { return int64(time.Since(start)) }
	// Sections are compared with the stamps of other processes: the wall
	// clock, one machine.
	wall := func() int64 { return time.Now().UnixNano() - start.UnixNano() }
	var wg sync.WaitGroup
	for i, l := range w.Commands {
		if w.Bin == "" {
			break
		}
		wg.Add(1)
		go func(id int, l *ClientLink) {
			defer wg.Done()
			w.runCommands(ctx, id, l, start, seed, record)
		}(len(w.Clients)+i, l)
	}
	for i, c := range w.Clients {
		wg.Add(1)
		go func(id int, c *coord.Client) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(id)*104729))
			var sess *coord.Session
			defer func() {
				if sess != nil {
					sess.Orphan()
				}
			}()
			fenced := func(kind string, name string, token int64) {
				e := LockEvent{Kind: kind, Client: id, Lock: name, Token: token, Call: now()}
				octx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
				r, err := c.Txn(octx).If(locks.LockToken(name, token)).
					Then(coord.OpPut(Register(name), strconv.FormatInt(token, 10))).Commit()
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
				record(e)
			}
			grants := 0
			for ctx.Err() == nil {
				if w.Think > 0 {
					pause(ctx, time.Duration(rng.Int63n(int64(2*w.Think))))
				}
				if sess != nil {
					select {
					case <-sess.Done():
						sess.Orphan()
						sess = nil
					default:
					}
				}
				if sess == nil {
					s, err := coord.NewSession(c, coord.WithTTL(w.SessionTTL))
					if err != nil {
						pause(ctx, 100*time.Millisecond)
						continue
					}
					sess = s
				}
				name := w.Locks[rng.Intn(len(w.Locks))]
				m := locks.NewMutex(sess, name)
				call := now()
				lctx, cancel := context.WithTimeout(ctx, w.OpTimeout)
				err := m.Lock(lctx)
				cancel()
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, coord.ErrTimeout) && !errors.Is(err, coord.ErrCanceled) {
						pause(ctx, 50*time.Millisecond)
					}
					continue
				}
				token := m.Token()
				record(LockEvent{Kind: "grant", Client: id, Lock: name, Token: token, Call: call, Return: now()})
				grants++
				// The critical section, as this client sees it: it goes
				// on only while the session counts itself alive.
				// (A grant may come back after the session's deadline: then
				// there is no section at all.)
				sec := LockEvent{Kind: "section", Client: id, Lock: name, Token: token}
				alive := func() bool {
					t := wall()
					select {
					case <-sess.Done():
						return false
					default:
					}
					if !time.Now().Before(sess.Deadline()) {
						return false
					}
					if sec.Start == 0 {
						sec.Start = t
					}
					sec.End = t
					return true
				}
				alive()
				if w.Stall && id == 0 && grants == 3 {
					sess.Orphan()
					pause(ctx, time.Duration(w.SessionTTL)*time.Second+1500*time.Millisecond)
				}
				alive()
				fenced("write", name, token)
				pause(ctx, time.Duration(rng.Int63n(int64(10*time.Millisecond))))
				alive()
				fenced("write", name, token)
				if sec.Start != 0 {
					record(sec)
				}
				e := LockEvent{Kind: "release", Client: id, Lock: name, Token: token, Call: now()}
				uctx, cancel := context.WithTimeout(context.Background(), w.OpTimeout)
				err = m.Unlock(uctx)
				cancel()
				e.Return = now()
				if err != nil {
					e.Outcome, e.Return = "unknown", Infinity
					record(e)
					// The lock may still be ours: drop the session so its
					// lease expires and the lock moves on.
					sess.Orphan()
					sess = nil
					continue
				}
				e.Outcome = "ok"
				record(e)
				fenced("stale", name, token)
			}
		}(i, c)
	}
	wg.Wait()
	sort.Slice(h.Events, func(i, j int) bool { return h.Events[i].Call < h.Events[j].Call })
	return h
}

// stampScript writes "token $COORD_LOCK_TOKEN" to file $1, then the time
// (ns) every 20 ms, $2 times.
const stampScript = `echo "token $COORD_LOCK_TOKEN" > "$1"; i=0; while [ $i -lt $2 ]; do date +%s%N >> "$1"; sleep 0.02; i=$((i+1)); done`

// runCommands is one command-line holder (see LockWorkload.Bin).
func (w *LockWorkload) runCommands(ctx context.Context, id int, l *ClientLink, start time.Time, seed int64, record func(LockEvent)) {
	rng := rand.New(rand.NewSource(seed + int64(id)*104729))
	now := func() int64 { return int64(time.Since(start)) }
	for iter := 0; ctx.Err() == nil; iter++ {
		if w.Think > 0 {
			pause(ctx, time.Duration(rng.Int63n(int64(2*w.Think))))
		}
		name := w.Locks[rng.Intn(len(w.Locks))]
		n, script, long := 5+rng.Intn(11), stampScript, rng.Intn(4) == 0
		if long {
			n, script = 200, "trap '' TERM; "+stampScript
		}
		file := filepath.Join(w.Dir, fmt.Sprintf("c%d-%d-%s", id, iter, name))
		cmd := exec.CommandContext(ctx, w.Bin, "lock", "acquire", name,
			"--ttl", fmt.Sprintf("%ds", w.SessionTTL), "--timeout", "10s",
			"--endpoints", strings.Join(l.Endpoints, ","),
			"--", "sh", "-c", script, "sh", file, strconv.Itoa(n))
		// At the end of the run: Ctrl-C, as a user would; coord passes it
		// on and releases the lock.
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
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-exited:
					return
				case <-t.C:
					if _, err := os.Stat(file); err == nil && long {
						l.SetHolding(true)
					}
				}
			}
		}()
		_ = cmd.Wait()
		close(exited)
		l.SetHolding(false)
		token, stamps := readStamps(file)
		if len(stamps) == 0 {
			continue
		}
		first, last := stamps[0]-start.UnixNano(), stamps[len(stamps)-1]-start.UnixNano()
		record(LockEvent{Kind: "grant", Client: id, Lock: name, Token: token, Call: call, Return: first})
		record(LockEvent{Kind: "section", Client: id, Lock: name, Token: token, Start: first, End: last})
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
