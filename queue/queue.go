package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Item is a delivered item: its sequence number, value, delivery count
// and (from a Dequeue) the delivery's receipt, which Ack and Nack present.
type Item = wire.QueueItem

// Receipt proves a delivery: only the consumer that dequeued it learns it,
// and an Ack or Nack without it fails with coord.ErrNotOwner. Its String
// form (16 hex digits) is what ParseReceipt reads, for a consumer that
// acks in another process (coord queue ack NAME SEQ --receipt R).
type Receipt = wire.Receipt

// ParseReceipt reads a receipt in its String form.
func ParseReceipt(s string) (Receipt, error) { return wire.ParseReceipt(s) }

// DefaultVisibility is how long a delivered item may stay unacked before
// it goes back to the head of the queue.
const DefaultVisibility = 30 * time.Second

// Queue is a handle on a named FIFO queue. Producers Enqueue; consumers
// Dequeue, which hands the head item to this consumer only and keeps it in
// flight until Ack. An item not acked within the visibility timeout, or
// whose consumer's session ends first, goes back to the head of the queue:
// delivery is at-least-once and FIFO among deliveries. The rules run in
// the replicated state machine; a blocked Dequeue waits on the server and
// wakes when an item arrives, without polling.
//
// Only the consumer releases: Ack and Nack present the delivery's receipt
// (Item.Receipt), so no other client can complete or return an item in
// flight, whatever it knows of its sequence number.
type Queue struct {
	c             *coord.Client
	name          string
	visibility    time.Duration
	maxDeliveries int64
	ttl           int64

	mu      sync.Mutex
	session *coord.Session
	own     bool
}

// Option configures a Queue.
type Option func(*Queue)

// WithVisibility sets the visibility timeout of items this handle dequeues
// (rounded up to whole seconds, at least 1 s).
func WithVisibility(d time.Duration) Option { return func(q *Queue) { q.visibility = d } }

// WithMaxDeliveries makes items this handle enqueues move to the
// dead-letter queue NAME.dead once delivered more than n times.
func WithMaxDeliveries(n int64) Option { return func(q *Queue) { q.maxDeliveries = n } }

// WithSession makes the handle's consumer leases come from s (by default
// the handle opens a session of its own on first Dequeue).
func WithSession(s *coord.Session) Option { return func(q *Queue) { q.session = s } }

// WithSessionTTL sets the TTL, in seconds, of the handle's own session.
func WithSessionTTL(seconds int64) Option { return func(q *Queue) { q.ttl = seconds } }

