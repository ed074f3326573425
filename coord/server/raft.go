package server

import (
	"context"
	"errors"
	"time"

	"github.com/lni/dragonboat/v3"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// propose replicates one command in shard and returns its applied result.
// Transient conditions (no leader yet, queues full) are retried until ctx
// ends; a Raft timeout leaves the outcome unknown and is reported as such
// (the client retries with the same sequence number, which is safe).
// It stamps the command with this member's clock (Command.Time), which
// times the state machine's exactly-once records; attempts re-propose the
// same stamp.
func (s *Core) propose(ctx context.Context, shard uint32, cmd *statemachine.Command) (statemachine.Result, *wire.Error) {
	r, _, werr := s.proposeReplay(ctx, shard, cmd)
	return r, werr
}

// replayedFlag marks, in the Value of a Dragonboat result, an entry
// answered from its exactly-once record (statemachine.Entry.Replayed);
// the low bits are the result's code.
const replayedFlag = uint64(1) << 63

// proposeReplay is propose that also reports whether the result is the
// stored one of an earlier apply of the same (client, sequence).
func (s *Core) proposeReplay(ctx context.Context, shard uint32, cmd *statemachine.Command) (statemachine.Result, bool, *wire.Error) {
	stamped := *cmd
	stamped.Time = time.Now().UnixMilli()
	b, err := statemachine.EncodeCommand(&stamped)
	if err != nil {
		return statemachine.Result{}, false, wire.Errorf(wire.CodeInvalid, "encode command: %v", err)
	}
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := attemptContext(ctx)
		r, err := s.nh.SyncPropose(actx, s.session[shard], b)
		cancel()
		if err == nil {
			return statemachine.Result{Code: wire.Code(r.Value &^ replayedFlag), Data: r.Data}, r.Value&replayedFlag != 0, nil
		}
		if werr := s.retryOrFail(ctx, shard, err, &backoff); werr != nil {
			return statemachine.Result{}, false, werr
		}
	}
}

// attemptTimeout bounds one attempt to propose or read. Dragonboat drops
// a proposal silently in some leader changes (the caller only learns of
// it by timing out), so long calls are cut into attempts and retried;
// retried writes are de-duplicated by their (client, sequence) tag.
const attemptTimeout = time.Second

func attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, attemptTimeout)
}

// read runs a range on shard: linearizable (ReadIndex) unless serializable.
func (s *Core) read(ctx context.Context, shard uint32, req *wire.RangeRequest) (*wire.RangeResponse, *wire.Error) {
	if req.Serializable {
		v, err := s.shards[shard].Range(req)
		return s.rangeResult(shard, v, err)
	}
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := attemptContext(ctx)
		rr, err := s.linearRange(actx, shard, req)
		cancel()
		if err == nil {
			return s.rangeResult(shard, rr, nil)
		}
		var we *wire.Error
		if errors.As(err, &we) {
			return nil, we
		}
		if werr := s.retryOrFail(ctx, shard, err, &backoff); werr != nil {
			return nil, werr
		}
	}
}

func (s *Core) rangeResult(shard uint32, rr *wire.RangeResponse, err error) (*wire.RangeResponse, *wire.Error) {
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return nil, we
		}
		return nil, wire.Errorf(wire.CodeUnavailable, "shard %d: %v", shard, err)
	}
	if rr == nil {
		return nil, wire.Errorf(wire.CodeUnknown, "shard %d: empty read result", shard)
	}
	s.fillHeader(&rr.Header, shard)
	return rr, nil
}

// retryOrFail decides what a Dragonboat error means: nil to try again
// (after sleeping), or the error to return.
func (s *Core) retryOrFail(ctx context.Context, shard uint32, err error, backoff *time.Duration) *wire.Error {
	switch {
	case errors.Is(err, dragonboat.ErrClusterNotReady), errors.Is(err, dragonboat.ErrSystemBusy),
		errors.Is(err, dragonboat.ErrClusterNotInitialized):
		// No leader yet, or queues full: wait a little and try again.
	case errors.Is(err, dragonboat.ErrTimeout):
		if ctx.Err() == nil {
			// Dragonboat's own timeout fired before ours: try again (a
			// write is de-duplicated by its sequence number).
			break
		}
		return wire.Errorf(wire.CodeTimeout, "shard %d: timed out waiting for the cluster; a write may or may not have been applied", shard)
	case errors.Is(err, dragonboat.ErrCanceled), errors.Is(err, context.Canceled):
		return wire.Errorf(wire.CodeCanceled, "call cancelled")
	case errors.Is(err, dragonboat.ErrClusterClosed), errors.Is(err, dragonboat.ErrClosed),
		errors.Is(err, dragonboat.ErrClusterNotFound), errors.Is(err, statemachine.ErrClosed):
		return wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	case errors.Is(err, dragonboat.ErrPayloadTooBig):
		return wire.Errorf(wire.CodeTooLarge, "request too large for the raft log")
	case errors.Is(err, dragonboat.ErrTimeoutTooSmall), errors.Is(err, context.DeadlineExceeded):
		return wire.Errorf(wire.CodeTimeout, "shard %d: timed out", shard)
	default:
		return wire.Errorf(wire.CodeUnavailable, "shard %d: %v", shard, err)
	}
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		if leader, _ := s.leader(shard); leader == "" {
			return wire.Errorf(wire.CodeUnavailable, "shard %d has no leader (is a quorum of members up?)", shard)
		}
		return wire.Errorf(wire.CodeTimeout, "shard %d: timed out waiting for the cluster; a write may or may not have been applied", shard)
	}
	if *backoff < 100*time.Millisecond {
		*backoff *= 2
	}
	return nil
}

func (s *Core) fillHeader(h *wire.ResponseHeader, shard uint32) {
	_, term := s.leader(shard)
	h.RaftTerm = term
	h.Member = s.cfg.Name
	h.ClusterID = s.ClusterID()
}
