package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// workloadInfo describes one workload for the registry.
type workloadInfo struct {
	help        string
	unit        string // what one operation is
	defaultKeys int
	usesKeys    bool
	usesValues  bool
	usesTTL     bool
	make        func(Config) Workload
}

// workloadOrder is the order workloads are listed in.
var workloadOrder = []string{"put", "get", "txn", "lock", "lock-contended", "rwlock", "elect", "queue", "barrier", "watch", "lease", "semaphore"}

var workloads = map[string]workloadInfo{
	"put": {help: "put random keys (--keys, --value-size)", unit: "put",
		defaultKeys: 100000, usesKeys: true, usesValues: true,
		make: func(Config) Workload { return &kvWorkload{mode: "put"} }},
	"get": {help: "linearizable get of random preloaded keys", unit: "linearizable get",
		defaultKeys: 10000, usesKeys: true, usesValues: true,
		make: func(Config) Workload { return &kvWorkload{mode: "get"} }},
	"txn": {help: "compare-and-swap transaction (mod revision) on random preloaded keys", unit: "CAS txn",
		defaultKeys: 1000, usesKeys: true, usesValues: true,
		make: func(Config) Workload { return &kvWorkload{mode: "txn"} }},
	"lock": {help: "acquire+release a lock chosen among --keys names, one session per client", unit: "acquire+release",
		defaultKeys: 1000, usesKeys: true, usesTTL: true,
		make: func(Config) Workload { return &lockWorkload{} }},
	"lock-contended": {help: "acquire+release one lock from every client (hand-offs)", unit: "acquire+release of one lock",
		defaultKeys: 1, usesTTL: true,
		make: func(Config) Workload { return &lockWorkload{contended: true} }},
	"rwlock": {help: "read-write lock among --keys names: 90% read (RLock+RUnlock), 10% write (Lock+Unlock); Coord only", unit: "acquire+release",
		defaultKeys: 8, usesKeys: true, usesTTL: true,
		make: func(Config) Workload { return &rwlockWorkload{} }},
	"elect": {help: "campaign+resign in an election chosen among --keys names", unit: "campaign+resign",
		defaultKeys: 1000, usesKeys: true, usesTTL: true,
		make: func(Config) Workload { return &electWorkload{} }},
	"queue": {help: "half the clients enqueue, half dequeue+ack; latency enqueue → ack", unit: "item enqueued, dequeued and acked",
		usesValues: true,
		make:       func(Config) Workload { return &queueWorkload{} }},
	"barrier": {help: "rounds of a double barrier of all clients: enter+leave", unit: "enter+leave of one participant", usesTTL: true,
		make: func(Config) Workload { return &barrierWorkload{} }},
	"watch": {help: "put under a prefix that --watchers watches see; latency put → event, per watcher", unit: "put seen by every watcher",
		defaultKeys: 100, usesKeys: true, usesValues: true,
		make: func(Config) Workload { return &watchWorkload{} }},
	"semaphore": {help: "acquire+release a permit of one semaphore of --limit permits (default clients/4) from every client (coord only)", unit: "acquire+release of one permit",
		usesTTL: true,
		make:    func(Config) Workload { return &semaphoreWorkload{} }},
	"lease": {help: "keep --sessions leases alive (open loop at sessions×3/ttl renewals/s unless --rate)", unit: "lease keep-alive", usesTTL: true,
		make: func(Config) Workload { return &leaseWorkload{} }},
}

// WorkloadNames lists the workloads, comma separated.
func WorkloadNames() string { return strings.Join(workloadOrder, ", ") }

// WorkloadHelp returns one "name  description" line per workload.
func WorkloadHelp() string {
	var b strings.Builder
	for _, n := range workloadOrder {
		fmt.Fprintf(&b, "   %-15s %s\n", n, workloads[n].help)
	}
	return b.String()
}

