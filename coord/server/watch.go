package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/coord-io/coord/coord/wire"
)

// hub hands the events of each applied batch to the watchers of the
// member. publish never blocks: a watcher whose buffer is full is marked
// as lagging and catches up from the store (statemachine History) instead,
// so neither the apply loop nor other watchers ever wait on a slow one.
//
// The hub also keeps each shard's most recent events (recentEvents), so a
// watch that starts at a recent revision — every server-side wait of a
// lock, election, queue or barrier does — catches up from memory instead
// of scanning the store's history of its key range.
type hub struct {
	mu     sync.RWMutex
	subs   []map[*watcher]struct{} // per shard
	recent []*recentEvents         // per shard
}

// recentEvents is the tail of one shard's published events.
type recentEvents struct {
	mu sync.Mutex
	// first: every event of revision first or later is in evs (0: none
	// published since the member started or the shard was restored from a
	// snapshot, so nothing is known). last: the newest revision published.
	first, last int64
	evs         []wire.Event // in revision order
}

// recentKeep is how many events a shard keeps at least (up to twice as
// many, trimmed in whole revisions).
const recentKeep = 4096

func (r *recentEvents) add(events []wire.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == 0 {
		r.first = events[0].Kv.ModRevision
	}
	r.evs = append(r.evs, events...)
	r.last = events[len(events)-1].Kv.ModRevision
	if len(r.evs) < 2*recentKeep {
		return
	}
	// Drop the oldest events, whole revisions at a time.
	cut := len(r.evs) - recentKeep
	rev := r.evs[cut-1].Kv.ModRevision
	for cut < len(r.evs) && r.evs[cut].Kv.ModRevision == rev {
		cut++
	}
	n := copy(r.evs, r.evs[cut:])
	clear(r.evs[n:])
	r.evs = r.evs[:n]
	r.first = rev + 1
}

// since returns the events of [key, end) from revision next on and the
// newest revision published, or false if events from next on are not all
// kept.
func (r *recentEvents) since(next int64, key, end []byte) ([]wire.Event, int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.first == 0 || next < r.first {
		return nil, 0, false
	}
	i := sort.Search(len(r.evs), func(i int) bool { return r.evs[i].Kv.ModRevision >= next })
	var out []wire.Event
	for _, e := range r.evs[i:] {
		if wire.InRange(e.Kv.Key, key, end) {
			out = append(out, e)
		}
	}
	return out, r.last, true
}

// restored tells the hub that shard's state jumped to a snapshot's, whose
// events were never published: it forgets the shard's recent events and
// sends every watcher of the shard to the store, where the jump's changes
// are.
func (h *hub) restored(shard uint32) {
	r := h.recent[shard]
	r.mu.Lock()
	clear(r.evs)
	r.evs, r.first, r.last = r.evs[:0], 0, 0
	r.mu.Unlock()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for w := range h.subs[shard] {
		w.lagging.Store(true)
		// Wake it if it is idle (an empty batch); a full buffer
		// wakes it anyway.
		select {
		case w.ch <- nil:
		default:
		}
	}
}

// watcher is one shard's subscription of one watch.
type watcher struct {
	key, end []byte
	ch       chan []wire.Event
	lagging  atomic.Bool
}

// watcherBuffer is how many event batches a watcher may fall behind
// before it switches to catching up from the store.
const watcherBuffer = 128

func newHub(shards int) *hub {
	h := &hub{subs: make([]map[*watcher]struct{}, shards), recent: make([]*recentEvents, shards)}
	for i := range h.subs {
		h.subs[i] = map[*watcher]struct{}{}
		h.recent[i] = &recentEvents{}
	}
	return h
}

func (h *hub) subscribe(shard uint32, key, end []byte) *watcher {
	w := &watcher{key: key, end: end, ch: make(chan []wire.Event, watcherBuffer)}
	h.mu.Lock()
	h.subs[shard][w] = struct{}{}
	h.mu.Unlock()
	return w
}

func (h *hub) unsubscribe(shard uint32, w *watcher) {
	h.mu.Lock()
	delete(h.subs[shard], w)
	h.mu.Unlock()
}

// count returns the number of subscriptions.
func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}

