package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue"
)

// dequeuers parks consumers waiting for an item (queue.wait calls) per
// queue and wakes one of them per item that becomes ready, instead of
// waking every waiting consumer for every item (a thundering herd that
// made each enqueue cost one dequeue proposal per waiting consumer). One
// watcher goroutine per queue with waiters reads the queue's ready
// events (Core.await) and looks once a recheckEvery (a timer) whether
// anybody still waits; it exits when the last waiter leaves. A woken consumer then
// dequeues with a write of its own; parking writes nothing.
type dequeuers struct {
	s  *Core
	mu sync.Mutex
	qs map[string]*parked // by queue name
}

type parked struct {
	waiters []chan struct{} // FIFO of waiting consumers
	running bool            // a watcher goroutine serves this queue
}

func newDequeuers(s *Core) *dequeuers { return &dequeuers{s: s, qs: map[string]*parked{}} }

// recheckEvery is how often a parked consumer looks at the member's
// replica for a ready item (a safety net: wake-ups are event driven, but a
// woken consumer may give up before it dequeues the item it was woken
// for).
const recheckEvery = time.Second

// wait parks a consumer of queue name until an item may be ready for it:
// at once if the member's replica shows a ready item, else when the
// watcher hands it a put under the queue's ready prefix, or when a
// periodic look at the replica finds one; or until ctx ends. The consumer
// keeps its place in the FIFO of waiters for the whole wait.
func (d *dequeuers) wait(ctx context.Context, shard uint32, name string) *wire.Error {
	from, _ := d.s.shards[shard].Revision()
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	p := d.qs[name]
	if p == nil {
		p = &parked{}
		d.qs[name] = p
	}
	p.waiters = append(p.waiters, ch)
	if !p.running {
		p.running = true
		go d.watch(shard, name, from)
	}
	d.mu.Unlock()
	defer d.remove(name, ch)

	// An item that became ready before we parked was published before the
	// watcher could hand it to us; the local replica already shows it.
	readyNow := func() bool {
		info, err := d.s.shards[shard].QueueInfo(name, false)
		return err == nil && info.Ready > 0
	}
	if readyNow() {
		return nil
	}
	t := time.NewTicker(recheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ch:
			return nil
		case <-t.C:
			if readyNow() {
				return nil
			}
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return wire.Errorf(wire.CodeTimeout, "timed out waiting for an item")
			}
			return wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
		case <-d.s.stopc:
			return wire.Errorf(wire.CodeUnavailable, "member %s is stopping", d.s.cfg.Name)
		}
	}
}

func (d *dequeuers) remove(name string, ch chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.qs[name]
	if p == nil {
		return
	}
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			break
		}
	}
}

// wakeOne hands a ready item to the longest-parked dequeue; it reports
// false when nobody waits any more (the watcher then stops).
func (d *dequeuers) wakeOne(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.qs[name]
	if p == nil || len(p.waiters) == 0 {
		if p != nil {
			p.running = false
			delete(d.qs, name)
		}
		return false
	}
	ch := p.waiters[0]
	p.waiters = p.waiters[1:]
	select {
	case ch <- struct{}{}:
	default:
	}
	return true
}

// idle reports whether queue name has no parked dequeue, stopping its
// watcher if so.
func (d *dequeuers) idle(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.qs[name]
	if p != nil && len(p.waiters) > 0 {
		return false
	}
	if p != nil {
		p.running = false
		delete(d.qs, name)
	}
	return true
}

// waiting reports whether queue name has a parked dequeue.
func (d *dequeuers) waiting(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.qs[name]
	return p != nil && len(p.waiters) > 0
}

// watch is the watcher goroutine of one queue: one wake-up per item put
// into its ready set, read from revision from+1 on with the member's
// await. Once a recheckEvery it looks whether anybody still waits, and
// stops if not.
func (d *dequeuers) watch(shard uint32, name string, from int64) {
	ready := queue.ReadyPrefix(name)
	next := from + 1
	for {
		ctx, cancel := context.WithCancel(context.Background())
		stopChecks := d.cancelWhenIdle(name, cancel)
		err := d.s.await(ctx, shard, ready, wire.PrefixEnd(ready), next, func(e wire.Event) (bool, error) {
			next = e.Kv.ModRevision + 1
			return e.Type == wire.EventPut && !d.wakeOne(name), nil
		})
		stopChecks()
		cancel()
		switch {
		case err == nil: // nobody waits any more
			return
		case errors.Is(err, errStopping):
			d.idle(name)
			return
		case errors.Is(err, context.Canceled):
			if d.idle(name) {
				return
			}
			// A consumer parked since the check: go on from where we were.
		default:
			// History gone: wake every parked consumer (each dequeues,
			// and parks again if the queue is empty, with a new watcher);
			// stop this watcher.
			d.mu.Lock()
			if p := d.qs[name]; p != nil {
				p.running = false
				for _, w := range p.waiters {
					select {
					case w <- struct{}{}:
					default:
					}
				}
				p.waiters = nil
				delete(d.qs, name)
			}
			d.mu.Unlock()
			return
		}
	}
}

// cancelWhenIdle calls cancel at the first of the checks, one a
// recheckEvery (a timer: no goroutine between them), that finds nobody
// waiting on queue name, until stop.
func (d *dequeuers) cancelWhenIdle(name string, cancel func()) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stopped:
		case !d.waiting(name):
			cancel()
		default:
			t.Reset(recheckEvery)
		}
	}
	mu.Lock()
	t = time.AfterFunc(recheckEvery, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}
