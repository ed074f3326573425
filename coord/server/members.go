package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// The member registry (statemachine/members.go): every member publishes
// its own record — name, Raft node ID and the addresses of its doors — to
// shard 0 when it starts, so that every member knows how clients reach
// every member (the status call's member list, etcd's MemberList, `coord
// member list`). A record lives outside the keyspace (no revision, no
// event). The member first catches its replica of shard 0 up and
// proposes only if the registry does not already hold the same record: a
// restart on the same addresses proposes nothing.

// memberShard holds the member registry, with the cluster identity.
const memberShard = identityShard

// memberPublishRetry is the pause between two attempts to publish.
const memberPublishRetry = 100 * time.Millisecond

// memberPublishes counts the member.publish proposals a member made, and
// done is closed once the registry holds the member's record (tests: a
// restart on the same addresses makes none).
type memberPublishes struct {
	n    atomic.Int64
	done chan struct{}
}

// MemberRecords returns the member registry as this member's replica of
// shard 0 holds it, sorted by name, removed members' tombstones included
// (the caller must not modify it).
func (s *Core) MemberRecords() []statemachine.MemberRecord {
	return s.shards[memberShard].Members()
}

// published reports whether the member registry holds the member's
// record (true for a core that publishes none).
func (s *Core) published() bool {
	if s.publishes.done == nil {
		return true
	}
	select {
	case <-s.publishes.done:
		return true
	default:
		return false
	}
}

// memberRecord returns the registry's record of name.
func (s *Core) memberRecord(name string) (statemachine.MemberRecord, bool) {
	for _, r := range s.MemberRecords() {
		if r.Name == name {
			return r, true
		}
	}
	return statemachine.MemberRecord{}, false
}

// ownMemberRecord is the record this member publishes: the doors it
// serves (etcd: the door's URL, "" when off).
func (s *Core) ownMemberRecord(etcdURL, httpAddr string) statemachine.MemberRecord {
	rec := statemachine.MemberRecord{Name: s.cfg.Name, Peer: s.cfg.ListenPeer, Client: s.clientAddr, Etcd: etcdURL, HTTP: httpAddr}
	if ms, err := s.cfg.members(); err == nil {
		for _, m := range ms {
			if m.Name == s.cfg.Name {
				rec.NodeID, rec.Peer = m.NodeID, m.PeerAddr
			}
		}
	}
	return rec
}

// runMemberPublish publishes rec until the registry holds it (or the
// member stops).
func (s *Core) runMemberPublish(rec statemachine.MemberRecord) func(stop <-chan struct{}) {
	s.publishes.done = make(chan struct{})
	return func(stop <-chan struct{}) {
		t := time.NewTicker(memberPublishRetry)
		defer t.Stop()
		for attempt := 1; ; attempt++ {
			done, werr := s.publishMember(rec)
			if done {
				close(s.publishes.done)
				return
			}
			if werr != nil && attempt%50 == 0 {
				s.log.Warn("could not publish the member's addresses to the member registry yet; retrying", "err", werr)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}
}

// publishMember makes one attempt: it catches the local replica of the
// registry's shard up, and proposes rec if the registry holds another
// record (or none) for the member. done: the registry holds rec, or it
// refused it (logged: retrying would not help).
func (s *Core) publishMember(rec statemachine.MemberRecord) (done bool, _ *wire.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if werr := s.catchUp(ctx, memberShard); werr != nil {
		return false, werr
	}
	if have, ok := s.memberRecord(rec.Name); ok {
		if have.Removed {
			s.setRemoved("the member registry lists it as removed")
			return true, nil
		}
		// The membership flags are the registry's own.
		have.Learner, have.StayLearner = false, false
		if have == rec {
			s.log.Debug("member registry already holds the member's addresses", "record", rec)
			return true, nil
		}
	}
	s.publishes.n.Add(1)
	r, werr := s.propose(ctx, memberShard, statemachine.NewCommand(statemachine.OpMemberPublish, &statemachine.MemberPublish{Record: rec}))
	if werr != nil {
		return false, werr
	}
	var resp statemachine.MemberPublishResponse
	var h wire.ResponseHeader
	if werr := s.decodeResult(memberShard, r, &resp, &h); werr != nil {
		if werr.Code == wire.CodeMemberRemoved {
			s.setRemoved("the member registry lists it as removed")
			return true, nil
		}
		s.log.Error("the member registry refused the member's record", "record", rec, "err", werr)
		return true, nil
	}
	s.log.Info("member addresses published to the member registry", "client", rec.Client, "etcd", rec.Etcd, "http", rec.HTTP, "peer", rec.Peer)
	return true, nil
}
