package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
)

// internalCommand is the envelope of a command the server issues on its
// own (cl nil), which is idempotent and needs no de-duplication, or on
// behalf of a client call.
func (s *Core) internalCommand(cl *Caller) *statemachine.Command {
	if cl == nil {
		return &statemachine.Command{}
	}
	return s.command(cl)
}

// streamEnded ends a stream that has no final message of its own.
func (s *Core) streamEnded() (*wire.LeaderResponse, *wire.Error) {
	if s.stopping.Load() {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	return nil, nil
}

func invalid(err error) *wire.Error { return wire.Errorf(wire.CodeInvalid, "%v", err) }

// ownerShard checks a primitive's name and lease and returns its shard.
func (s *Core) ownerShard(prefix []byte, lease int64) (uint32, *wire.Error) {
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

// Waiting calls (Lock, Campaign, and Enter and Leave of a double
// barrier) are a write that queues the owner, then a wait. When the write
// does not settle the call, the server sends an intermediate response
// right after it is applied, with the owner's key: the client finishes the
// write's sequence number there (its acknowledgement watermark moves on),
// and from then on the wait is resumable without one (the request's
// Resume field). Every wait, first or resumed, reads linearizably whether
// the owner key still exists and what holds, then waits on the watch hub
// from after that read: it never reports a grant that is no longer
// current (a retried write replays its first result, but the wait after
// it reads the present).
//
// When a wait ends without a grant, the owner is withdrawn only if the
// caller gave up (its Cancel frame, or its own deadline): see waitEnded.

// ownerWait describes the owner a Lock or a Campaign waits for.
type ownerWait struct {
	shard uint32
	what  string // `lock "L"`, for messages
	// prefix is the range the wait watches, [prefix, PrefixEnd(prefix));
	// nil: the owner key alone (a semaphore's grant is a put of it).
	prefix []byte
	// holderKey holds the record (decoded by decode) that names the
	// owner key when it holds; it may be the owner key itself.
	holderKey []byte
	key       []byte // the owner key
	lease     int64
	wrote     bool // the call's own write queued key on this member just before
	decode    func([]byte) (locks.Holder, error)
	// leave withdraws the owner (unlock or resign, with its lease).
	leave func(context.Context) *wire.Error
}

// readKeys reads keys at one revision of shard, linearizably: the first
// after a ReadIndex, the others from the local replica at the revision of
// that read (which it has applied). It returns the live versions (nil for
// absent keys) and the revision.
//
// With local the first read skips the ReadIndex too. That is as
// linearizable when the local replica has just applied something that
// was committed after the call began: the call's own write (its result
// comes from this replica's apply), or an event the wait received. Every
// other read (a resumed wait, possibly on a lagging member) pays the
// ReadIndex.
func (s *Core) readKeys(ctx context.Context, shard uint32, local bool, keys ...[]byte) ([]*wire.KeyValue, int64, *wire.Error) {
	out := make([]*wire.KeyValue, len(keys))
	var rev int64
	for i, k := range keys {
		req := &wire.RangeRequest{Key: k, Serializable: local}
		if i > 0 {
			req.Revision, req.Serializable = rev, true
		}
		rr, werr := s.read(ctx, shard, req)
		if werr != nil {
			return nil, 0, werr
		}
		if i == 0 {
			rev = rr.Header.Revision
		}
		if len(rr.Kvs) > 0 {
			out[i] = rr.Kvs[0]
		}
	}
	return out, rev, nil
}

// untilStopping returns a context that also ends when the member stops.
func (s *Core) untilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-s.stopc:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}

// awaitOwner waits until w.key holds and returns the holder record: a
// linearizable read of the owner key and the holder record first (local
// right after the call's own write), then await from after that read,
// for the holder record naming the owner (the grant) or the owner key's
// deletion (it left); after compacted history it reads again. A caller
// that gives up gets its owner withdrawn (waitEnded). Locks, elections
// and semaphores wait with it.
func (s *Core) awaitOwner(ctx context.Context, w *ownerWait) (locks.Holder, *wire.Error) {
	withdraw := func() { s.withdraw(w.shard, w.lease, w.key, w.leave) }
	keys := [][]byte{w.key, w.holderKey}
	if bytes.Equal(w.holderKey, w.key) {
		keys = keys[:1]
	}
	watch, end := w.key, []byte(nil)
	if w.prefix != nil {
		watch, end = w.prefix, wire.PrefixEnd(w.prefix)
	}
	local := w.wrote
	for {
		kvs, rev, werr := s.readKeys(ctx, w.shard, local, keys...)
		local = false
		if werr != nil {
			return locks.Holder{}, s.waitEnded(ctx, werr, withdraw)
		}
		if kvs[0] == nil {
			return locks.Holder{}, s.ownerGone(w.shard, w.lease, w.what, w.key)
		}
		if hkv := kvs[len(kvs)-1]; hkv != nil {
			h, err := w.decode(hkv.Value)
			if err != nil {
				return locks.Holder{}, wire.Errorf(wire.CodeUnknown, "%s: %v", w.what, err)
			}
			if bytes.Equal(h.Key, w.key) {
				return h, nil
			}
		}
		var h locks.Holder
		err := s.await(ctx, w.shard, watch, end, rev+1, func(e wire.Event) (done bool, err error) {
			h, done, err = locks.MatchHolder(e, w.holderKey, w.key, w.decode)
			return done, err
		})
		switch {
		case err == nil:
			return h, nil
		case errors.Is(err, locks.ErrOwnerRemoved):
			return locks.Holder{}, s.ownerGone(w.shard, w.lease, w.what, w.key)
		case ctx.Err() != nil || s.stopping.Load():
			return locks.Holder{}, s.waitEnded(ctx, nil, withdraw)
		}
		var we *wire.Error
		if !errors.As(err, &we) {
			return locks.Holder{}, wire.Errorf(wire.CodeUnknown, "%s: %v", w.what, err)
		}
		if we.Code != wire.CodeCompacted {
			return locks.Holder{}, we
		}
		// The history after the read was compacted: read again.
	}
}

// ownerGone is the error of a wait whose owner key was deleted before it
// was granted: its lease ended, or it was withdrawn (released).
func (s *Core) ownerGone(shard uint32, lease int64, what string, key []byte) *wire.Error {
	if _, found, err := s.shards[shard].Lease(lease); err == nil && !found {
		return wire.Errorf(wire.CodeLeaseNotFound, "%s: session lease %016x expired while waiting", what, lease)
	}
	return wire.Errorf(wire.CodeCanceled, "%s: owner key %q is gone: the wait was withdrawn", what, key)
}

// waitEnded answers a wait that ended without what it waited for (werr:
// why, if known). Only a caller that gave up — its Cancel frame, or its
// own deadline — gets its waiter withdrawn. When the member stops, the
// call is cut by the server's cap, or the connection closes, the waiter
// keeps its place and the client resumes the wait (on this member or
// another).
func (s *Core) waitEnded(ctx context.Context, werr *wire.Error, withdraw func()) *wire.Error {
	if s.stopping.Load() {
		return wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	if ctx.Err() == nil {
		if werr == nil {
			werr = wire.Errorf(wire.CodeUnavailable, "member %s: the wait ended", s.cfg.Name)
		}
		return werr
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCallCap):
		return wire.Errorf(wire.CodeTimeout, "the wait reached the server's cap of %v on one call: resume it", maxCallTimeout)
	case errors.Is(cause, errConnClosed):
		return wire.Errorf(wire.CodeCanceled, "the connection closed")
	case errors.Is(cause, context.DeadlineExceeded):
		withdraw()
		return wire.Errorf(wire.CodeTimeout, "timed out waiting")
	default:
		withdraw()
		return wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
	}
}

// withdrawBackoffMax bounds the pause between two attempts to withdraw a
// waiter.
const withdrawBackoffMax = 2 * time.Second

// withdraw removes a waiter whose caller gave up, in the background: leave
// is tried until it succeeds, the key or its lease is gone, or the member
// stops (no quorum now is no reason to give up: an owner key left behind
// would be granted to nobody while its session lives, and everyone behind
// it would wait). If the member stops first, the key is left to the
// client, which withdraws it itself when it gave up (coord.Client's
// waiting calls do), and in the end to the session's lease.
func (s *Core) withdraw(shard uint32, lease int64, key []byte, leave func(context.Context) *wire.Error) {
	go func() {
		backoff := 20 * time.Millisecond
		for attempt := 1; ; attempt++ {
			ctx, cancel := s.untilStopping(context.Background())
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			werr := leave(actx)
			acancel()
			cancel()
			if werr == nil || werr.Code == wire.CodeNotHolder || werr.Code == wire.CodeLeaseNotFound {
				return
			}
			if s.stopping.Load() {
				s.log.Warn("member stopping: a cancelled waiter is left to its client and its lease", "key", string(key), "lease", lease)
				return
			}
			if _, found, err := s.shards[shard].Lease(lease); err == nil && !found {
				return // the key went with its lease
			}
			if attempt == 1 {
				s.log.Warn("could not withdraw a cancelled waiter yet; retrying until it succeeds or its lease ends", "key", string(key), "err", werr)
			}
			t := time.NewTimer(backoff)
			select {
			case <-s.stopc:
				t.Stop()
			case <-t.C:
			}
			backoff = min(2*backoff, withdrawBackoffMax)
		}
	}()
}

// queueWriteTimeout bounds the write that queues a waiter.
const queueWriteTimeout = 10 * time.Second

// queueContext is the context of the write that queues a waiter: the
// caller's cancel does not cut it short, so that the member learns the
// owner key of a write that is applied and can withdraw it (a write cut
// off mid-proposal may still be applied, leaving a key nobody knows).
func queueContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), queueWriteTimeout)
}

