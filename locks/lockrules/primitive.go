package lockrules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Operation names of locks in the log: persisted in every command, never
// change them (they are the wire method names).
const (
	OpLock   = "lock.lock"   // *wire.LockRequest → *wire.LockResponse
	OpUnlock = "lock.unlock" // *wire.UnlockRequest → *wire.UnlockResponse
	OpStatus = "lock.status" // query: *wire.LockStatusRequest → *wire.LockStatusResponse
)

// Primitive is what locks register with the state machine: Lock and
// Unlock, the hand-off when an owner's lease is revoked (OwnerDeleted) and
// the status query (ReadStatus; LeaseTTL is left to the server).
var Primitive = primitive.Primitive{
	Name: kind,
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(OpLock, ApplyLock, func(r *wire.LockResponse) *wire.ResponseHeader { return &r.Header }).Growing(),
		primitive.NewOp(OpUnlock, ApplyUnlock, func(r *wire.UnlockResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpStatus, func(r Reader, req *wire.LockStatusRequest) (*wire.LockStatusResponse, *wire.Error, error) {
			return ReadStatus(r, req.Name)
		}, func(r *wire.LockStatusResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Revoked: func(st primitive.LeaseStore, prev *wire.KeyValue) error { return OwnerDeleted(st, prev.Key) },
}
