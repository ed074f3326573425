package server

import (
	"context"
	"errors"

	"github.com/coord-io/coord/coord/wire"
)

// errStopping ends an await because the member is stopping.
var errStopping = errors.New("server: the member is stopping")

// await is the member's one server-side wait, behind every blocking call
// (lock and campaign owners, barriers, observe, the dequeuers' watchers):
// it hands match the events of [key, end) in shard (end nil: key alone)
// from revision from on, in revision order — history first, from the
// recent events in memory or the store, then live from the watch hub —
// until match reports done or fails. It runs on the calling goroutine
// (no goroutine or channel of its own) and ends when ctx ends or the
// member stops.
//
// It returns nil when match was done; match's error as is; a *wire.Error
// when the history after from is gone (CodeCompacted, with the compact
// revision: the caller reads its state again and waits from after that
// read) or cannot be read; ctx.Err() when ctx ended; errStopping when the
// member stops.
func (s *Core) await(ctx context.Context, shard uint32, key, end []byte, from int64, match func(wire.Event) (done bool, err error)) error {
	w := s.hub.subscribe(shard, key, end)
	defer s.hub.unsubscribe(shard, w)
	var res error
	matched := false
	s.feedShard(ctx, shard, w, &wire.WatchRequest{Key: key, RangeEnd: end}, from, func(evs []wire.Event, werr *wire.Error) bool {
		if werr != nil {
			res = werr
			return false
		}
		for _, e := range evs {
			done, err := match(e)
			if err != nil {
				res = err
				return false
			}
			if done {
				matched = true
				return false
			}
		}
		return true
	})
	switch {
	case res != nil || matched:
		return res
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return errStopping
	}
}

// awaitError is the error of a wait that ended without what it waited for
// (await's error), as the calls that give up on it answer.
func (s *Core) awaitError(err error) *wire.Error {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return we
	case errors.Is(err, errStopping):
		return wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	case errors.Is(err, context.DeadlineExceeded):
		return wire.Errorf(wire.CodeTimeout, "timed out waiting")
	case errors.Is(err, context.Canceled):
		return wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
	default:
		return wire.Errorf(wire.CodeUnavailable, "%v", err)
	}
}