// UnsupportedError says that a target cannot run a workload.
type UnsupportedError struct {
	Workload, Primitive, Target string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("workload %s needs the %s primitive, not available in this build of %s", e.Workload, e.Primitive, e.Target)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// errUncounted, returned by Op, means the operation is not one of the
// workload's units (a queue producer's enqueue): Run neither counts it
// nor times it.
var errUncounted = errors.New("bench: uncounted operation")

// nameSafe turns a key prefix into a lock/election name prefix: names may
// not contain '{' or '}'. ('/' is allowed now; it still becomes '-' so
// the names stay those of earlier runs.)
func nameSafe(prefix string) string {
	return strings.NewReplacer("/", "-", "{", "", "}", "").Replace(prefix)
}

// value returns a value of size n whose first 8 bytes are v.
func stampedValue(n int, v uint64) []byte {
	b := make([]byte, max(n, 8))
	binary.BigEndian.PutUint64(b, v)
	for i := 8; i < len(b); i++ {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// parallel runs f(i) for i in [0, n) on up to workers goroutines and
// returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// ---- put, get, txn ----

type kvWorkload struct {
	mode  string
	env   *Env
	keys  []string
	value []byte
	revs  []atomic.Int64 // txn: the last mod revision seen per key

	casOK, casFailed atomic.Int64
}

func (k *kvWorkload) Setup(ctx context.Context, env *Env) error {
	k.env = env
	cfg := env.Cfg
	k.keys = make([]string, cfg.Keys)
	for i := range k.keys {
		k.keys[i] = fmt.Sprintf("%s%s/%08d", cfg.Prefix, k.mode, i)
	}
	k.value = stampedValue(cfg.ValueSize, 0)
	switch k.mode {
	case "get":
		return parallel(ctx, len(k.keys), cfg.Clients, func(ctx context.Context, i int) error {
			return env.Conn(i).Put(ctx, k.keys[i], k.value)
		})
	case "txn":
		k.revs = make([]atomic.Int64, len(k.keys))
		return parallel(ctx, len(k.keys), cfg.Clients, func(ctx context.Context, i int) error {
			// Creates the key, or learns its revision if it exists.
			_, rev, err := env.Conn(i).CAS(ctx, k.keys[i], 0, k.value)
			k.revs[i].Store(rev)
			return err
		})
	}
	return nil
}

func (k *kvWorkload) Op(ctx context.Context, w int) error {
	i := rand.IntN(len(k.keys))
	c := k.env.Conn(w)
	switch k.mode {
	case "put":
		return c.Put(ctx, k.keys[i], k.value)
	case "get":
		found, err := c.Get(ctx, k.keys[i])
		if err == nil && !found {
			err = fmt.Errorf("preloaded key %s not found", k.keys[i])
		}
		return err
	default:
		ok, rev, err := c.CAS(ctx, k.keys[i], k.revs[i].Load(), k.value)
		if err != nil {
			return err
		}
		k.revs[i].Store(rev)
		if ok {
			k.casOK.Add(1)
		} else {
			k.casFailed.Add(1)
		}
		return nil
	}
}

func (k *kvWorkload) Teardown(context.Context) error { return nil }

func (k *kvWorkload) Extra() map[string]any {
	if k.mode != "txn" {
		return nil
	}
	return map[string]any{"cas_succeeded": k.casOK.Load(), "cas_failed": k.casFailed.Load()}
}

// ---- sessions shared by lock, elect, barrier ----

// openSessions opens one session per worker, on the worker's connection.
func openSessions(ctx context.Context, env *Env) ([]Session, error) {
	ss := make([]Session, env.Cfg.Clients)
	err := parallel(ctx, len(ss), 32, func(ctx context.Context, w int) error {
		s, err := env.Conn(w).NewSession(ctx, env.Cfg.TTL)
		ss[w] = s
		return err
	})
	return ss, err
}

func closeSessions(ss []Session) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, s := range ss {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ---- lock, lock-contended ----

type lockWorkload struct {
	contended bool
	names     []string
	sessions  []Session
}

func (l *lockWorkload) Setup(ctx context.Context, env *Env) error {
	n := env.Cfg.Keys
	if l.contended {
		n = 1
	}
	for i := 0; i < n; i++ {
		l.names = append(l.names, fmt.Sprintf("%slock-%d", nameSafe(env.Cfg.Prefix), i))
	}
	var err error
	l.sessions, err = openSessions(ctx, env)
	return err
}

func (l *lockWorkload) Op(ctx context.Context, w int) error {
	m := l.sessions[w].Mutex(l.names[rand.IntN(len(l.names))])
	if err := m.Lock(ctx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if err := m.Unlock(ctx); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

func (l *lockWorkload) Teardown(context.Context) error { return closeSessions(l.sessions) }

// ---- rwlock ----

// rwlockWritePercent is the share of writers among the rwlock workload's
// operations.
const rwlockWritePercent = 10

type rwlockWorkload struct {
	names         []string
	sessions      []RWSession
	all           []Session
	reads, writes atomic.Int64
}

func (l *rwlockWorkload) Setup(ctx context.Context, env *Env) error {
	for i := 0; i < env.Cfg.Keys; i++ {
		l.names = append(l.names, fmt.Sprintf("%srwlock-%d", nameSafe(env.Cfg.Prefix), i))
	}
	var err error
	if l.all, err = openSessions(ctx, env); err != nil {
		return err
	}
	for _, s := range l.all {
		rs, ok := s.(RWSession)
		if !ok {
			return &UnsupportedError{Workload: "rwlock", Primitive: "read-write lock", Target: fmt.Sprintf("%T", s)}
		}
		l.sessions = append(l.sessions, rs)
	}
	return nil
}

func (l *rwlockWorkload) Op(ctx context.Context, w int) error {
	m := l.sessions[w].RWMutex(l.names[rand.IntN(len(l.names))])
	if rand.IntN(100) < rwlockWritePercent {
		l.writes.Add(1)
		if err := m.Lock(ctx); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if err := m.Unlock(ctx); err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
		return nil
	}
	l.reads.Add(1)
	if err := m.RLock(ctx); err != nil {
		return fmt.Errorf("rlock: %w", err)
	}
	if err := m.RUnlock(ctx); err != nil {
		return fmt.Errorf("runlock: %w", err)
	}
	return nil
}

func (l *rwlockWorkload) Extra() map[string]any {
	return map[string]any{"reads": l.reads.Load(), "writes": l.writes.Load()}
}

func (l *rwlockWorkload) Teardown(context.Context) error { return closeSessions(l.all) }

// ---- elect ----

type electWorkload struct {
	names    []string
	sessions []Session
}

func (e *electWorkload) Setup(ctx context.Context, env *Env) error {
	for i := 0; i < env.Cfg.Keys; i++ {
		e.names = append(e.names, fmt.Sprintf("%select-%d", nameSafe(env.Cfg.Prefix), i))
	}
	var err error
	e.sessions, err = openSessions(ctx, env)
	return err
}

func (e *electWorkload) Op(ctx context.Context, w int) error {
	el := e.sessions[w].Election(e.names[rand.IntN(len(e.names))])
	if err := el.Campaign(ctx, fmt.Sprintf("candidate-%d", w)); err != nil {
		return fmt.Errorf("campaign: %w", err)
	}
	if err := el.Resign(ctx); err != nil {
		return fmt.Errorf("resign: %w", err)
	}
	return nil
}

func (e *electWorkload) Teardown(context.Context) error { return closeSessions(e.sessions) }

// ---- barrier ----

// barrierWorkload runs rounds of a double barrier of every client: in
// round r each worker enters barrier r and leaves it.
type barrierWorkload struct {
	env      *Env
	base     string
	sessions []Session
	rounds   []int // per worker
}

func (b *barrierWorkload) Setup(ctx context.Context, env *Env) error {
	b.env = env
	b.base = fmt.Sprintf("%sbarrier-%d-", nameSafe(env.Cfg.Prefix), time.Now().UnixNano())
	b.rounds = make([]int, env.Cfg.Clients)
	// Probe for support before opening sessions.
	if err := probeBarrier(ctx, env); err != nil {
		return err
	}
	var err error
	b.sessions, err = openSessions(ctx, env)
	return err
}

func probeBarrier(ctx context.Context, env *Env) error {
	s, err := env.Conn(0).NewSession(ctx, env.Cfg.TTL)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Barrier("probe", 1)
	return err
}

func (b *barrierWorkload) Op(ctx context.Context, w int) error {
	br, err := b.sessions[w].Barrier(fmt.Sprintf("%s%d", b.base, b.rounds[w]), b.env.Cfg.Clients)
	if err != nil {
		return err
	}
	b.rounds[w]++
	if err := br.Enter(ctx); err != nil {
		return fmt.Errorf("enter: %w", err)
	}
	if err := br.Leave(ctx); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	return nil
}

func (b *barrierWorkload) Teardown(context.Context) error { return closeSessions(b.sessions) }

func (b *barrierWorkload) Extra() map[string]any {
	return map[string]any{"participants_per_round": b.env.Cfg.Clients}
}

// ---- queue ----

// queueWorkload: even workers produce, odd workers consume. A consumer's
// operation (dequeue + ack) is the unit; its latency runs from the
// enqueue (a timestamp in the value) to the ack. Producers keep the
// backlog near twice the number of consumers so the queue does not grow
// without bound.
type queueWorkload struct {
	env       *Env
	queues    []Queue
	consumers int
	enq, deq  atomic.Int64
}

func (q *queueWorkload) selfTimed() {}

func (q *queueWorkload) Setup(ctx context.Context, env *Env) error {
	q.env = env
	if env.Cfg.Clients < 2 {
		return errors.New("the queue workload needs at least 2 clients: half enqueue, half dequeue")
	}
	q.consumers = env.Cfg.Clients / 2
	name := fmt.Sprintf("%squeue-%d", nameSafe(env.Cfg.Prefix), time.Now().UnixNano())
	for i := range env.Conns {
		qu, err := env.Conns[i].Queue(name)
		if err != nil {
			return err
		}
		q.queues = append(q.queues, qu)
	}
	return nil
}

func (q *queueWorkload) Op(ctx context.Context, w int) error {
	qu := q.queues[w%len(q.queues)]
	if w%2 == 0 {
		for q.enq.Load()-q.deq.Load() > int64(2*q.consumers) {
			select {
			case <-ctx.Done():
				return errUncounted
			case <-time.After(200 * time.Microsecond):
			}
		}
		q.enq.Add(1)
		if err := qu.Enqueue(ctx, stampedValue(q.env.Cfg.ValueSize, uint64(time.Now().UnixNano()))); err != nil {
			q.enq.Add(-1)
			return fmt.Errorf("enqueue: %w", err)
		}
		return errUncounted
	}
	v, ack, err := qu.Dequeue(ctx)
	if err != nil {
		return fmt.Errorf("dequeue: %w", err)
	}
	q.deq.Add(1)
	if err := ack(ctx); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	if len(v) >= 8 {
		q.env.Observe(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(v)))))
	}
	return nil
}

func (q *queueWorkload) Teardown(context.Context) error {
	var errs []error
	for _, qu := range q.queues {
		if c, ok := qu.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func (q *queueWorkload) Extra() map[string]any {
	return map[string]any{"producers": q.env.Cfg.Clients - q.consumers, "consumers": q.consumers, "enqueued": q.enq.Load(), "dequeued": q.deq.Load()}
}

// ---- watch ----

// watchWorkload: each operation puts a key under the watched prefix with
// a sequence number in its value and waits until every watcher has seen
// it. Each watcher's delay is one latency sample.
type watchWorkload struct {
	env     *Env
	prefix  string
	keys    []string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	seq     atomic.Uint64
	pending sync.Map // seq → *pendingPut
	events  atomic.Int64
	stray   atomic.Int64
}

type pendingPut struct {
	start time.Time
	left  atomic.Int32
	done  chan struct{}
}

func (wl *watchWorkload) selfTimed() {}

func (wl *watchWorkload) Setup(ctx context.Context, env *Env) error {
	wl.env = env
	wl.prefix = fmt.Sprintf("%swatch-%d/", env.Cfg.Prefix, time.Now().UnixNano())
	for i := 0; i < env.Cfg.Keys; i++ {
		wl.keys = append(wl.keys, fmt.Sprintf("%s%06d", wl.prefix, i))
	}
	wctx, cancel := context.WithCancel(context.Background())
	wl.cancel = cancel
	for i := 0; i < env.Cfg.Watchers; i++ {
		ch, err := env.Conn(i).Watch(wctx, wl.prefix)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		wl.wg.Add(1)
		go wl.receive(ch)
	}
	return nil
}

func (wl *watchWorkload) receive(ch <-chan WatchEvent) {
	defer wl.wg.Done()
	for ev := range ch {
		now := time.Now()
		wl.events.Add(1)
		if len(ev.Value) < 8 {
			wl.stray.Add(1)
			continue
		}
		p, ok := wl.pending.Load(binary.BigEndian.Uint64(ev.Value))
		if !ok {
			wl.stray.Add(1)
			continue
		}
		pp := p.(*pendingPut)
		wl.env.Observe(now.Sub(pp.start))
		if pp.left.Add(-1) == 0 {
			close(pp.done)
		}
	}
}

func (wl *watchWorkload) Op(ctx context.Context, w int) error {
	seq := wl.seq.Add(1)
	p := &pendingPut{start: time.Now(), done: make(chan struct{})}
	p.left.Store(int32(wl.env.Cfg.Watchers))
	wl.pending.Store(seq, p)
	defer wl.pending.Delete(seq)
	if err := wl.env.Conn(w).Put(ctx, wl.keys[rand.IntN(len(wl.keys))], stampedValue(wl.env.Cfg.ValueSize, seq)); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d watchers did not see the put in time: %w", p.left.Load(), wl.env.Cfg.Watchers, ctx.Err())
	}
}

func (wl *watchWorkload) Teardown(context.Context) error {
	if wl.cancel != nil {
		wl.cancel()
		wl.wg.Wait()
	}
	return nil
}

func (wl *watchWorkload) Extra() map[string]any {
	return map[string]any{"watchers": wl.env.Cfg.Watchers, "events_received": wl.events.Load(), "unexpected_events": wl.stray.Load()}
}

// ---- lease ----

// leaseWorkload keeps Sessions leases alive by renewing them in turn; by
// default at the rate sessions with that TTL renew (three times per TTL).
type leaseWorkload struct {
	env    *Env
	leases []int64
	next   atomic.Uint64
}

func (l *leaseWorkload) defaultRate(cfg Config) float64 {
	return float64(cfg.Sessions) * 3 / cfg.TTL.Seconds()
}

func (l *leaseWorkload) Setup(ctx context.Context, env *Env) error {
	l.env = env
	l.leases = make([]int64, env.Cfg.Sessions)
	return parallel(ctx, len(l.leases), max(env.Cfg.Clients, 16), func(ctx context.Context, i int) error {
		id, err := env.Conn(i).Grant(ctx, env.Cfg.TTL, fmt.Sprintf("%slease/%d", env.Cfg.Prefix, i))
		l.leases[i] = id
		return err
	})
}

func (l *leaseWorkload) Op(ctx context.Context, w int) error {
	i := int((l.next.Add(1) - 1) % uint64(len(l.leases)))
	return l.env.Conn(i).KeepAliveOnce(ctx, l.leases[i])
}

func (l *leaseWorkload) Teardown(ctx context.Context) error {
	return parallel(ctx, len(l.leases), 32, func(ctx context.Context, i int) error {
		if l.leases[i] != 0 {
			_ = l.env.Conn(i).Revoke(ctx, l.leases[i])
		}
		return nil
	})
}

func (l *leaseWorkload) Extra() map[string]any {
	return map[string]any{"sessions": l.env.Cfg.Sessions, "renewals_per_s_target": round3(l.env.Cfg.Rate)}
}

// ---- semaphore ----

// SemaphoreSession is a Session whose library has counting semaphores
// (Coord's; etcd has none: the semaphore workload is not supported there).
type SemaphoreSession interface {
	// Semaphore returns a handle on semaphore name of limit permits that
	// acquires one permit.
	Semaphore(name string, limit int) Semaphore
}

// Semaphore is a handle on a counting semaphore that holds one permit at
// a time.
type Semaphore interface {
	Acquire(ctx context.Context) error
	Release(ctx context.Context) error
}

// semaphoreWorkload: every client acquires one permit of one semaphore of
// Limit permits (default a quarter of the clients, at least 1) and
// releases it, so clients contend: hand-offs happen inside the release's
// command.
type semaphoreWorkload struct {
	name     string
	limit    int
	sessions []Session
}

func (s *semaphoreWorkload) Setup(ctx context.Context, env *Env) error {
	s.limit = env.Cfg.Limit
	if s.limit == 0 {
		s.limit = max(1, env.Cfg.Clients/4)
	}
	s.name = fmt.Sprintf("%ssemaphore-%d", nameSafe(env.Cfg.Prefix), time.Now().UnixNano())
	var err error
	s.sessions, err = openSessions(ctx, env)
	if err != nil {
		return err
	}
	for _, ss := range s.sessions {
		if _, ok := ss.(SemaphoreSession); !ok {
			return &UnsupportedError{Workload: "semaphore", Primitive: "semaphore", Target: "this target"}
		}
	}
	return nil
}

func (s *semaphoreWorkload) Op(ctx context.Context, w int) error {
	sem := s.sessions[w].(SemaphoreSession).Semaphore(s.name, s.limit)
	if err := sem.Acquire(ctx); err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	if err := sem.Release(ctx); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

func (s *semaphoreWorkload) Teardown(context.Context) error { return closeSessions(s.sessions) }

func (s *semaphoreWorkload) Extra() map[string]any {
	return map[string]any{"limit": int64(s.limit)}
}