func (h *hub) publish(shard uint32, events []wire.Event) {
	if len(events) == 0 {
		return
	}
	// Keep them first: a watcher that misses them here was subscribed
	// before the fan-out below, which hands them to it.
	h.recent[shard].add(events)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for w := range h.subs[shard] {
		if w.lagging.Load() {
			continue
		}
		var mine []wire.Event
		for i := range events {
			if wire.InRange(events[i].Kv.Key, w.key, w.end) {
				mine = append(mine, events[i])
			}
		}
		if len(mine) == 0 {
			continue
		}
		select {
		case w.ch <- mine:
		default:
			w.lagging.Store(true)
		}
	}
}

// historyPage bounds the events read from the store at once (History
// never splits a revision, so a page may hold more).
const historyPage = 1000

// History builds every event of the revisions it reads before it cuts a
// page, so a watch reads the store a window of revisions at a time: the
// window starts at historyWindow revisions, doubles while the pages come
// back light and halves when one is heavy (over 4 response limits), so
// memory stays near a few pages whatever the history's size, and a sparse
// range over a long history still takes few reads.
const (
	historyWindow    = 64
	historyWindowMax = 1 << 20
)

// watch serves one watch stream: per shard, history from the start
// revision, then live events, merged onto the stream.
func (s *Core) watch(ctx context.Context, _ *Caller, req *wire.WatchRequest, stream Stream[wire.WatchResponse]) (*wire.WatchResponse, *wire.Error) {
	if err := s.checkRange(req.Key, req.RangeEnd); err != nil {
		return nil, err
	}
	var shards []uint32
	if shard, one := wire.RangeShard(req.Key, req.RangeEnd, len(s.shards)); one {
		shards = []uint32{shard}
	} else {
		for i := range s.shards {
			shards = append(shards, uint32(i))
		}
	}
	// Subscribe first, then read where each shard is: every event after
	// that point arrives live, every event up to it is in the store.
	subs := make([]*watcher, len(shards))
	for i, sh := range shards {
		subs[i] = s.hub.subscribe(sh, req.Key, req.RangeEnd)
	}
	defer func() {
		for i, sh := range shards {
			s.hub.unsubscribe(sh, subs[i])
		}
	}()
	created := wire.WatchResponse{Created: true}
	next := make([]int64, len(shards))
	for i, sh := range shards {
		cur, _ := s.shards[sh].Revision()
		start := req.StartRevision
		if r, ok := req.StartRevisions[sh]; ok {
			start = r
		}
		if start <= 0 {
			start = cur + 1
		}
		next[i] = start
		if len(shards) == 1 {
			created.Header.Shard, created.Header.Revision = sh, start-1
		} else {
			if created.Header.Revisions == nil {
				created.Header.Shard, created.Header.Revisions = wire.AllShards, map[uint32]int64{}
			}
			created.Header.Revisions[sh] = start - 1
		}
	}
	created.Header.Member, created.Header.ClusterID = s.cfg.Name, s.ClusterID()
	if stream.Send(&created) != nil {
		return s.watchEnded(ctx)
	}

	// One goroutine per shard feeds a shared channel; this goroutine owns
	// the stream.
	type batch struct {
		shard  uint32
		events []wire.Event
		err    *wire.Error
	}
	out := make(chan batch, 16)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, sh := range shards {
		wg.Add(1)
		go func(sh uint32, w *watcher, next int64) {
			defer wg.Done()
			emit := func(evs []wire.Event, err *wire.Error) bool {
				select {
				case out <- batch{shard: sh, events: evs, err: err}:
					return true
				case <-wctx.Done():
					return false
				}
			}
			s.feedShard(wctx, sh, w, req, next, emit)
		}(sh, subs[i], next[i])
	}
	go func() { wg.Wait(); close(out) }()

	for {
		select {
		case <-ctx.Done():
			return s.watchEnded(ctx)
		case <-s.stopc:
			return s.watchEnded(ctx)
		case b, ok := <-out:
			if !ok {
				return s.watchEnded(ctx)
			}
			if b.err != nil {
				resp := &wire.WatchResponse{Canceled: true, Reason: b.err.Message, CompactRevision: b.err.CompactRevision}
				resp.Header.Shard, resp.Header.Member = b.shard, s.cfg.Name
				return resp, nil
			}
			evs := filterEvents(b.events, req)
			for len(evs) > 0 {
				n, frag := watchMessage(evs, s.cfg.MaxResponseBytes)
				resp := &wire.WatchResponse{Events: evs[:n], Fragment: frag}
				evs = evs[n:]
				resp.Header.Shard = b.shard
				resp.Header.Revision = resp.Events[n-1].Kv.ModRevision
				s.fillHeader(&resp.Header, b.shard)
				if stream.Send(resp) != nil {
					return s.watchEnded(ctx)
				}
			}
		}
	}
}

