package server

import (
	"bytes"
	"context"
	"errors"
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
// .DecodeOwner), so the wait watches that one key.

func (s *Server) semAcquire(ctx context.Context, cl *Caller, req *wire.SemaphoreAcquireRequest, stream Stream[wire.SemaphoreAcquireResponse]) (*wire.SemaphoreAcquireResponse, *wire.Error) {
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
	if req.Resume != nil {
		if n, ok := semaphorerules.OwnerName(req.Resume); !ok || n != req.Name {
			return nil, wire.Errorf(wire.CodeInvalid, "resume: %q is not an owner key of semaphore %q", req.Resume, req.Name)
		}
		resp.Key = req.Resume
		resp.Header.Shard = shard
	} else {
		cmd := s.command(cl)
		cmd.Set(semaphorerules.OpAcquire, req)
		qctx, cancel := queueContext(ctx)
		werr := s.proposeDecode(qctx, shard, cmd, &resp, &resp.Header)
		cancel()
		if werr != nil {
			return nil, werr
		}
	}
	w := &ownerWait{
		shard: shard, what: fmt.Sprintf("semaphore %q", req.Name), key: resp.Key, lease: req.Lease, wrote: req.Resume == nil,
		leave: func(lctx context.Context) *wire.Error {
			_, werr := s.semRelease(lctx, nil, &wire.SemaphoreReleaseRequest{Name: req.Name, Key: resp.Key, Lease: req.Lease})
			return werr
		},
	}
	if req.Resume == nil {
		if werr := s.queued(ctx, func() error { return stream.Send(&resp) }, resp.Token != 0, w); werr != nil || resp.Token != 0 {
			return &resp, werr
		}
	}
	token, werr := s.awaitPermits(ctx, w)
	if werr != nil {
		return nil, werr
	}
	resp.Token = token
	resp.Header.Revision = token
	s.fillHeader(&resp.Header, shard)
	return &resp, nil
}

// awaitPermits waits until owner w.key of a semaphore is granted and
// returns its token. It follows awaitOwner: a linearizable read of the
// owner key first (local right after the call's own write), then the
// key's events from after that read; a deleted key means the owner left;
// a caller that gives up gets its owner withdrawn (waitEnded).
func (s *Server) awaitPermits(ctx context.Context, w *ownerWait) (int64, *wire.Error) {
	withdraw := func() { s.withdraw(w.shard, w.lease, w.key, w.leave) }
	local := w.wrote
	for {
		kvs, rev, werr := s.readKeys(ctx, w.shard, local, w.key)
		local = false
		if werr != nil {
			return 0, s.waitEnded(ctx, werr, withdraw)
		}
		if kvs[0] == nil {
			return 0, s.ownerGone(w.shard, w.lease, w.what, w.key)
		}
		o, err := semaphorerules.DecodeOwner(kvs[0].Value)
		if err != nil {
			return 0, wire.Errorf(wire.CodeUnknown, "%s: %v", w.what, err)
		}
		if o.Token != 0 {
			return o.Token, nil
		}
		wctx, cancel := s.untilStopping(ctx)
		token, err := s.waitGranted(wctx, w.key, rev+1)
		cancel()
		switch {
		case err == nil:
			return token, nil
		case errors.Is(err, locks.ErrOwnerRemoved):
			return 0, s.ownerGone(w.shard, w.lease, w.what, w.key)
		case ctx.Err() != nil || s.stopping.Load():
			return 0, s.waitEnded(ctx, nil, withdraw)
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code != wire.CodeCompacted {
			return 0, we
		}
		if !errors.As(err, &we) {
			return 0, wire.Errorf(wire.CodeUnknown, "%s: %v", w.what, err)
		}
		// The history after the read was compacted: read again.
	}
}

// waitGranted watches owner key from revision from until a put of it
// carries a token (the grant: its token is returned) or it is deleted
// (locks.ErrOwnerRemoved).
func (s *Server) waitGranted(ctx context.Context, key []byte, from int64) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.Events(wctx, key, nil, from)
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case b, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				return 0, errors.New("semaphore: event stream ended")
			}
			if b.Err != nil {
				return 0, b.Err
			}
			for _, e := range b.Events {
				if !bytes.Equal(e.Kv.Key, key) {
					continue
				}
				if e.Type == wire.EventDelete {
					return 0, locks.ErrOwnerRemoved
				}
				o, err := semaphorerules.DecodeOwner(e.Kv.Value)
				if err != nil {
					return 0, err
				}
				if o.Token != 0 {
					return o.Token, nil
				}
			}
		}
	}
}

func (s *Server) semRelease(ctx context.Context, cl *Caller, req *wire.SemaphoreReleaseRequest) (*wire.SemaphoreReleaseResponse, *wire.Error) {
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

func (s *Server) semStatus(ctx context.Context, _ *Caller, req *wire.SemaphoreStatusRequest) (*wire.SemaphoreStatusResponse, *wire.Error) {
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
