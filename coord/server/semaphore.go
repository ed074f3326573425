package server

import (
	"context"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/locks/semaphorerules"
)

// Counting semaphores (locks/semaphorerules holds their rules). An
// acquire is a waiting call like a Lock (see the comment above ownerWait):
// a write that queues the owner, the intermediate response with its owner
// key when it was not granted at once, then a wait. The wait differs in
// what it watches: a semaphore has no holder record, the grant is a put of
// the owner's own key whose value carries a token (semaphorerules
// .DecodeOwner), so the wait (awaitOwner) watches that one key.

func (s *Core) semAcquire(ctx context.Context, cl *Caller, req *wire.SemaphoreAcquireRequest, stream Stream[wire.SemaphoreAcquireResponse]) (*wire.SemaphoreAcquireResponse, *wire.Error) {
	if _, werr := semaphorerules.CheckAcquire(req); werr != nil {
		return nil, werr
	}
	if len(req.Owner) > s.cfg.MaxValueSize {
		return nil, wire.Errorf(wire.CodeTooLarge, "owner data of %d bytes is over the limit of %d bytes", len(req.Owner), s.cfg.MaxValueSize)
	}
	shard, werr := s.ownerShard(semaphorerules.Prefix(req.Name), req.Lease)
	if werr != nil {
		return nil, werr
	}
	var resp wire.SemaphoreAcquireResponse
	return acquireOwner(s, ctx, cl, &ownerAcquire{
		shard: shard, op: semaphorerules.OpAcquire, req: req, resume: req.Resume,
		checkResume: func(key []byte) *wire.Error {
			if n, ok := semaphorerules.OwnerName(key); !ok || n != req.Name {
				return wire.Errorf(wire.CodeInvalid, "resume: %q is not an owner key of semaphore %q", key, req.Name)
			}
			return nil
		},
		key: &resp.Key, header: &resp.Header, granted: func() bool { return resp.Token != 0 },
		grant: func(h locks.Holder) { resp.Token = h.Token },
		wait: func(key []byte) *ownerWait {
			return &ownerWait{
				// The owner key is its own holder record: granted once its
				// value carries a token.
				what: fmt.Sprintf("semaphore %q", req.Name), holderKey: key, lease: req.Lease,
				decode: func(v []byte) (locks.Holder, error) {
					o, err := semaphorerules.DecodeOwner(v)
					if err != nil || o.Token == 0 {
						return locks.Holder{}, err
					}
					return locks.Holder{Key: key, Token: o.Token}, nil
				},
				leave: func(lctx context.Context) *wire.Error {
					_, werr := s.semRelease(lctx, nil, &wire.SemaphoreReleaseRequest{Name: req.Name, Key: key, Lease: req.Lease})
					return werr
				},
			}
		},
	}, &resp, stream)
}

func (s *Core) semRelease(ctx context.Context, cl *Caller, req *wire.SemaphoreReleaseRequest) (*wire.SemaphoreReleaseResponse, *wire.Error) {
	if err := semaphorerules.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(semaphorerules.Prefix(req.Name))
	cmd := s.internalCommand(cl)
	cmd.Set(semaphorerules.OpRelease, req)
	var resp wire.SemaphoreReleaseResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Core) semStatus(ctx context.Context, _ *Caller, req *wire.SemaphoreStatusRequest) (*wire.SemaphoreStatusResponse, *wire.Error) {
	if err := semaphorerules.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(semaphorerules.Prefix(req.Name))
	v, werr := s.lookup(ctx, shard, primitiveQuery{name: semaphorerules.OpStatus, req: req})
	if werr != nil {
		return nil, werr
	}
	resp, ok := v.(*wire.SemaphoreStatusResponse)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknown, "semaphore status: the state machine answered a %T", v)
	}
	for _, owners := range [][]wire.SemaphoreOwner{resp.Holders, resp.Waiters} {
		for i := range owners {
			if left, ok := s.lessor.remaining(shard, owners[i].Lease); ok {
				owners[i].LeaseTTL = int64((left + time.Second - 1) / time.Second)
			}
		}
	}
	s.fillHeader(&resp.Header, shard)
	return resp, nil
}
