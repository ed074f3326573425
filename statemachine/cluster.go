package statemachine

import (
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// ClusterIdentity proposes the identity of a new cluster: a random number
// drawn by the proposing member. The first one applied is kept forever
// (the server proposes it to shard 0 until one is applied); a later one,
// from another member or a retry, changes nothing and gets the kept ID as
// its result. Result: the kept ID, msgpack-encoded (uint64).
//
// Clients compare the identity of every member they reach with the first
// one they saw (wire.HelloResponse.ClusterID), so a client never mixes the
// answers of two clusters that reuse the same addresses.
type ClusterIdentity struct {
	ID uint64 `msgpack:"id"`
}

// ClusterID returns the cluster identity stored in the shard, 0 if none
// (the server keeps it in shard 0).
func (sh *Shard) ClusterID() uint64 { return sh.clusterID.Load() }

// loadClusterID reads the stored identity into the shard's published copy.
func (sh *Shard) loadClusterID(db *pebble.DB) error {
	v, closer, err := db.Get(sh.space.ClusterKey())
	if errors.Is(err, pebble.ErrNotFound) {
		sh.clusterID.Store(0)
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if len(v) != 8 {
		return corruption.Errorf("statemachine: corrupt cluster identity (%d bytes)", len(v))
	}
	sh.clusterID.Store(binary.BigEndian.Uint64(v))
	return nil
}

func (a *applier) clusterIdentity(req *ClusterIdentity) (Result, error) {
	if req.ID == 0 {
		return errResult(wire.Errorf(wire.CodeInvalid, "a cluster identity must not be 0"))
	}
	if a.clusterID == 0 {
		a.clusterID = req.ID
		if err := a.w.Batch().Set(a.sh.space.ClusterKey(), binary.BigEndian.AppendUint64(nil, req.ID), nil); err != nil {
			return Result{}, err
		}
	}
	return okResult(a.clusterID)
}
