package fault

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/locks"
)

// SemEvent is one step of a semaphore client, recorded for the checker.
//
//   - "grant": Acquire returned Weight permits of Sem with Token.
//   - "release": Release of that grant returned (Outcome "ok" or
//     "unknown").
//   - "section": the critical section of a grant as the guarded work
//     itself saw it: Start and End are its first and last signs of life
//     (wall clock, ns since the history started), as for locks (see
//     LockEvent).
type SemEvent struct {
	Kind    string `json:"kind"`
	Client  int    `json:"client"`
	Sem     string `json:"sem"`
	Limit   int64  `json:"limit"`
	Weight  int64  `json:"weight"`
	Token   int64  `json:"token"`
	Outcome string `json:"outcome,omitempty"`
	Call    int64  `json:"call"`   // ns since the history started
	Return  int64  `json:"return"` // ns since the history started
	Start   int64  `json:"start,omitempty"`
	End     int64  `json:"end,omitempty"`
}

// SemaphoreHistory is everything one semaphore scenario recorded.
type SemaphoreHistory struct {
	Events []SemEvent `json:"events"`
}

// CheckSemaphores checks a semaphore history and returns one message per
// violation:
//
//  1. more permits held at once than the limit: the weights of the
//     critical sections of one semaphore that are running at one instant
//     (as their guarded work saw them; a section that begins when another
//     ends counts as overlapping it, as CheckLocks does) add up to more
//     than the limit — reported once per excursion over the limit, with
//     the sections then running;
//  2. tokens not increasing in grant order: a grant that returned before
//     another was asked for has a token no smaller (owners granted by one
//     command share its token, but a later command has a larger one).
func CheckSemaphores(h SemaphoreHistory) []string {
	sections, grants := semEventsByName(h)
	names := make([]string, 0, len(sections)+len(grants))
	for n := range sections {
		names = append(names, n)
	}
	for n := range grants {
		if _, ok := sections[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		out = append(out, overLimit(name, sections[name])...)
		out = append(out, notIncreasing("semaphore "+name, grants[name], func(e SemEvent) grantTimes { return grantTimes{e.Client, e.Token, e.Call, e.Return} })...)
	}
	return out
}

// MostHeld returns, per semaphore, the most permits its critical sections
// held at one instant.
func MostHeld(h SemaphoreHistory) map[string]int64 {
	sections, _ := semEventsByName(h)
	out := map[string]int64{}
	for name, ss := range sections {
		sweep(ss, func(held int64, _ []SemEvent) {
			out[name] = max(out[name], held)
		})
	}
	return out
}

func semEventsByName(h SemaphoreHistory) (sections, grants map[string][]SemEvent) {
	sections, grants = map[string][]SemEvent{}, map[string][]SemEvent{}
	for _, e := range h.Events {
		switch e.Kind {
		case "section":
			sections[e.Sem] = append(sections[e.Sem], e)
		case "grant":
			grants[e.Sem] = append(grants[e.Sem], e)
		}
	}
	return sections, grants
}

// sweep walks the sections' starts and ends in time order (a start before
// an end at the same instant) and calls at with the permits held after
// each start and the sections then running, in order of start.
func sweep(ss []SemEvent, at func(held int64, running []SemEvent)) {
	type edge struct {
		t     int64
		start bool
		i     int
	}
	edges := make([]edge, 0, 2*len(ss))
	for i, s := range ss {
		edges = append(edges, edge{s.Start, true, i}, edge{s.End, false, i})
	}
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].t != edges[b].t {
			return edges[a].t < edges[b].t
		}
		if edges[a].start != edges[b].start {
			return edges[a].start
		}
		return edges[a].i < edges[b].i
	})
	running := map[int]bool{}
	var held int64
	for _, e := range edges {
		if !e.start {
			delete(running, e.i)
			held -= ss[e.i].Weight
			continue
		}
		running[e.i] = true
		held += ss[e.i].Weight
		var now []SemEvent
		for i := range ss {
			if running[i] {
				now = append(now, ss[i])
			}
		}
		sort.SliceStable(now, func(a, b int) bool { return now[a].Start < now[b].Start })
		at(held, now)
	}
}

// overLimit reports the instants semaphore name's sections held more than
// its limit, once per excursion.
func overLimit(name string, ss []SemEvent) []string {
	var limit int64
	for _, s := range ss {
		limit = max(limit, s.Limit)
	}
	var out []string
	over := false
	sweep(ss, func(held int64, running []SemEvent) {
		if held <= limit {
			over = false
			return
		}
		if over {
			return
		}
		over = true
		var who []string
		at := int64(0)
		for _, s := range running {
			who = append(who, fmt.Sprintf("client %d (token %d, weight %d)", s.Client, s.Token, s.Weight))
			at = max(at, s.Start)
		}
		out = append(out, fmt.Sprintf("semaphore %s: %d permits of %d held at once at %v: %s", name, held, limit, time.Duration(at), strings.Join(who, ", ")))
	})
	return out
}

