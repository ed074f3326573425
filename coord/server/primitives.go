package server

import (
	"context"
	"errors"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/statemachine"
)

// Local queries for the primitives, served by the adapter's Lookup after a
// ReadIndex.
type (
	lockStatusQuery struct{ name string }
	leaderQuery     struct{ name string }
)

// Events implements locks.Events over the member's watch hub and store.
func (s *Server) Events(ctx context.Context, key, end []byte, from int64) <-chan locks.EventBatch {
	out := make(chan locks.EventBatch, 16)
	shard, _ := wire.RangeShard(key, end, len(s.shards))
	w := s.hub.subscribe(shard, key, end)
	go func() {
		defer close(out)
		defer s.hub.unsubscribe(shard, w)
		req := &wire.WatchRequest{Key: key, RangeEnd: end}
		s.feedShard(ctx, shard, w, req, from, func(evs []wire.Event, werr *wire.Error) bool {
			b := locks.EventBatch{Events: evs}
			if werr != nil {
				b.Err = werr
			}
			select {
			case out <- b:
				return werr == nil
			case <-ctx.Done():
				return false
			case <-s.stopc:
				return false
			}
		})
	}()
	return out
}

// internalCommand is the envelope of a command the server issues on its
// own (cl nil), which is idempotent and needs no de-duplication, or on
// behalf of a client call.
func (s *Server) internalCommand(cl *call) *statemachine.Command {
	if cl == nil {
		return &statemachine.Command{}
	}
	return s.command(cl)
}

// streamEnded ends a stream that has no final message of its own.
func (s *Server) streamEnded() (any, *wire.Error) {
	if s.stopping.Load() {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	return nil, nil
}

func invalid(err error) *wire.Error { return wire.Errorf(wire.CodeInvalid, "%v", err) }

// ownerShard checks a primitive's name and lease and returns its shard.
func (s *Server) ownerShard(prefix []byte, lease int64) (uint32, *wire.Error) {
	shard := s.shardOf(prefix)
	ls, ok := wire.LeaseShard(lease)
	if !ok || int(ls) >= len(s.shards) {
		return 0, wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", lease)
	}
	if ls != shard {
		return 0, wire.Errorf(wire.CodeWrongShard, "lease %016x is in shard %d but the name lives in shard %d: use a session lease granted for this name", lease, ls, shard)
	}
	return shard, nil
}

// waitOwner is the server-side wait of Lock and Campaign. When the wait
// ends without a grant (the caller went away, timed out, or the member is
// stopping) the owner leaves the queue, unless the member is stopping: the
// client then retries elsewhere with the same sequence number and keeps
// its place.
func (s *Server) waitOwner(ctx context.Context, shard uint32, prefix, holderKey, ownerKey []byte, lease int64, from int64,
	decode func([]byte) (locks.Holder, error), leave func(context.Context) *wire.Error) (locks.Holder, *wire.Error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopc:
			cancel()
		case <-wctx.Done():
		}
	}()
	h, err := locks.WaitHolder(wctx, s, prefix, holderKey, ownerKey, from, decode)
	if err == nil {
		return h, nil
	}
	if s.stopping.Load() {
		return locks.Holder{}, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	if errors.Is(err, locks.ErrOwnerRemoved) {
		if _, found, _ := s.shards[shard].Lease(lease); !found {
			return locks.Holder{}, wire.Errorf(wire.CodeLeaseNotFound, "session lease %016x expired while waiting", lease)
		}
		return locks.Holder{}, wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
	}
	// The caller gave up: leave the queue (and release, if granted meanwhile).
	lctx, lcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer lcancel()
	if werr := leave(lctx); werr != nil {
		s.log.Warn("could not withdraw a cancelled waiter", "key", string(ownerKey), "err", werr)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return locks.Holder{}, wire.Errorf(wire.CodeTimeout, "timed out waiting")
	}
	return locks.Holder{}, wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
}

func (s *Server) lock(ctx context.Context, cl *call, req *wire.LockRequest) (*wire.LockResponse, *wire.Error) {
	if err := locks.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	if len(req.Owner) > s.cfg.MaxValueSize {
		return nil, wire.Errorf(wire.CodeTooLarge, "owner data of %d bytes is over the limit of %d bytes", len(req.Owner), s.cfg.MaxValueSize)
	}
	prefix := locks.Prefix(req.Name)
	shard, werr := s.ownerShard(prefix, req.Lease)
	if werr != nil {
		return nil, werr
	}
	cmd := s.command(cl)
	cmd.Lock = req
	var resp wire.LockResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	if resp.Token != 0 {
		return &resp, nil
	}
	h, werr := s.waitOwner(ctx, shard, prefix, locks.HolderKey(req.Name), resp.Key, req.Lease, resp.Header.Revision+1, locks.DecodeHolder,
		func(lctx context.Context) *wire.Error {
			_, werr := s.unlock(lctx, nil, &wire.UnlockRequest{Name: req.Name, Key: resp.Key})
			return werr
		})
	if werr != nil {
		return nil, werr
	}
	resp.Token = h.Token
	resp.Header.Revision = h.Token
	s.fillHeader(&resp.Header, shard)
	return &resp, nil
}

