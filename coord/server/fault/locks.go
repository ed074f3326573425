package fault

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
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
		out = append(out, notIncreasing("lock "+name, gs, func(e LockEvent) grantTimes { return grantTimes{e.Client, e.Token, e.Call, e.Return} })...)
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
	now, wall := clocks(start)
	call := func(e LockEvent) int64 { return e.Call }
	command := func(id int, l *ClientLink, record func(LockEvent)) { w.runCommands(ctx, id, l, start, seed, record) }
	client := func(id int, c *coord.Client, record func(LockEvent)) {
		rng := rand.New(rand.NewSource(seed + int64(id)*104729))
		hw := &holdWorker{client: c, ttl: w.SessionTTL, opTimeout: w.OpTimeout, think: w.Think, rng: rng, now: now, wall: wall}
		grants := 0
		hw.run(ctx, func(sess *coord.Session) holdTurn {
			name := w.Locks[rng.Intn(len(w.Locks))]
			m := locks.NewMutex(sess, name)
			fenced := func(kind string, token int64) {
				record(fencedWrite(c, w.OpTimeout, now, LockEvent{Kind: kind, Client: id, Lock: name, Token: token}))
			}
			return holdTurn{
				acquire: m.Lock,
				release: m.Unlock,
				token:   m.Token,
				record: func(s holdStep) {
					record(LockEvent{Kind: s.Kind, Client: id, Lock: name, Token: s.Token, Outcome: s.Outcome,
						Call: s.Call, Return: s.Return, Start: s.Start, End: s.End})
				},
				work: func(token int64, sec *section) {
					grants++
					writerWork(ctx, sess, w.SessionTTL, w.Stall && id == 0 && grants == 3, rng, sec, func() { fenced("write", token) })
				},
				released: func(token int64) { fenced("stale", token) },
			}
		})
	}
	return LockHistory{Events: runHolders(w.Clients, w.Commands, w.Bin, call, client, command)}
}

// runCommands is one command-line holder (see LockWorkload.Bin).
func (w *LockWorkload) runCommands(ctx context.Context, id int, l *ClientLink, start time.Time, seed int64, record func(LockEvent)) {
	rng := rand.New(rand.NewSource(seed + int64(id)*104729))
	ch := &commandHolder{bin: w.Bin, dir: w.Dir, ttl: w.SessionTTL, think: w.Think, link: l, start: start,
		tokenVar: "COORD_LOCK_TOKEN", filePrefix: "c"}
	ch.run(ctx, id, rng, func() commandTurn {
		name := w.Locks[rng.Intn(len(w.Locks))]
		return commandTurn{
			name: name,
			args: []string{"lock", "acquire", name},
			done: func(token, call, first, last int64) {
				record(LockEvent{Kind: "grant", Client: id, Lock: name, Token: token, Call: call, Return: first})
				record(LockEvent{Kind: "section", Client: id, Lock: name, Token: token, Start: first, End: last})
			},
		}
	})
}
