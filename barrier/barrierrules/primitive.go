package barrierrules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Operation names of barriers in the log: persisted in every command,
// never change them.
const (
	OpBarrier = "barrier"       // *wire.BarrierRequest → *wire.BarrierResponse (the wire method's name)
	OpState   = "barrier.state" // query: *wire.BarrierRequest (Name) → *wire.BarrierResponse
)

func barrierHeader(r *wire.BarrierResponse) *wire.ResponseHeader { return &r.Header }

// Primitive is what barriers register with the state machine: the
// barrier operations (ApplyBarrier), the leave of a participant whose
// lease is revoked (KeyDeleted) and the state query (ReadState).
var Primitive = primitive.Primitive{
	Name: "barrier",
	Root: Root,
	Ops: []primitive.Op{
		// Hold and Enter write a record; Release, Leave and Wait free or read.
		primitive.GrowingIf(primitive.NewOp(OpBarrier, ApplyBarrier, barrierHeader), func(r *wire.BarrierRequest) bool {
			return r.Op == wire.BarrierHold || r.Op == wire.BarrierEnter
		}),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpState, func(r primitive.Reader, req *wire.BarrierRequest) (*wire.BarrierResponse, *wire.Error, error) {
			return ReadState(r, req.Name)
		}, barrierHeader),
	},
	Revoked: func(st primitive.LeaseStore, prev *wire.KeyValue) error { return KeyDeleted(st, prev) },
}