// queued follows the write that queued owner w: if the caller gave up
// while it was proposed, the owner is withdrawn (granted or not: nobody
// would know it holds); else, unless granted, the intermediate response
// (send) tells the client the write is done.
func (s *Core) queued(ctx context.Context, send func() error, granted bool, w *ownerWait) *wire.Error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errCallCancelled) || errors.Is(cause, context.DeadlineExceeded) {
			return s.waitEnded(ctx, nil, func() { s.withdraw(w.shard, w.lease, w.key, w.leave) })
		}
	}
	if !granted && send() != nil {
		return wire.Errorf(wire.CodeCanceled, "the connection closed")
	}
	return nil
}

// ownerAcquire is the shape shared by Lock, Campaign and a semaphore's
// Acquire: a write that queues an owner (or, for a resumed wait, a check
// of the owner key), the intermediate answer when it was not granted at
// once, then the wait for its grant.
type ownerAcquire struct {
	shard  uint32
	op     string // the queueing write
	req    any    // its request
	resume []byte // the owner key of a resumed wait; nil: write
	// checkResume checks a resumed wait's owner key.
	checkResume func(key []byte) *wire.Error
	key         *[]byte              // the response's owner key
	header      *wire.ResponseHeader // the response's header
	granted     func() bool          // the write's answer grants at once
	// grant puts a grant, once waited for, into the response.
	grant func(h locks.Holder)
	// wait describes the wait for owner key (shard, key and wrote are
	// filled in by acquireOwner).
	wait func(key []byte) *ownerWait
}

