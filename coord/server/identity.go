package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// The cluster identity: a random number drawn when a cluster is created,
// the same on every member and kept for the cluster's life, so that a
// client can tell a member of its cluster from a member of a fresh
// cluster started on the same addresses (wire.HelloResponse.ClusterID).
//
// Every member whose shard 0 holds no identity yet proposes one of its
// own to shard 0 until one is applied; the state machine keeps the first
// (statemachine.ClusterIdentity), so all members agree whichever wins.
// Until the member has applied it, it answers only status calls: a client
// never gets an answer it could not attribute to a cluster.

// identityShard holds the cluster identity.
const identityShard = 0

// ClusterID returns the member's cluster identity, 0 while it has not
// learned it.
func (s *Core) ClusterID() uint64 { return s.shards[identityShard].ClusterID() }

// checkClusterID refuses every call but status while the member does not
// know its cluster's identity.
func (s *Core) checkClusterID(method string) *wire.Error {
	if method == wire.MethodStatus || s.ClusterID() != 0 {
		return nil
	}
	return wire.Errorf(wire.CodeUnavailable, "member %s has not learned its cluster's identity yet (shard %d has no quorum?)", s.cfg.Name, identityShard)
}

// runClusterIdentity proposes an identity until shard 0 has one.
func (s *Core) runClusterIdentity(stop <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for s.ClusterID() == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err == nil {
			id := binary.LittleEndian.Uint64(b[:]) | 1 // never 0
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, werr := s.propose(ctx, identityShard, statemachine.NewCommand(statemachine.OpClusterIdentity, &statemachine.ClusterIdentity{ID: id}))
			cancel()
			if werr == nil {
				s.log.Debug("cluster identity proposed", "id", id)
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
	s.log.Info("cluster identity", "id", s.ClusterID())
}