// New returns a handle on queue name.
func New(c *coord.Client, name string, opts ...Option) *Queue {
	q := &Queue{c: c, name: name, visibility: DefaultVisibility, ttl: 10}
	for _, f := range opts {
		f(q)
	}
	return q
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Enqueue appends values in order, in one command, and returns their
// sequence numbers.
func (q *Queue) Enqueue(ctx context.Context, values ...string) ([]int64, error) {
	req := &wire.EnqueueRequest{Name: q.name, MaxDeliveries: q.maxDeliveries}
	for _, v := range values {
		req.Values = append(req.Values, []byte(v))
	}
	var resp wire.EnqueueResponse
	if err := q.c.Call(ctx, wire.MethodEnqueue, req, &resp); err != nil {
		return nil, err
	}
	return resp.Seqs, nil
}

func (q *Queue) consumerSession() (*coord.Session, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.session != nil {
		select {
		case <-q.session.Done():
			if !q.own {
				return nil, q.session.Err()
			}
		default:
			return q.session, nil
		}
	}
	s, err := coord.NewSession(q.c, coord.WithTTL(q.ttl))
	if err != nil {
		return nil, err
	}
	q.session, q.own = s, true
	return s, nil
}

// dequeue takes the head item with one exactly-once write that never
// waits: a retry of it (after a lost answer) answers the same delivery, or
// coord.ErrNotFound when that delivery has ended meanwhile (its
// visibility timeout ran out while the answer was lost): then it dequeues
// again, with a new sequence number.
func (q *Queue) dequeue(ctx context.Context) (*Item, error) {
	for tries := 1; ; tries++ {
		it, err := q.dequeueOnce(ctx)
		if !errors.Is(err, coord.ErrNotFound) || tries == maxStaleRetries {
			return it, err
		}
	}
}

// maxStaleRetries bounds the dequeues made in a row when each answers a
// delivery that has ended already (never more than one in practice: it
// takes an answer lost for longer than the visibility timeout).
const maxStaleRetries = 3

func (q *Queue) dequeueOnce(ctx context.Context) (*Item, error) {
	s, err := q.consumerSession()
	if err != nil {
		return nil, err
	}
	lease, err := s.Lease(ctx, string(Prefix(q.name)))
	if err != nil {
		return nil, err
	}
	vis := int64((q.visibility + time.Second - 1) / time.Second)
	if vis < 1 {
		vis = 1
	}
	var resp wire.DequeueResponse
	err = q.c.Call(ctx, wire.MethodDequeue, &wire.DequeueRequest{Name: q.name, Lease: lease, VisibilitySeconds: vis}, &resp)
	if err != nil {
		return nil, err
	}
	it := resp.Item
	return &it, nil
}

// Dequeue blocks until an item is available and returns it, in flight for
// this consumer until Ack, Nack or the visibility timeout.
//
// It dequeues (one exactly-once write that never waits: one round trip
// when an item is ready); only when the queue is empty does it wait on the
// server for an item with a call that writes nothing, then dequeue again.
// So a long wait holds back none of the client's other writes, and a wait
// cut off by a lost connection or the server's call cap just starts again.
func (q *Queue) Dequeue(ctx context.Context) (*Item, error) {
	for {
		it, err := q.dequeue(ctx)
		if !errors.Is(err, coord.ErrEmpty) {
			return it, err
		}
		err = q.c.Call(ctx, wire.MethodQueueWait, &wire.QueueWaitRequest{Name: q.name}, &wire.QueueWaitResponse{})
		cutOff := errors.Is(err, coord.ErrCanceled) || errors.Is(err, coord.ErrTimeout)
		if err != nil && (!cutOff || ctx.Err() != nil) {
			return nil, err
		}
		// An item may be ready (or the server cut the wait off, which
		// held nothing): dequeue again.
	}
}

// TryDequeue returns the head item at once, or an error wrapping
// coord.ErrEmpty.
func (q *Queue) TryDequeue(ctx context.Context) (*Item, error) { return q.dequeue(ctx) }

// Ack completes an item: it is removed from the queue. It fails with
// coord.ErrNotFound when this delivery timed out (the item went back to
// the queue, or was handed on), and with coord.ErrNotOwner, changing
// nothing, when it does not carry the receipt of the delivery in flight.
func (q *Queue) Ack(ctx context.Context, it *Item) error {
	return q.ack(ctx, &wire.AckRequest{Name: q.name, Seq: it.Seq, Deliveries: it.Deliveries, Receipt: it.Receipt})
}

// AckSeq completes item seq with the receipt of its delivery (from an
// Item.Receipt, perhaps passed on in its String form): for a consumer that
// acks outside the process that dequeued. It fails as Ack does, except
// that a delivery that timed out and was handed on to another consumer
// fails with coord.ErrNotOwner (the delivery count, which tells the two
// apart, is not given).
func (q *Queue) AckSeq(ctx context.Context, seq int64, receipt Receipt) error {
	return q.ack(ctx, &wire.AckRequest{Name: q.name, Seq: seq, Receipt: receipt})
}

// Nack returns an item to the head of the queue at once. It fails as Ack
// does.
func (q *Queue) Nack(ctx context.Context, it *Item) error {
	return q.ack(ctx, &wire.AckRequest{Name: q.name, Seq: it.Seq, Deliveries: it.Deliveries, Receipt: it.Receipt, Nack: true})
}

func (q *Queue) ack(ctx context.Context, req *wire.AckRequest) error {
	return q.c.Call(ctx, wire.MethodAck, req, &wire.AckResponse{})
}

// Len returns the number of items ready and in flight.
func (q *Queue) Len(ctx context.Context) (ready, inFlight int64, err error) {
	var resp wire.QueueInfoResponse
	if err := q.c.Call(ctx, wire.MethodQueueInfo, &wire.QueueInfoRequest{Name: q.name}, &resp); err != nil {
		return 0, 0, err
	}
	return resp.Ready, resp.InFlight, nil
}

// Peek returns the next item a Dequeue would get, without taking it; nil
// when no item is ready.
func (q *Queue) Peek(ctx context.Context) (*Item, error) {
	var resp wire.QueueInfoResponse
	if err := q.c.Call(ctx, wire.MethodQueueInfo, &wire.QueueInfoRequest{Name: q.name, Peek: true}, &resp); err != nil {
		return nil, err
	}
	return resp.Head, nil
}

// Close ends the handle's own session: items still in flight for it go
// back to the queue.
func (q *Queue) Close() error {
	q.mu.Lock()
	s, own := q.session, q.own
	q.session = nil
	q.mu.Unlock()
	if s != nil && own {
		return s.Close()
	}
	return nil
}
