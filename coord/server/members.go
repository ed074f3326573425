package server

import (
	"context"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/members"
)

// The member registry (statemachine/members): at start, each member that
// serves an etcd door publishes where its clients reach it — its native
// client address and its etcd door's URL — to shard 0, so that every
// member can list every member's addresses (etcd's MemberList). The
// record is written again only when it changed (a restart on the same
// addresses writes nothing). Each first write is a revision of shard 0:
// a fresh cluster's first user write comes after its members' records.

// publishRetry is the pause between two attempts to publish.
const publishRetry = 200 * time.Millisecond

// startPublishing publishes the member's record in the background, until it is applied or the member stops.
func (s *Core) startPublishing(etcdURL string) {
	rec := &members.Record{Name: s.cfg.Name, ClientAddr: s.clientAddr, EtcdURL: etcdURL}
	s.goBackground(func(stop <-chan struct{}) {
		t := time.NewTicker(publishRetry)
		defer t.Stop()
		for attempt := 1; ; attempt++ {
			if s.ClusterID() != 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				var resp members.PublishResponse
				werr := s.proposeDecode(ctx, members.Shard, statemachine.NewCommand(members.OpPublish, rec), &resp, &resp.Header)
				cancel()
				if werr == nil {
					s.log.Debug("member addresses published", "client", rec.ClientAddr, "etcd", rec.EtcdURL)
					return
				}
				if attempt%50 == 0 {
					s.log.Warn("could not publish the member's addresses yet; retrying", "err", werr)
				}
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
}

// memberRecords reads the member registry (linearizably, from this
// member's replica of shard 0), by member name.
func (s *Core) memberRecords(ctx context.Context) (map[string]members.Record, *wire.Error) {
	v, werr := s.lookup(ctx, members.Shard, primitiveQuery{members.OpList, &members.ListRequest{}})
	if werr != nil {
		return nil, werr
	}
	resp, ok := v.(*members.ListResponse)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknown, "member registry answered a %T", v)
	}
	out := make(map[string]members.Record, len(resp.Members))
	for _, r := range resp.Members {
		out[r.Name] = r
	}
	return out, nil
}
