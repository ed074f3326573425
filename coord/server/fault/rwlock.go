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

// RWLockNemeses are the faults of TestFaultRWLocks' short mode: member
// kills and partitions.
var RWLockNemeses = []string{"kill-leader", "isolate-leader-drop", "leader-cannot-send", "kill-restart"}

// Lock modes of an RWLockEvent.
const (
	ModeShared    = "shared"
	ModeExclusive = "exclusive"
)

// RWLockEvent is one step of a read-write lock client: the steps of a
// LockEvent, of a hold in Mode, plus
//
//   - "reader-write": a write fenced by a reader's token
//     (locks.LockToken), made while it held; it must be rejected (only
//     a writer's token fences).
//
// "write" and "stale" are made by writers only.
type RWLockEvent struct {
	LockEvent
	Mode string `json:"mode"`
}

// RWLockHistory is everything one read-write lock scenario recorded.
// ReaderOverlaps counts the pairs of shared sections of one lock that
// overlapped (that readers did hold together).
type RWLockHistory struct {
	Events         []RWLockEvent `json:"events"`
	ReaderOverlaps int           `json:"reader_overlaps"`
}

// CheckRWLocks checks a read-write lock history and returns one message
// per violation:
//
//  1. a writer's critical section overlapping any other section of the
//     lock (readers' sections may overlap each other);
//  2. a writer's token also granted to another holder (readers granted
//     by one command share a token; a writer's is its own);
//  3. tokens not increasing in grant order: a grant that returned before
//     another was asked for has a token at least as large;
//  4. a write fenced by writer token T accepted at revision R although a
//     later grant (T < T2 <= R, of either mode) had happened by then;
//  5. a stale writer token accepted after its release was acknowledged;
//  6. a write fenced by a reader's token accepted.
func CheckRWLocks(h RWLockHistory) []string {
	var out []string
	type perLock struct {
		grants, writes, sections []RWLockEvent
	}
	byLock := map[string]*perLock{}
	get := func(name string) *perLock {
		p := byLock[name]
		if p == nil {
			p = &perLock{}
			byLock[name] = p
		}
		return p
	}
	for _, e := range h.Events {
		p := get(e.Lock)
		switch e.Kind {
		case "grant":
			p.grants = append(p.grants, e)
		case "section":
			p.sections = append(p.sections, e)
		case "write", "stale":
			if e.Outcome == "ok" {
				p.writes = append(p.writes, e)
			}
			if e.Kind == "stale" && e.Outcome == "ok" {
				out = append(out, fmt.Sprintf("lock %s: stale token %d accepted at revision %d after client %d released it", e.Lock, e.Token, e.Rev, e.Client))
			}
		case "reader-write":
			if e.Outcome == "ok" {
				out = append(out, fmt.Sprintf("lock %s: reader client %d's token %d fenced a write, accepted at revision %d", e.Lock, e.Client, e.Token, e.Rev))
			}
		}
	}
	names := make([]string, 0, len(byLock))
	for n := range byLock {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		p := byLock[name]
		for i, w := range p.grants {
			if w.Mode != ModeExclusive {
				continue
			}
			for j, o := range p.grants {
				if i != j && o.Token == w.Token {
					out = append(out, fmt.Sprintf("lock %s: token %d granted to writer client %d and to client %d (%s)", name, w.Token, w.Client, o.Client, o.Mode))
					break
				}
			}
		}
		out = append(out, notIncreasing("lock "+name, p.grants, func(e RWLockEvent) grantTimes { return grantTimes{e.Client, e.Token, e.Call, e.Return} })...)
		var tokens []int64
		for _, g := range p.grants {
			tokens = append(tokens, g.Token)
		}
		sort.Slice(tokens, func(i, j int) bool { return tokens[i] < tokens[j] })
		for _, w := range p.writes {
			j := sort.Search(len(tokens), func(k int) bool { return tokens[k] > w.Token })
			if j < len(tokens) && tokens[j] <= w.Rev {
				out = append(out, fmt.Sprintf("lock %s: two holders: client %d's write fenced by token %d accepted at revision %d, after token %d was granted at revision %d", name, w.Client, w.Token, w.Rev, tokens[j], tokens[j]))
			}
		}
		ss := p.sections
		sort.Slice(ss, func(i, j int) bool { return ss[i].Start < ss[j].Start })
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if b.Start > a.End {
					break
				}
				if a.Mode == ModeShared && b.Mode == ModeShared {
					continue
				}
				out = append(out, fmt.Sprintf("lock %s: a writer beside another holder: client %d's %s section (token %d) ran until %v, %v after client %d's %s section (token %d) began at %v",
					name, a.Client, a.Mode, a.Token, time.Duration(a.End), time.Duration(a.End-b.Start), b.Client, b.Mode, b.Token, time.Duration(b.Start)))
			}
		}
	}
	return out
}

