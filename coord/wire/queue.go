package wire

// Queues and barriers are first-class calls, kept in the reserved keyspace
// under their name's hash tag (one queue or barrier lives in one shard).

// QueueItem is one item of a queue. Seq is its sequence number, strictly
// increasing per queue in enqueue order; Deliveries counts how often it
// was handed to a consumer (1 on its first delivery). Receipt, in a
// DequeueResponse only, is the delivery's receipt: what its Ack or Nack
// must present.
type QueueItem struct {
	Seq        int64   `msgpack:"s"`
	Value      []byte  `msgpack:"v"`
	Deliveries int64   `msgpack:"d,omitempty"`
	Receipt    Receipt `msgpack:"rc,omitempty"`
}

// Receipt proves a delivery: a random number, never 0, that the member
// proposing a Dequeue draws and that only that delivery's consumer learns
// (the state machine keeps only a hash of it, so reading the queue's keys
// does not reveal it). An Ack or Nack of an item in flight must present
// the receipt of the delivery in flight, else it fails with CodeNotOwner
// and changes nothing.
type Receipt uint64

// String returns the receipt as 16 lowercase hex digits, as ParseReceipt
// reads it.
func (r Receipt) String() string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hex[r&0xf]
		r >>= 4
	}
	return string(b[:])
}

// ParseReceipt reads a receipt written by Receipt.String (1 to 16 hex
// digits, not all zero).
func ParseReceipt(s string) (Receipt, error) {
	if len(s) == 0 || len(s) > 16 {
		return 0, Errorf(CodeInvalid, "receipt %q is not 1 to 16 hex digits", s)
	}
	var r Receipt
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, Errorf(CodeInvalid, "receipt %q is not 1 to 16 hex digits", s)
		}
		r = r<<4 | Receipt(c)
	}
	if r == 0 {
		return 0, Errorf(CodeInvalid, "receipt %q is zero: no delivery has it", s)
	}
	return r, nil
}

// EnqueueRequest appends Values to queue Name in order, in one command.
// MaxDeliveries, when positive, is recorded with each item: an item
// delivered more often than that is moved to the dead-letter queue
// Name + ".dead" instead of being delivered again.
type EnqueueRequest struct {
	Name          string   `msgpack:"n"`
	Values        [][]byte `msgpack:"v"`
	MaxDeliveries int64    `msgpack:"md,omitempty"`
}

// EnqueueResponse gives the sequence number of each value, in order.
type EnqueueResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Seqs   []int64        `msgpack:"s"`
}

// DequeueRequest takes the item at the head of queue Name for the consumer
// holding Lease (a lease of the queue's shard). The item stays in flight
// until acked; if it is not acked within VisibilitySeconds, or the
// consumer's lease ends first, it goes back to the head of the queue. An
// empty queue answers CodeEmpty at once; a consumer that wants to wait
// then calls MethodQueueWait and dequeues again (so the exactly-once
// write never waits, and a retry of it answers the same delivery).
//
// Receipt is stamped by the member that proposes the dequeue (a value the
// client sends is replaced): the delivery's receipt, answered in the
// item. Wait is refused (CodeInvalid): it made the write itself wait.
type DequeueRequest struct {
	Name              string  `msgpack:"n"`
	Lease             int64   `msgpack:"l"`
	VisibilitySeconds int64   `msgpack:"vis"`
	Wait              bool    `msgpack:"w,omitempty"`
	Receipt           Receipt `msgpack:"rc,omitempty"`
}

// DequeueResponse carries the delivered item, with its receipt.
type DequeueResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Item   QueueItem      `msgpack:"i"`
}

// QueueWaitRequest waits, without writing anything, until an item may be
// ready in queue Name: it returns at once if one is ready on the member
// now, else when one is put (woken one waiter per item, in arrival order),
// or when the call's deadline ends (CodeTimeout). The caller then
// dequeues; another consumer may have been faster, and the dequeue
// answers CodeEmpty: wait again.
type QueueWaitRequest struct {
	Name string `msgpack:"n"`
}

// QueueWaitResponse answers a QueueWaitRequest.
type QueueWaitResponse struct {
	Header ResponseHeader `msgpack:"h"`
}

// AckRequest completes delivery Deliveries of item Seq (deleting it);
// with Nack it returns the item to the head of the queue at once. Receipt
// must be the delivery's receipt (CodeNotOwner otherwise, nothing
// changed). An ack of a delivery that has since timed out fails with
// CodeNotFound: when the item is no longer in flight, or (with Deliveries)
// when another delivery of it is; without Deliveries, an item handed on
// to another consumer fails with CodeNotOwner.
type AckRequest struct {
	Name       string  `msgpack:"n"`
	Seq        int64   `msgpack:"s"`
	Deliveries int64   `msgpack:"d,omitempty"` // 0: whichever delivery is in flight
	Nack       bool    `msgpack:"nack,omitempty"`
	Receipt    Receipt `msgpack:"rc,omitempty"`
}

// AckResponse answers an AckRequest.
type AckResponse struct {
	Header ResponseHeader `msgpack:"h"`
}

// QueueInfoRequest asks for a queue's length and, with Peek, its head.
type QueueInfoRequest struct {
	Name string `msgpack:"n"`
	Peek bool   `msgpack:"p,omitempty"`
}

// QueueInfoResponse answers a QueueInfoRequest: Ready items wait for a
// consumer, InFlight ones were delivered and not acked yet. Head is the
// next item a Dequeue would get (with Peek, when any).
type QueueInfoResponse struct {
	Header   ResponseHeader `msgpack:"h"`
	Ready    int64          `msgpack:"r"`
	InFlight int64          `msgpack:"f"`
	Head     *QueueItem     `msgpack:"head,omitempty"`
}

// BarrierRequest operates on barrier Name. Op is one of the Barrier*
// constants. For BarrierEnter, Count is the number of participants to
// wait for and Lease the participant's session lease (of the barrier's
// shard); Key is the participant's key for BarrierLeave.
//
// Enter and Leave that must wait are a write then a wait, as a Lock (see
// LockRequest): an intermediate response (More) right after the write is
// applied ends the write (for Enter it carries the participant's Key), and
// a cut-off wait is resumed, as a read without a sequence number, with
// Resume set: Enter with Key and Lease (it fails with CodeLeaseNotFound
// or CodeCanceled if the participant is gone), Leave with nothing else.
type BarrierRequest struct {
	Name   string `msgpack:"n"`
	Op     uint8  `msgpack:"op"`
	Count  int64  `msgpack:"c,omitempty"`
	Lease  int64  `msgpack:"l,omitempty"`
	Key    []byte `msgpack:"k,omitempty"`
	Resume bool   `msgpack:"r,omitempty"`
}

// Barrier operations. Hold, Release and Wait act on a gate barrier: Wait
// blocks while the gate is held. Enter and Leave act on a double barrier:
// Enter blocks until Count participants are in, Leave until all have left.
const (
	BarrierHold uint8 = iota + 1
	BarrierRelease
	BarrierWait
	BarrierEnter
	BarrierLeave
)

// BarrierResponse answers a BarrierRequest. Key is the participant's key
// after Enter; Held reports the gate's state; Participants how many are
// in the double barrier, and Ready whether its ready record exists (all
// Count participants entered and not all have left yet).
type BarrierResponse struct {
	Header       ResponseHeader `msgpack:"h"`
	Key          []byte         `msgpack:"k,omitempty"`
	Held         bool           `msgpack:"held,omitempty"`
	Participants int64          `msgpack:"p,omitempty"`
	Ready        bool           `msgpack:"rdy,omitempty"`
}