func (s *Server) unlock(ctx context.Context, cl *call, req *wire.UnlockRequest) (*wire.UnlockResponse, *wire.Error) {
	if err := locks.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(locks.Prefix(req.Name))
	cmd := s.internalCommand(cl)
	cmd.Unlock = req
	var resp wire.UnlockResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Server) lockStatus(ctx context.Context, req *wire.LockStatusRequest) (*wire.LockStatusResponse, *wire.Error) {
	if err := locks.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(locks.Prefix(req.Name))
	v, werr := s.lookup(ctx, shard, lockStatusQuery{req.Name})
	if werr != nil {
		return nil, werr
	}
	resp := v.(*wire.LockStatusResponse)
	if resp.Held && resp.Lease != 0 {
		if left, ok := s.lessor.remaining(shard, resp.Lease); ok {
			resp.LeaseTTL = int64((left + time.Second - 1) / time.Second)
		}
	}
	s.fillHeader(&resp.Header, shard)
	return resp, nil
}

func (s *Server) campaign(ctx context.Context, cl *call, req *wire.CampaignRequest) (*wire.LeaderResponse, *wire.Error) {
	if err := election.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	if len(req.Value) > s.cfg.MaxValueSize {
		return nil, wire.Errorf(wire.CodeTooLarge, "value of %d bytes is over the limit of %d bytes", len(req.Value), s.cfg.MaxValueSize)
	}
	prefix := election.Prefix(req.Name)
	shard, werr := s.ownerShard(prefix, req.Lease)
	if werr != nil {
		return nil, werr
	}
	cmd := s.command(cl)
	cmd.Campaign = req
	var resp wire.LeaderResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	if resp.Term != 0 {
		return &resp, nil
	}
	h, werr := s.waitOwner(ctx, shard, prefix, election.LeaderKey(req.Name), resp.Key, req.Lease, resp.Header.Revision+1, election.DecodeLeader,
		func(lctx context.Context) *wire.Error {
			_, werr := s.resign(lctx, nil, &wire.ResignRequest{Name: req.Name, Key: resp.Key})
			return werr
		})
	if werr != nil {
		return nil, werr
	}
	resp.Term, resp.Value, resp.Lease = h.Token, h.Owner, h.Lease
	resp.Header.Revision = h.Token
	s.fillHeader(&resp.Header, shard)
	return &resp, nil
}

func (s *Server) electionWrite(ctx context.Context, cl *call, name string, set func(*statemachine.Command)) (*wire.LeaderResponse, *wire.Error) {
	if err := election.ValidateName(name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(election.Prefix(name))
	cmd := s.internalCommand(cl)
	set(cmd)
	var resp wire.LeaderResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Server) proclaim(ctx context.Context, cl *call, req *wire.ProclaimRequest) (*wire.LeaderResponse, *wire.Error) {
	if len(req.Value) > s.cfg.MaxValueSize {
		return nil, wire.Errorf(wire.CodeTooLarge, "value of %d bytes is over the limit of %d bytes", len(req.Value), s.cfg.MaxValueSize)
	}
	return s.electionWrite(ctx, cl, req.Name, func(c *statemachine.Command) { c.Proclaim = req })
}

func (s *Server) resign(ctx context.Context, cl *call, req *wire.ResignRequest) (*wire.LeaderResponse, *wire.Error) {
	return s.electionWrite(ctx, cl, req.Name, func(c *statemachine.Command) { c.Resign = req })
}

// leaderOf reads election name's leader (CodeNotFound when none).
func (s *Server) leaderOf(ctx context.Context, name string) (uint32, *wire.LeaderResponse, *wire.Error) {
	if err := election.ValidateName(name); err != nil {
		return 0, nil, invalid(err)
	}
	shard := s.shardOf(election.Prefix(name))
	v, werr := s.lookup(ctx, shard, leaderQuery{name})
	if werr != nil {
		return shard, nil, werr
	}
	resp := v.(*wire.LeaderResponse)
	s.fillHeader(&resp.Header, shard)
	return shard, resp, nil
}

func (s *Server) leaderCall(ctx context.Context, cl *call, req *wire.LeaderRequest) (any, *wire.Error) {
	if !req.Observe {
		_, resp, werr := s.leaderOf(ctx, req.Name)
		if werr != nil {
			return nil, werr
		}
		return resp, nil
	}
	// Observe: the current leader (or an empty response), then every
	// change of the leader record.
	shard, cur, werr := s.leaderOf(ctx, req.Name)
	if werr != nil && werr.Code != wire.CodeNotFound {
		return nil, werr
	}
	from := int64(0)
	if cur == nil {
		cur = &wire.LeaderResponse{}
		from, _ = s.shards[shard].Revision()
		cur.Header.Revision = from
	} else {
		from = cur.Header.Revision
	}
	if !cl.stream(cur) {
		return s.streamEnded()
	}
	key := election.LeaderKey(req.Name)
	ch := s.Events(ctx, key, nil, from+1)
	for {
		select {
		case <-ctx.Done():
			return s.streamEnded()
		case <-s.stopc:
			return s.streamEnded()
		case b, ok := <-ch:
			if !ok {
				return s.streamEnded()
			}
			if b.Err != nil {
				var we *wire.Error
				if errors.As(b.Err, &we) {
					return nil, we
				}
				return nil, wire.Errorf(wire.CodeUnavailable, "observe: %v", b.Err)
			}
			for _, e := range b.Events {
				lr := &wire.LeaderResponse{}
				if e.Type == wire.EventPut {
					h, err := election.DecodeLeader(e.Kv.Value)
					if err != nil {
						return nil, wire.Errorf(wire.CodeUnknown, "observe: %v", err)
					}
					lr = &wire.LeaderResponse{Key: h.Key, Value: h.Owner, Term: h.Token, Lease: h.Lease}
				}
				lr.Header.Shard, lr.Header.Revision = shard, e.Kv.ModRevision
				s.fillHeader(&lr.Header, shard)
				if !cl.stream(lr) {
					return s.streamEnded()
				}
			}
		}
	}
}
