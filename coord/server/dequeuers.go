package server

import (
	"context"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue"
)

// dequeuers parks blocked dequeues per queue and wakes one of them per
// item that becomes ready, instead of waking every blocked consumer for
// every item (a thundering herd that made each enqueue cost one proposal
// per waiting consumer). One watcher goroutine per queue with waiters
// reads the queue's ready events; it exits when the last waiter leaves.
type dequeuers struct {
	s  *Server
	mu sync.Mutex
	qs map[string]*parked // by queue name
}

type parked struct {
	waiters []chan struct{} // FIFO of blocked dequeues
	running bool            // a watcher goroutine serves this queue
}

func newDequeuers(s *Server) *dequeuers { return &dequeuers{s: s, qs: map[string]*parked{}} }

// recheckEvery bounds how long a parked dequeue sleeps without looking at
// the queue again (a safety net: wake-ups are event driven).
const recheckEvery = time.Second

// wait parks a dequeue of queue name until an item may be ready for it,
// ctx ends, or recheckEvery passes. from is the shard revision read before
// the dequeue that found the queue empty.
func (d *dequeuers) wait(ctx context.Context, shard uint32, name string, from int64) *wire.Error {
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
	if info, err := d.s.shards[shard].QueueInfo(name, false); err == nil && info.Ready > 0 {
		return nil
	}
	t := time.NewTimer(recheckEvery)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return wire.Errorf(wire.CodeTimeout, "timed out waiting for an item")
		}
		return wire.Errorf(wire.CodeCanceled, "the wait was cancelled")
	case <-d.s.stopc:
		return wire.Errorf(wire.CodeUnavailable, "member %s is stopping", d.s.cfg.Name)
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

// watch is the watcher goroutine of one queue: one wake-up per item put
// into its ready set.
func (d *dequeuers) watch(shard uint32, name string, from int64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := queue.ReadyPrefix(name)
	ch := d.s.Events(ctx, ready, wire.PrefixEnd(ready), from+1)
	idleTick := time.NewTicker(recheckEvery)
	defer idleTick.Stop()
	for {
		select {
		case <-d.s.stopc:
			d.idle(name)
			return
		case <-idleTick.C:
			if d.idle(name) {
				return
			}
		case b, ok := <-ch:
			if !ok || b.Err != nil {
				// History gone or stream ended: parked dequeues fall back
				// on their periodic re-check; stop this watcher.
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
			for _, e := range b.Events {
				if e.Type == wire.EventPut && !d.wakeOne(name) {
					return
				}
			}
		}
	}
}
