package queuerules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Operation names of queues in the log: persisted in every command, never
// change them (they are the wire method names).
const (
	OpEnqueue = "queue.enqueue" // *wire.EnqueueRequest → *wire.EnqueueResponse
	OpDequeue = "queue.dequeue" // *wire.DequeueRequest → *wire.DequeueResponse
	OpAck     = "queue.ack"     // *wire.AckRequest → *wire.AckResponse
	OpInfo    = "queue.info"    // query: *wire.QueueInfoRequest → *wire.QueueInfoResponse
)

// Primitive is what queues register with the state machine: Enqueue,
// Dequeue and Ack, the return of an item whose consumer's or visibility
// lease is revoked (KeyDeleted) and the info query (ReadInfo).
var Primitive = primitive.Primitive{
	Name: "queue",
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(OpEnqueue, ApplyEnqueue, func(r *wire.EnqueueResponse) *wire.ResponseHeader { return &r.Header }).Growing(),
		primitive.NewOp(OpDequeue, ApplyDequeue, func(r *wire.DequeueResponse) *wire.ResponseHeader { return &r.Header }).Growing(),
		primitive.NewOp(OpAck, ApplyAck, func(r *wire.AckResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpInfo, func(r primitive.Reader, req *wire.QueueInfoRequest) (*wire.QueueInfoResponse, *wire.Error, error) {
			return ReadInfo(r, req.Name, req.Peek)
		}, func(r *wire.QueueInfoResponse) *wire.ResponseHeader { return &r.Header }),
	},
	Revoked: KeyDeleted,
}
