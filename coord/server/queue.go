package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/coord-io/coord/barrier"
	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine"
)

// maxEnqueueBatch bounds the values of one enqueue.
const maxEnqueueBatch = 10000

// defaultVisibility is used when a dequeue names none.
const defaultVisibility = 30

func (s *Core) enqueue(ctx context.Context, cl *Caller, req *wire.EnqueueRequest) (*wire.EnqueueResponse, *wire.Error) {
	if err := queue.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	if len(req.Values) == 0 {
		return nil, wire.Errorf(wire.CodeInvalid, "nothing to enqueue")
	}
	if len(req.Values) > maxEnqueueBatch {
		return nil, wire.Errorf(wire.CodeTooLarge, "%d values in one enqueue, over the limit of %d", len(req.Values), maxEnqueueBatch)
	}
	for _, v := range req.Values {
		if len(v) > s.cfg.MaxValueSize {
			return nil, wire.Errorf(wire.CodeTooLarge, "value of %d bytes is over the limit of %d bytes", len(v), s.cfg.MaxValueSize)
		}
	}
	shard := s.shardOf(queue.Prefix(req.Name))
	cmd := s.command(cl)
	cmd.Set(queuerules.OpEnqueue, req)
	var resp wire.EnqueueResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

// proposeDecode proposes cmd in shard and decodes its result into resp.
func (s *Core) proposeDecode(ctx context.Context, shard uint32, cmd *statemachine.Command, resp any, h *wire.ResponseHeader) *wire.Error {
	r, werr := s.propose(ctx, shard, cmd)
	if werr != nil {
		return werr
	}
	return s.decodeResult(shard, r, resp, h)
}

// dequeue takes the head item, without waiting: an empty queue answers
// CodeEmpty (a consumer that wants to wait calls queueWait, then dequeues
// again). The command carries the caller's exactly-once tag, so a retry
// of a dequeue whose answer was lost answers the same delivery (the same
// item and receipt) instead of taking another item; and the member draws
// the delivery's receipt here, as it stamps anything the rules cannot
// draw themselves.
func (s *Core) dequeue(ctx context.Context, cl *Caller, req *wire.DequeueRequest) (*wire.DequeueResponse, *wire.Error) {
	if err := queue.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	if req.Wait {
		return nil, wire.Errorf(wire.CodeInvalid,
			"queue %q: a dequeue no longer waits (the client waits with %s, then dequeues): use a client of this version", req.Name, wire.MethodQueueWait)
	}
	if req.VisibilitySeconds <= 0 {
		req.VisibilitySeconds = defaultVisibility
	}
	if maxTTL := int64(s.cfg.MaxLeaseTTL / time.Second); req.VisibilitySeconds > maxTTL {
		// The delivery holds a lease of the visibility timeout.
		return nil, wire.Errorf(wire.CodeInvalid, "visibility timeout %d s is over the maximum of %d s (coord serve --max-lease-ttl)", req.VisibilitySeconds, maxTTL)
	}
	req.VisibilitySeconds = max(req.VisibilitySeconds, s.minLeaseTTL())
	prefix := queue.Prefix(req.Name)
	shard, werr := s.ownerShard(prefix, req.Lease)
	if werr != nil {
		return nil, werr
	}
	req.Receipt = newReceipt()
	cmd := s.internalCommand(cl)
	cmd.Set(queuerules.OpDequeue, req)
	var resp wire.DequeueResponse
	r, replayed, werr := s.proposeReplay(ctx, shard, cmd)
	if werr != nil {
		return nil, werr
	}
	if werr := s.decodeResult(shard, r, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	if replayed {
		// A first apply's delivery is current when answered; a retry's
		// may have ended while its answer was lost.
		if werr := s.deliveryCurrent(shard, req.Name, &resp.Item); werr != nil {
			return nil, werr
		}
	}
	return &resp, nil
}

// deliveryCurrent checks, on the member's replica (which has applied the
// dequeue), that the delivery a dequeue answers is still in flight. A
// retried dequeue answers its first attempt's delivery; when the answer
// was lost for longer than the visibility timeout (or the consumer's
// lease ended meanwhile), that delivery is over and the item may be in
// other hands: the client must not work on it. It gets CodeNotFound
// instead and dequeues again (with a new sequence number).
func (s *Core) deliveryCurrent(shard uint32, name string, it *wire.QueueItem) *wire.Error {
	r, err := s.shards[shard].Range(&wire.RangeRequest{Key: queue.InFlightKey(name, it.Seq)})
	if err != nil {
		if werr, ok := err.(*wire.Error); ok {
			return werr
		}
		return wire.Errorf(wire.CodeUnavailable, "reading item %d of queue %q: %v", it.Seq, name, err)
	}
	if len(r.Kvs) == 1 {
		rec, err := queue.DecodeRecord(r.Kvs[0].Value)
		if err == nil && rec.Deliveries == it.Deliveries && rec.ReceiptHash == queue.ReceiptHash(it.Receipt) {
			return nil
		}
	}
	return wire.Errorf(wire.CodeNotFound,
		"queue %q: delivery %d of item %d, made for this dequeue, ended before its answer arrived (visibility timeout or consumer's lease): dequeue again",
		name, it.Deliveries, it.Seq)
}

// newReceipt draws a delivery's receipt: random, never 0.
func newReceipt() wire.Receipt {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails: Go 1.24's crypto/rand crashes instead
		if r := wire.Receipt(binary.BigEndian.Uint64(b[:])); r != 0 {
			return r
		}
	}
}

// queueWait returns once an item may be ready in the queue: at once if
// the member's replica shows one, else when the dequeuers hand it a put
// under the queue's ready prefix. It writes nothing and holds no
// exactly-once sequence number, so it may wait as long as the caller
// likes, be cut off and be called again, without losing anything.
func (s *Core) queueWait(ctx context.Context, _ *Caller, req *wire.QueueWaitRequest) (*wire.QueueWaitResponse, *wire.Error) {
	if err := queue.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(queue.Prefix(req.Name))
	if werr := s.dequeuers.wait(ctx, shard, req.Name); werr != nil {
		return nil, werr
	}
	resp := &wire.QueueWaitResponse{}
	s.fillHeader(&resp.Header, shard)
	return resp, nil
}

// waitEvent blocks until an event of [key, end) from revision from
// satisfies match.
func (s *Core) waitEvent(ctx context.Context, shard uint32, key, end []byte, from int64, match func(wire.Event) bool) *wire.Error {
	if err := s.await(ctx, shard, key, end, from, func(e wire.Event) (bool, error) { return match(e), nil }); err != nil {
		return s.awaitError(err)
	}
	return nil
}

func (s *Core) ack(ctx context.Context, cl *Caller, req *wire.AckRequest) (*wire.AckResponse, *wire.Error) {
	if err := queue.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(queue.Prefix(req.Name))
	cmd := s.command(cl)
	cmd.Set(queuerules.OpAck, req)
	var resp wire.AckResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Core) queueInfo(ctx context.Context, _ *Caller, req *wire.QueueInfoRequest) (*wire.QueueInfoResponse, *wire.Error) {
	if err := queue.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(queue.Prefix(req.Name))
	v, werr := s.lookup(ctx, shard, primitiveQuery{queuerules.OpInfo, &wire.QueueInfoRequest{Name: req.Name, Peek: req.Peek}})
	if werr != nil {
		return nil, werr
	}
	resp := v.(*wire.QueueInfoResponse)
	s.fillHeader(&resp.Header, shard)
	return resp, nil
}

func (s *Core) barrierState(ctx context.Context, shard uint32, name string) (*wire.BarrierResponse, *wire.Error) {
	v, werr := s.lookup(ctx, shard, primitiveQuery{barrierrules.OpState, &wire.BarrierRequest{Name: name}})
	if werr != nil {
		return nil, werr
	}
	return v.(*wire.BarrierResponse), nil
}

func (s *Core) barrier(ctx context.Context, cl *Caller, req *wire.BarrierRequest, stream Stream[wire.BarrierResponse]) (*wire.BarrierResponse, *wire.Error) {
	if err := barrier.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(barrier.Prefix(req.Name))
	write := func(r *wire.BarrierRequest) (*wire.BarrierResponse, *wire.Error) {
		cmd := s.internalCommand(cl)
		cmd.Set(barrierrules.OpBarrier, r)
		var resp wire.BarrierResponse
		wctx := ctx
		if r.Op == wire.BarrierEnter {
			var cancel context.CancelFunc
			wctx, cancel = queueContext(ctx)
			defer cancel()
		}
		if werr := s.proposeDecode(wctx, shard, cmd, &resp, &resp.Header); werr != nil {
			return nil, werr
		}
		return &resp, nil
	}
	isKey := func(key []byte, t wire.EventType) func(wire.Event) bool {
		return func(e wire.Event) bool { return e.Type == t && bytes.Equal(e.Kv.Key, key) }
	}
	switch req.Op {
	case wire.BarrierHold, wire.BarrierRelease:
		return write(req)
	case wire.BarrierWait:
		st, werr := s.barrierState(ctx, shard, req.Name)
		if werr != nil || !st.Held {
			return st, werr
		}
		gate := barrier.GateKey(req.Name)
		if werr := s.waitEvent(ctx, shard, gate, nil, st.Header.Revision+1, isKey(gate, wire.EventDelete)); werr != nil {
			return nil, werr
		}
		return &wire.BarrierResponse{Header: wire.ResponseHeader{Shard: shard, Member: s.cfg.Name}}, nil
	case wire.BarrierEnter:
		if req.Count < 1 && !req.Resume {
			return nil, wire.Errorf(wire.CodeInvalid, "a double barrier needs a count of at least 1")
		}
		if _, werr := s.ownerShard(barrier.Prefix(req.Name), req.Lease); werr != nil {
			return nil, werr
		}
		resp := &wire.BarrierResponse{Key: req.Key}
		if req.Resume {
			if !barrier.IsParticipantKey(req.Name, req.Key) {
				return nil, wire.Errorf(wire.CodeInvalid, "resume: %q is not a participant key of barrier %q", req.Key, req.Name)
			}
			resp.Header = wire.ResponseHeader{Shard: shard}
		} else {
			var werr *wire.Error
			if resp, werr = write(req); werr != nil || resp.Ready {
				return resp, werr
			}
			// The write is done: the client finishes its sequence number.
			if stream.Send(resp) != nil {
				return nil, wire.Errorf(wire.CodeCanceled, "the connection closed")
			}
		}
		if werr := s.awaitReady(ctx, shard, req.Name, resp.Key, req.Lease, !req.Resume); werr != nil {
			return nil, werr
		}
		resp.Ready = true
		s.fillHeader(&resp.Header, shard)
		return resp, nil
	case wire.BarrierLeave:
		resp := &wire.BarrierResponse{}
		if !req.Resume {
			var werr *wire.Error
			if resp, werr = write(req); werr != nil || !resp.Ready {
				return resp, werr
			}
			if stream.Send(resp) != nil {
				return nil, wire.Errorf(wire.CodeCanceled, "the connection closed")
			}
		}
		readyKey := barrier.ReadyKey(req.Name)
		if werr := s.waitState(ctx, shard, req.Name, readyKey, wire.EventDelete, func(st *wire.BarrierResponse) bool { return !st.Ready }); werr != nil {
			if ctx.Err() != nil || s.stopping.Load() {
				werr = s.waitEnded(ctx, werr, func() {}) // nothing to withdraw: it has left
			}
			return nil, werr
		}
		resp.Ready = false
		s.fillHeader(&resp.Header, shard)
		return resp, nil
	default:
		return nil, wire.Errorf(wire.CodeInvalid, "unknown barrier operation %d", req.Op)
	}
}

// awaitReady waits until double barrier name is ready while participant
// key is in: it reads both linearizably, then waits for the ready record
// to be put or the key to be deleted after that read, and reads again. A
// participant that gave up is withdrawn (see waitEnded).
//
// wrote says the call's own write queued key on this member just before,
// so the first read may be local (see readKeys); so may the read after an
// awaited event.
func (s *Core) awaitReady(ctx context.Context, shard uint32, name string, key []byte, lease int64, wrote bool) *wire.Error {
	withdraw := func() {
		s.withdraw(shard, lease, key, func(lctx context.Context) *wire.Error {
			_, werr := s.propose(lctx, shard, statemachine.NewCommand(barrierrules.OpBarrier, &wire.BarrierRequest{Name: name, Op: wire.BarrierLeave, Key: key}))
			return werr
		})
	}
	prefix := barrier.Prefix(name)
	readyKey := barrier.ReadyKey(name)
	local := wrote
	for {
		kvs, rev, werr := s.readKeys(ctx, shard, local, key, readyKey)
		local = true // unless the wait below ends with compacted history
		if werr != nil {
			return s.waitEnded(ctx, werr, withdraw)
		}
		if kvs[0] == nil {
			return s.ownerGone(shard, lease, fmt.Sprintf("barrier %q", name), key)
		}
		if kvs[1] != nil {
			return nil
		}
		werr = s.waitEvent(ctx, shard, prefix, wire.PrefixEnd(prefix), rev+1, func(e wire.Event) bool {
			return e.Type == wire.EventPut && bytes.Equal(e.Kv.Key, readyKey) || e.Type == wire.EventDelete && bytes.Equal(e.Kv.Key, key)
		})
		if werr != nil {
			if ctx.Err() != nil || s.stopping.Load() {
				return s.waitEnded(ctx, werr, withdraw)
			}
			if werr.Code != wire.CodeCompacted {
				return werr
			}
			local = false
		}
	}
}

// waitState waits until done holds for the barrier's state: it reads the
// state, and if done does not hold yet, waits for an event of type t on
// key after what it read, then checks again.
func (s *Core) waitState(ctx context.Context, shard uint32, name string, key []byte, t wire.EventType, done func(*wire.BarrierResponse) bool) *wire.Error {
	for {
		st, werr := s.barrierState(ctx, shard, name)
		if werr != nil {
			return werr
		}
		if done(st) {
			return nil
		}
		if werr := s.waitEvent(ctx, shard, key, nil, st.Header.Revision+1, func(e wire.Event) bool { return e.Type == t }); werr != nil {
			return werr
		}
	}
}