// readerOverlaps counts the pairs of shared sections of one lock that
// overlap.
func readerOverlaps(evs []RWLockEvent) int {
	by := map[string][]RWLockEvent{}
	for _, e := range evs {
		if e.Kind == "section" && e.Mode == ModeShared {
			by[e.Lock] = append(by[e.Lock], e)
		}
	}
	n := 0
	for _, ss := range by {
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.Start <= b.End && b.Start <= a.End {
					n++
				}
			}
		}
	}
	return n
}

// RWLockWorkload drives read-write lock clients (locks.RWMutex): each
// hold is shared, or exclusive one time in 100/WritePercent. A reader
// holds 10–40 ms and makes one write fenced by its own token (which must
// be refused); a writer makes two fenced writes, releases, then one write
// with the released token. Stall makes client 0 stall past its lease on
// its third exclusive grant, as LockWorkload's.
type RWLockWorkload struct {
	Clients      []*coord.Client
	Locks        []string
	SessionTTL   int64 // seconds
	OpTimeout    time.Duration
	Think        time.Duration
	WritePercent int
	Stall        bool
}

// Run runs every client until ctx ends and returns the history.
func (w *RWLockWorkload) Run(ctx context.Context, start time.Time, seed int64) RWLockHistory {
	now, wall := clocks(start)
	call := func(e RWLockEvent) int64 { return e.Call }
	client := func(id int, c *coord.Client, record func(RWLockEvent)) {
		rng := rand.New(rand.NewSource(seed + int64(id)*7919))
		hw := &holdWorker{client: c, ttl: w.SessionTTL, opTimeout: w.OpTimeout, think: w.Think, rng: rng, now: now, wall: wall}
		writes := 0
		hw.run(ctx, func(sess *coord.Session) holdTurn {
			name := w.Locks[rng.Intn(len(w.Locks))]
			mode := ModeShared
			if rng.Intn(100) < w.WritePercent {
				mode = ModeExclusive
			}
			rw := locks.NewRWMutex(sess, name)
			m := rw.ReadLocker()
			if mode == ModeExclusive {
				m = rw.WriteLocker()
			}
			fenced := func(kind string, token int64) {
				e := fencedWrite(c, w.OpTimeout, now, LockEvent{Kind: kind, Client: id, Lock: name, Token: token})
				record(RWLockEvent{Mode: mode, LockEvent: e})
			}
			t := holdTurn{
				acquire: m.Lock,
				release: m.Unlock,
				token:   m.Token,
				record: func(s holdStep) {
					record(RWLockEvent{Mode: mode, LockEvent: LockEvent{Kind: s.Kind, Client: id, Lock: name, Token: s.Token,
						Outcome: s.Outcome, Call: s.Call, Return: s.Return, Start: s.Start, End: s.End}})
				},
			}
			if mode == ModeShared {
				t.work = func(token int64, sec *section) {
					fenced("reader-write", token)
					end := time.Now().Add(time.Duration(10+rng.Intn(31)) * time.Millisecond)
					for time.Now().Before(end) && ctx.Err() == nil && sec.alive() {
						pause(ctx, 5*time.Millisecond)
					}
					sec.alive()
				}
				return t
			}
			t.work = func(token int64, sec *section) {
				writes++
				writerWork(ctx, sess, w.SessionTTL, w.Stall && id == 0 && writes == 3, rng, sec, func() { fenced("write", token) })
			}
			t.released = func(token int64) { fenced("stale", token) }
			return t
		})
	}
	h := RWLockHistory{Events: runHolders(w.Clients, nil, "", call, client, nil)}
	h.ReaderOverlaps = readerOverlaps(h.Events)
	return h
}