// acquireOwner runs a: the write (decoded into resp) or the resume's
// check, then, unless granted at once, the intermediate answer and the
// wait for the grant. It returns the call's answer.
func acquireOwner[R any](s *Core, ctx context.Context, cl *Caller, a *ownerAcquire, resp *R, stream Stream[R]) (*R, *wire.Error) {
	if a.resume != nil {
		if werr := a.checkResume(a.resume); werr != nil {
			return nil, werr
		}
		*a.key = a.resume
		a.header.Shard = a.shard
	} else {
		cmd := s.command(cl)
		cmd.Set(a.op, a.req)
		qctx, cancel := queueContext(ctx)
		werr := s.proposeDecode(qctx, a.shard, cmd, resp, a.header)
		cancel()
		if werr != nil {
			return nil, werr
		}
	}
	w := a.wait(*a.key)
	w.shard, w.key, w.wrote = a.shard, *a.key, a.resume == nil
	if a.resume == nil {
		granted := a.granted()
		if werr := s.queued(ctx, func() error { return stream.Send(resp) }, granted, w); werr != nil || granted {
			return resp, werr
		}
	}
	h, werr := s.awaitOwner(ctx, w)
	if werr != nil {
		return nil, werr
	}
	a.grant(h)
	a.header.Revision = h.Token
	s.fillHeader(a.header, a.shard)
	return resp, nil
}