// watchEnded is the last message of a watch that ended without an error
// of its own: the member is stopping (the client resumes elsewhere), the
// call was cancelled or its connection is gone.
func (s *Core) watchEnded(ctx context.Context) (*wire.WatchResponse, *wire.Error) {
	if s.stopping.Load() {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s is stopping", s.cfg.Name)
	}
	return &wire.WatchResponse{Canceled: true, Reason: "watch cancelled"}, nil
}

// maxWatchEvents bounds the events of one watch message.
const maxWatchEvents = 1000

// watchMessage returns how many of evs (one shard's, in revision order) go
// in the next message: at least one, at most maxWatchEvents, and no more
// than maxBytes of them (wire.Event.Size) unless the first alone is. frag
// reports that the message ends inside a revision, which goes on in the
// next message.
func watchMessage(evs []wire.Event, maxBytes int) (n int, frag bool) {
	size := 0
	for n < len(evs) && n < maxWatchEvents {
		if size += evs[n].Size(); n > 0 && size > maxBytes {
			break
		}
		n++
	}
	return n, n < len(evs) && evs[n].Kv.ModRevision == evs[n-1].Kv.ModRevision
}

func filterEvents(evs []wire.Event, req *wire.WatchRequest) []wire.Event {
	out := evs[:0:0]
	for _, e := range evs {
		if (e.Type == wire.EventPut && req.NoPut) || (e.Type == wire.EventDelete && req.NoDelete) {
			continue
		}
		if !req.PrevKV {
			e.PrevKv = nil
		}
		out = append(out, e)
	}
	return out
}

// feedShard delivers one shard's events from revision next on: history
// from the store, then live events from w, falling back to the store
// whenever w lags. Events are emitted whole revisions at a time. It
// returns when emit refuses, ctx ends or the member stops.
func (s *Core) feedShard(ctx context.Context, shard uint32, w *watcher, req *wire.WatchRequest, next int64, emit func([]wire.Event, *wire.Error) bool) {
	window := int64(historyWindow)
	catchUp := func() bool {
		for {
			cur, compacted := s.shards[shard].Revision()
			if next > cur {
				return true
			}
			// Recent events come from memory. w was subscribed before
			// this, so whatever is published after it reaches w.
			if next > compacted {
				if evs, last, ok := s.hub.recent[shard].since(next, req.Key, req.RangeEnd); ok {
					if len(evs) > 0 && !emit(evs, nil) {
						return false
					}
					next = max(next, last+1)
					return true
				}
			}
			to := min(cur, next+window-1)
			evs, more, err := s.shards[shard].History(req.Key, req.RangeEnd, next, to, true, historyPage)
			if err != nil {
				werr, ok := err.(*wire.Error)
				if !ok {
					werr = wire.Errorf(wire.CodeUnavailable, "watch: %v", err)
				} else if werr.Code == wire.CodeCompacted {
					werr = &wire.Error{Code: wire.CodeCompacted, CompactRevision: werr.CompactRevision,
						Message: fmt.Sprintf("watch: required revision %d has been compacted (compact revision %d)", next, werr.CompactRevision)}
				}
				emit(nil, werr)
				return false
			}
			size := 0
			for i := range evs {
				size += evs[i].Size()
			}
			switch {
			case size > 4*s.cfg.MaxResponseBytes:
				window = max(window/2, 1)
			case !more && len(evs) < historyPage/2 && size < s.cfg.MaxResponseBytes:
				window = min(window*2, historyWindowMax)
			}
			if len(evs) > 0 {
				if !emit(evs, nil) {
					return false
				}
				next = evs[len(evs)-1].Kv.ModRevision + 1
			}
			if !more {
				next = max(next, to+1)
				if to == cur {
					return true
				}
			}
		}
	}
	if !catchUp() {
		return
	}
	for {
		if w.lagging.Load() {
			// Drop what is buffered and read it from the store instead.
			for drained := false; !drained; {
				select {
				case <-w.ch:
				default:
					drained = true
				}
			}
			w.lagging.Store(false)
			if !catchUp() {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.stopc:
			return
		case evs := <-w.ch:
			i := 0
			for i < len(evs) && evs[i].Kv.ModRevision < next {
				i++
			}
			evs = evs[i:]
			if len(evs) == 0 {
				continue
			}
			if !emit(evs, nil) {
				return
			}
			next = evs[len(evs)-1].Kv.ModRevision + 1
		}
	}
}