// SemaphoreWorkload drives semaphore clients: acquire a random weight (1
// to Limit, mostly 1 or 2) of a random semaphore, work a few ms while the
// session counts itself alive, release.
type SemaphoreWorkload struct {
	Clients    []*coord.Client
	Semaphores []string
	Limit      int64
	SessionTTL int64 // seconds
	OpTimeout  time.Duration
	Think      time.Duration

	// Commands, when Bin is set, adds one command-line holder per link:
	// it runs `Bin semaphore acquire NAME --limit Limit --weight W --ttl
	// SessionTTL -- sh -c SCRIPT` through the link's proxies again and
	// again, the script stamping the time every 20 ms into a file of Dir,
	// for 0.1–0.3 s or, one time in four, for 4 s while ignoring SIGTERM
	// (so only the deadline's SIGKILL stops it in time). The stamps make
	// its "section" events. A link is marked holding while such a long
	// command runs, for the cut-client nemesis.
	Bin      string
	Commands []*ClientLink
	Dir      string
}

// weight draws a weight: 1 or 2 mostly, sometimes the whole limit.
func (w *SemaphoreWorkload) weight(rng *rand.Rand) int64 {
	if rng.Intn(6) == 0 {
		return w.Limit
	}
	return min(w.Limit, 1+int64(rng.Intn(2)))
}

// Run runs every client until ctx ends and returns the history.
func (w *SemaphoreWorkload) Run(ctx context.Context, start time.Time, seed int64) SemaphoreHistory {
	now, wall := clocks(start)
	call := func(e SemEvent) int64 { return e.Call }
	command := func(id int, l *ClientLink, record func(SemEvent)) { w.runCommands(ctx, id, l, start, seed, record) }
	client := func(id int, c *coord.Client, record func(SemEvent)) {
		rng := rand.New(rand.NewSource(seed + int64(id)*7919))
		hw := &holdWorker{client: c, ttl: w.SessionTTL, opTimeout: w.OpTimeout, think: w.Think, rng: rng, now: now, wall: wall}
		hw.run(ctx, func(sess *coord.Session) holdTurn {
			name, weight := w.Semaphores[rng.Intn(len(w.Semaphores))], w.weight(rng)
			sem := locks.NewSemaphore(sess, name, w.Limit, locks.WithWeight(weight))
			return holdTurn{
				acquire: sem.Acquire,
				release: sem.Release,
				token:   sem.Token,
				record: func(s holdStep) {
					record(SemEvent{Kind: s.Kind, Client: id, Sem: name, Limit: w.Limit, Weight: weight, Token: s.Token,
						Outcome: s.Outcome, Call: s.Call, Return: s.Return, Start: s.Start, End: s.End})
				},
				work: func(_ int64, sec *section) {
					for k := rng.Intn(4); k >= 0 && ctx.Err() == nil; k-- {
						pause(ctx, time.Duration(rng.Int63n(int64(5*time.Millisecond))))
						sec.alive()
					}
				},
			}
		})
	}
	return SemaphoreHistory{Events: runHolders(w.Clients, w.Commands, w.Bin, call, client, command)}
}

// runCommands is one command-line holder (see SemaphoreWorkload.Bin).
func (w *SemaphoreWorkload) runCommands(ctx context.Context, id int, l *ClientLink, start time.Time, seed int64, record func(SemEvent)) {
	rng := rand.New(rand.NewSource(seed + int64(id)*7919))
	ch := &commandHolder{bin: w.Bin, dir: w.Dir, ttl: w.SessionTTL, think: w.Think, link: l, start: start,
		tokenVar: "COORD_SEMAPHORE_TOKEN", filePrefix: "s"}
	ch.run(ctx, id, rng, func() commandTurn {
		name, weight := w.Semaphores[rng.Intn(len(w.Semaphores))], w.weight(rng)
		return commandTurn{
			name: name,
			args: []string{"semaphore", "acquire", name, "--limit", strconv.FormatInt(w.Limit, 10), "--weight", strconv.FormatInt(weight, 10)},
			done: func(token, call, first, last int64) {
				record(SemEvent{Kind: "grant", Client: id, Sem: name, Limit: w.Limit, Weight: weight, Token: token, Call: call, Return: first})
				record(SemEvent{Kind: "section", Client: id, Sem: name, Limit: w.Limit, Weight: weight, Token: token, Start: first, End: last})
			},
		}
	})
}