// resumeKey checks the owner key of a resumed wait: one of the instance's
// owner keys.
func resumeKey(root, name string, key []byte) *wire.Error {
	if n, ok := locks.OwnerName(root, key); !ok || n != name {
		return wire.Errorf(wire.CodeInvalid, "resume: %q is not an owner key of %q", key, name)
	}
	return nil
}

func (s *Core) lock(ctx context.Context, cl *Caller, req *wire.LockRequest, stream Stream[wire.LockResponse]) (*wire.LockResponse, *wire.Error) {
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
	var resp wire.LockResponse
	return acquireOwner(s, ctx, cl, &ownerAcquire{
		shard: shard, op: lockrules.OpLock, req: req, resume: req.Resume,
		checkResume: func(key []byte) *wire.Error { return resumeKey(locks.Root, req.Name, key) },
		key:         &resp.Key, header: &resp.Header, granted: func() bool { return resp.Token != 0 },
		grant: func(h locks.Holder) { resp.Token = h.Token },
		wait: func(key []byte) *ownerWait {
			return &ownerWait{
				// A shared owner's grant is its marker, an exclusive one's
				// the holder record (lockrules.GrantKey).
				what: fmt.Sprintf("lock %q", req.Name), prefix: prefix, holderKey: lockrules.GrantKey(req.Name, key, req.Shared),
				lease: req.Lease, decode: lockrules.DecodeGrant,
				leave: func(lctx context.Context) *wire.Error {
					_, werr := s.unlock(lctx, nil, &wire.UnlockRequest{Name: req.Name, Key: key, Lease: req.Lease})
					return werr
				},
			}
		},
	}, &resp, stream)
}

func (s *Core) unlock(ctx context.Context, cl *Caller, req *wire.UnlockRequest) (*wire.UnlockResponse, *wire.Error) {
	if err := locks.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(locks.Prefix(req.Name))
	cmd := s.internalCommand(cl)
	cmd.Set(lockrules.OpUnlock, req)
	var resp wire.UnlockResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Core) lockStatus(ctx context.Context, _ *Caller, req *wire.LockStatusRequest) (*wire.LockStatusResponse, *wire.Error) {
	if err := locks.ValidateName(req.Name); err != nil {
		return nil, invalid(err)
	}
	shard := s.shardOf(locks.Prefix(req.Name))
	v, werr := s.lookup(ctx, shard, primitiveQuery{lockrules.OpStatus, &wire.LockStatusRequest{Name: req.Name}})
	if werr != nil {
		return nil, werr
	}
	resp := v.(*wire.LockStatusResponse)
	ttl := func(lease int64) int64 {
		if left, ok := s.lessor.remaining(shard, lease); ok {
			return int64((left + time.Second - 1) / time.Second)
		}
		return 0
	}
	if resp.Held && resp.Lease != 0 {
		resp.LeaseTTL = ttl(resp.Lease)
	}
	for _, list := range [][]wire.LockOwner{resp.Holders, resp.Queue} {
		for i := range list {
			list[i].LeaseTTL = ttl(list[i].Lease)
		}
	}
	s.fillHeader(&resp.Header, shard)
	return resp, nil
}

