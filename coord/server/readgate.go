package server

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lni/dragonboat/v3"

	"github.com/coord-io/coord/coord/wire"
)

// Linearizable reads share ReadIndex rounds, as etcd's linearizable read
// loop does. A round is one Dragonboat ReadIndex of a shard on this member:
// it learns the shard's commit index from the leader (confirmed by a
// quorum) and completes once this replica has applied it. Every read that
// arrived before a round began may then read the local replica: its
// result reflects every write committed before the read arrived. So each
// shard has at most one round in flight on this member; the reads that
// arrive meanwhile wait together for the next round, which starts when the
// running one ends. Under load that is one round (a forwarded request and a
// heartbeat exchange) for many reads instead of about one per Raft step;
// alone, a read waits for at most the rest of a running round and its own.
//
// Goroutines: one per shard while rounds follow each other (runRounds);
// none while no read waits. A round outlives a read that leaves early, so
// they run tracked (Core.rounds): close waits for them before it stops the
// NodeHost, and refuses new ones.

// readGate coalesces one shard's ReadIndex rounds: round runs one.
type readGate struct {
	round func() error
	// goRound runs f on a goroutine the member's close waits for; false
	// when the member is closing (nil: a plain goroutine).
	goRound func(f func()) bool

	mu      sync.Mutex
	running bool       // a round is in flight (runRounds runs)
	next    *readRound // the reads waiting for the round after it
}

// readRound is one ReadIndex round and the reads that wait for it.
type readRound struct {
	done    chan struct{} // closed when the round ended; then err is set
	err     error
	waiters int // reads that joined it (under readGate.mu)
}

// wait returns once a round that began after it was called has ended:
// nil when it completed (the local replica may be read), else the round's
// error; when ctx ends first, Dragonboat's error for it (ErrTimeout,
// ErrCanceled), as its own synchronous reads answer, so that the caller
// retries an attempt that timed out while its call has time left.
func (g *readGate) wait(ctx context.Context) error {
	g.mu.Lock()
	r := g.next
	if r == nil {
		r = &readRound{done: make(chan struct{})}
		g.next = r
	}
	r.waiters++
	if !g.running {
		if !g.start(func() { g.runRounds(r) }) {
			r.waiters--
			g.mu.Unlock()
			return dragonboat.ErrClosed
		}
		g.running, g.next = true, nil
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.Canceled) {
			return dragonboat.ErrCanceled
		}
		return dragonboat.ErrTimeout
	}
}

// start runs f on a goroutine (goRound's), reporting false if it may not.
func (g *readGate) start(f func()) bool {
	if g.goRound == nil {
		go f()
		return true
	}
	return g.goRound(f)
}

// trackedGoroutines runs goroutines that Close waits for; once Close has
// begun it runs no more.
type trackedGoroutines struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Go runs f on a goroutine, or reports false once Close has begun.
func (t *trackedGoroutines) Go(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// Close refuses new goroutines and waits for the running ones.
func (t *trackedGoroutines) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// runRounds runs round r, then the rounds of the reads that arrived
// meanwhile, until none waits.
func (g *readGate) runRounds(r *readRound) {
	for r != nil {
		r.err = g.round()
		close(r.done)
		g.mu.Lock()
		r, g.next = g.next, nil
		if r == nil {
			g.running = false
		}
		g.mu.Unlock()
	}
}

// readIndexRound runs one ReadIndex of shard, bounded by attemptTimeout.
func (s *Core) readIndexRound(shard uint32) error {
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	rs, err := s.nh.ReadIndex(clusterID(shard), attemptTimeout)
	if err != nil {
		return err
	}
	err = waitRequest(ctx, rs)
	rs.Release()
	return err
}

// linearRange reads req from shard's local replica once a ReadIndex round
// of the shard that began after the call has completed on this member:
// linearizable. Errors are Dragonboat's (the round's, or ErrTimeout or
// ErrCanceled when ctx ends first) or the replica's.
func (s *Core) linearRange(ctx context.Context, shard uint32, req *wire.RangeRequest) (*wire.RangeResponse, error) {
	if err := s.readGates[shard].wait(ctx); err != nil {
		return nil, err
	}
	return s.shards[shard].Range(req)
}

// waitRequest waits for rs's result, as Dragonboat's own synchronous
// calls do, turning what it reports into Dragonboat's errors.
func waitRequest(ctx context.Context, rs *dragonboat.RequestState) error {
	select {
	case r := <-rs.AppliedC():
		switch {
		case r.Completed():
			return nil
		case r.Rejected():
			return dragonboat.ErrRejected
		case r.Timeout():
			return dragonboat.ErrTimeout
		case r.Terminated():
			return dragonboat.ErrClusterClosed
		case r.Dropped():
			return dragonboat.ErrClusterNotReady
		case r.Aborted():
			return dragonboat.ErrAborted
		}
		return fmt.Errorf("request ended with an unknown result %v", r)
	case <-ctx.Done():
		return dragonboat.ErrTimeout
	}
}
