package server

import (
	"sort"
	"sync"
	"time"

	"github.com/coord-io/coord/statemachine"
)

// lessor keeps, for every lease of every shard, the time by which it must
// be renewed, as this member sees it. Time lives only here: the state
// machine knows a lease's TTL and how often it was renewed (RenewSeq), not
// when. Leader detects, Raft enacts: only on shards this member leads does
// the lessor report expired leases, and the revoke it proposes carries the
// RenewSeq it saw, so the state machine ignores it if the lease was renewed
// since (a deposed leader's late revoke is harmless).
//
// A lease is never expired early: a renewal counts from the moment this
// member applied it (never before the client sent it), and a member that
// becomes leader gives every lease a full TTL from that moment. Expiry
// can be late by up to one tick plus the revoke's commit.
//
// All methods are safe for concurrent use; the clock is injected.
type lessor struct {
	now func() time.Time

	mu     sync.Mutex
	shards []*lessorShard
}

type lessorShard struct {
	leader bool
	leases map[int64]*leaseTimer
}

type leaseTimer struct {
	ttl      time.Duration
	renewSeq uint64
	deadline time.Time
	revoking bool // a revoke proposal is in flight
}

// expiredLease is a lease the lessor wants revoked.
type expiredLease struct {
	shard    uint32
	id       int64
	renewSeq uint64
}

func newLessor(shards int, now func() time.Time) *lessor {
	l := &lessor{now: now}
	for i := 0; i < shards; i++ {
		l.shards = append(l.shards, &lessorShard{leases: map[int64]*leaseTimer{}})
	}
	return l
}

func seconds(ttl int64) time.Duration { return time.Duration(ttl) * time.Second }

// applied records lease changes applied in shard, in apply order.
func (l *lessor) applied(shard uint32, changes []statemachine.LeaseChange) {
	if len(changes) == 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.shards[shard]
	for _, c := range changes {
		if c.Revoked {
			delete(ls.leases, c.ID)
			continue
		}
		t, ok := ls.leases[c.ID]
		if !ok {
			t = &leaseTimer{}
			ls.leases[c.ID] = t
		}
		t.ttl, t.renewSeq, t.deadline, t.revoking = seconds(c.TTL), c.RenewSeq, now.Add(seconds(c.TTL)), false
	}
}

// reset replaces shard's leases (after opening the store or restoring a
// snapshot), each with a full TTL from now.
func (l *lessor) reset(shard uint32, infos []statemachine.LeaseInfo) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.shards[shard]
	ls.leases = make(map[int64]*leaseTimer, len(infos))
	for _, in := range infos {
		ls.leases[in.ID] = &leaseTimer{ttl: seconds(in.TTL), renewSeq: in.RenewSeq, deadline: now.Add(seconds(in.TTL))}
	}
}

// setLeader tells the lessor whether this member leads shard. Gaining
// leadership gives every lease a full TTL from now.
func (l *lessor) setLeader(shard uint32, leader bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.shards[shard]
	if leader && !ls.leader {
		for _, t := range ls.leases {
			if d := now.Add(t.ttl); d.After(t.deadline) {
				t.deadline = d
			}
		}
	}
	ls.leader = leader
}

// expired returns the leases past their deadline in the shards this member
// leads, oldest deadline first, and marks them as being revoked.
func (l *lessor) expired(max int) []expiredLease {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	type cand struct {
		expiredLease
		deadline time.Time
	}
	var out []cand
	for i, ls := range l.shards {
		if !ls.leader {
			continue
		}
		for id, t := range ls.leases {
			if !t.revoking && now.After(t.deadline) {
				out = append(out, cand{expiredLease{uint32(i), id, t.renewSeq}, t.deadline})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].deadline.Equal(out[j].deadline) {
			return out[i].deadline.Before(out[j].deadline)
		}
		return out[i].id < out[j].id
	})
	if len(out) > max {
		out = out[:max]
	}
	res := make([]expiredLease, len(out))
	for i, c := range out {
		l.shards[c.shard].leases[c.id].revoking = true
		res[i] = c.expiredLease
	}
	return res
}

// revokeDone clears the in-flight mark of a revoke that did not remove the
// lease (it failed, or the lease was renewed meanwhile).
func (l *lessor) revokeDone(shard uint32, id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.shards[shard].leases[id]; ok {
		t.revoking = false
	}
}

// remaining returns how long lease id has left as this member sees it.
func (l *lessor) remaining(shard uint32, id int64) (time.Duration, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.shards[shard].leases[id]
	if !ok {
		return 0, false
	}
	d := t.deadline.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// count returns the number of leases tracked.
func (l *lessor) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ls := range l.shards {
		n += len(ls.leases)
	}
	return n
}