func (s *Core) campaign(ctx context.Context, cl *Caller, req *wire.CampaignRequest, stream Stream[wire.LeaderResponse]) (*wire.LeaderResponse, *wire.Error) {
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
	var resp wire.LeaderResponse
	if req.Resume != nil {
		resp.Lease = req.Lease
	}
	return acquireOwner(s, ctx, cl, &ownerAcquire{
		shard: shard, op: electionrules.OpCampaign, req: req, resume: req.Resume,
		checkResume: func(key []byte) *wire.Error { return resumeKey(election.Root, req.Name, key) },
		key:         &resp.Key, header: &resp.Header, granted: func() bool { return resp.Term != 0 },
		grant: func(h locks.Holder) { resp.Term, resp.Value, resp.Lease = h.Token, h.Owner, h.Lease },
		wait: func(key []byte) *ownerWait {
			return &ownerWait{
				what: fmt.Sprintf("election %q", req.Name), prefix: prefix, holderKey: election.LeaderKey(req.Name),
				lease: req.Lease, decode: election.DecodeLeader,
				leave: func(lctx context.Context) *wire.Error {
					_, werr := s.resign(lctx, nil, &wire.ResignRequest{Name: req.Name, Key: key, Lease: req.Lease})
					return werr
				},
			}
		},
	}, &resp, stream)
}

func (s *Core) electionWrite(ctx context.Context, cl *Caller, name string, set func(*statemachine.Command)) (*wire.LeaderResponse, *wire.Error) {
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

func (s *Core) proclaim(ctx context.Context, cl *Caller, req *wire.ProclaimRequest) (*wire.LeaderResponse, *wire.Error) {
	if len(req.Value) > s.cfg.MaxValueSize {
		return nil, wire.Errorf(wire.CodeTooLarge, "value of %d bytes is over the limit of %d bytes", len(req.Value), s.cfg.MaxValueSize)
	}
	return s.electionWrite(ctx, cl, req.Name, func(c *statemachine.Command) { c.Set(electionrules.OpProclaim, req) })
}

func (s *Core) resign(ctx context.Context, cl *Caller, req *wire.ResignRequest) (*wire.LeaderResponse, *wire.Error) {
	return s.electionWrite(ctx, cl, req.Name, func(c *statemachine.Command) { c.Set(electionrules.OpResign, req) })
}

// leaderOf reads election name's leader (CodeNotFound when none).
func (s *Core) leaderOf(ctx context.Context, name string) (uint32, *wire.LeaderResponse, *wire.Error) {
	if err := election.ValidateName(name); err != nil {
		return 0, nil, invalid(err)
	}
	shard := s.shardOf(election.Prefix(name))
	v, werr := s.lookup(ctx, shard, primitiveQuery{electionrules.OpLeader, &wire.LeaderRequest{Name: name}})
	if werr != nil {
		return shard, nil, werr
	}
	resp := v.(*wire.LeaderResponse)
	s.fillHeader(&resp.Header, shard)
	return shard, resp, nil
}

func (s *Core) leaderCall(ctx context.Context, _ *Caller, req *wire.LeaderRequest, stream Stream[wire.LeaderResponse]) (*wire.LeaderResponse, *wire.Error) {
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
	if stream.Send(cur) != nil {
		return s.streamEnded()
	}
	err := s.await(ctx, shard, election.LeaderKey(req.Name), nil, from+1, func(e wire.Event) (bool, error) {
		lr := &wire.LeaderResponse{}
		if e.Type == wire.EventPut {
			h, err := election.DecodeLeader(e.Kv.Value)
			if err != nil {
				return false, wire.Errorf(wire.CodeUnknown, "observe: %v", err)
			}
			lr = &wire.LeaderResponse{Key: h.Key, Value: h.Owner, Term: h.Token, Lease: h.Lease}
		}
		lr.Header.Shard, lr.Header.Revision = shard, e.Kv.ModRevision
		s.fillHeader(&lr.Header, shard)
		return stream.Send(lr) != nil, nil // the stream ended: done
	})
	var we *wire.Error
	if errors.As(err, &we) {
		return nil, we
	}
	return s.streamEnded()
}
