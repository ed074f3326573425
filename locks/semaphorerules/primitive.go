package semaphorerules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Operation names of semaphores in the log: persisted in every command,
// never change them (they are the wire method names).
const (
	OpAcquire = wire.MethodSemAcquire // *wire.SemaphoreAcquireRequest → *wire.SemaphoreAcquireResponse
	OpRelease = wire.MethodSemRelease // *wire.SemaphoreReleaseRequest → *wire.SemaphoreReleaseResponse
	OpStatus  = wire.MethodSemStatus  // query: *wire.SemaphoreStatusRequest → *wire.SemaphoreStatusResponse
)

// Primitive is what semaphores register with the state machine: Acquire
// and Release, the hand-off when an owner's lease is revoked
// (OwnerDeleted) and the status query (ReadStatus; the owners' LeaseTTL
// is left to the server).
var Primitive = primitive.Primitive{
	Name: kind,
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(OpAcquire, ApplyAcquire, func(r *wire.SemaphoreAcquireResponse) *wire.ResponseHeader { return &r.Header }).Growing(),
		primitive.NewOp(OpRelease, ApplyRelease, func(r *wire.SemaphoreReleaseResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpStatus, func(r primitive.Reader, req *wire.SemaphoreStatusRequest) (*wire.SemaphoreStatusResponse, *wire.Error, error) {
			return ReadStatus(r, req.Name)
		}, func(r *wire.SemaphoreStatusResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Revoked: func(st primitive.LeaseStore, prev *wire.KeyValue) error { return OwnerDeleted(st, prev) },
}
