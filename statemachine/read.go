package statemachine

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Read runs fn over the local replica's keyspace at its current revision,
// from one consistent view, and returns that revision's header. It reads
// what the replica has applied (no ReadIndex): the member's auth cache
// loads the auth store with it (auth.Load).
func (sh *Shard) Read(fn func(primitive.Reader) error) (wire.ResponseHeader, error) {
	return sh.readAt(fn)
}
