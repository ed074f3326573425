package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	recipe "go.etcd.io/etcd/client/v3/experimental/recipes"
	"go.uber.org/zap"
)

// EtcdTarget runs workloads through etcd's official Go client, its
// concurrency package (sessions, mutexes, elections) and its
// experimental/recipes package (queue, double barrier): what an etcd
// user would run.
type EtcdTarget struct {
	Endpoints   []string
	DialTimeout time.Duration
	TLS         *tls.Config
	// RoundRobin gives every client all the endpoints (see Dial).
	RoundRobin bool
}

// Name implements Target.
func (t *EtcdTarget) Name() string { return "etcd" }

// Supports implements the target check: the rwlock and semaphore
// workloads are Coord's only (etcd's concurrency package has mutexes and
// elections, no read-write lock and no counting semaphore).
func (t *EtcdTarget) Supports(workload string) error {
	switch workload {
	case "rwlock":
		return &UnsupportedError{Workload: workload, Primitive: "read-write lock", Target: t.Name()}
	case "semaphore":
		return &UnsupportedError{Workload: workload, Primitive: "semaphore", Target: t.Name()}
	}
	return nil
}

// Dial implements Target. Connection i is a clientv3 client of endpoint
// i mod len(Endpoints) alone, as the Coord target's connection i is one
// connection to that member: --conns N is N connections for both. With
// RoundRobin it lists every endpoint, starting there, and clientv3
// balances each call over a connection to every member (N × members
// connections, as an application giving clientv3 every endpoint has).
func (t *EtcdTarget) Dial(ctx context.Context, i int) (Conn, error) {
	eps := t.connEndpoints(i)
	dt := t.DialTimeout
	if dt <= 0 {
		dt = 2 * time.Second
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: dt,
		TLS:         t.TLS,
		Context:     context.Background(),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	// Fail now on a dead cluster rather than in every operation.
	sctx, cancel := context.WithTimeout(ctx, dt)
	defer cancel()
	if _, err := c.Status(sctx, eps[0]); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd at %s: %w", eps[0], err)
	}
	return &etcdConn{c: c}, nil
}

// connEndpoints are the endpoints of connection i (see Dial).
func (t *EtcdTarget) connEndpoints(i int) []string {
	n := len(t.Endpoints)
	if !t.RoundRobin {
		return []string{t.Endpoints[i%n]}
	}
	eps := make([]string, 0, n)
	for j := 0; j < n; j++ {
		eps = append(eps, t.Endpoints[(i+j)%n])
	}
	return eps
}

type etcdConn struct{ c *clientv3.Client }

func (c *etcdConn) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Put(ctx, key, string(value))
	return err
}

func (c *etcdConn) Get(ctx context.Context, key string) (bool, error) {
	r, err := c.c.Get(ctx, key)
	if err != nil {
		return false, err
	}
	return len(r.Kvs) > 0, nil
}

func (c *etcdConn) CAS(ctx context.Context, key string, modRev int64, value []byte) (bool, int64, error) {
	r, err := c.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpPut(key, string(value))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, 0, err
	}
	if r.Succeeded {
		return true, r.Header.Revision, nil
	}
	if len(r.Responses) == 1 {
		if rr := r.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) == 1 {
			return false, rr.Kvs[0].ModRevision, nil
		}
	}
	return false, 0, nil
}

func (c *etcdConn) Grant(ctx context.Context, ttl time.Duration, _ string) (int64, error) {
	r, err := c.c.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return 0, err
	}
	return int64(r.ID), nil
}

func (c *etcdConn) KeepAliveOnce(ctx context.Context, id int64) error {
	_, err := c.c.KeepAliveOnce(ctx, clientv3.LeaseID(id))
	return err
}

func (c *etcdConn) Revoke(ctx context.Context, id int64) error {
	_, err := c.c.Revoke(ctx, clientv3.LeaseID(id))
	return err
}

func (c *etcdConn) Watch(ctx context.Context, prefix string) (<-chan WatchEvent, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := c.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithFilterDelete(), clientv3.WithCreatedNotify())
	select {
	case wr, ok := <-wch:
		if !ok || wr.Canceled || !wr.Created {
			cancel()
			if ok && wr.Err() != nil {
				return nil, wr.Err()
			}
			return nil, fmt.Errorf("etcd watch on %q was not established", prefix)
		}
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	out := make(chan WatchEvent, 1024)
	go func() {
		defer cancel()
		defer close(out)
		for wr := range wch {
			for _, ev := range wr.Events {
				select {
				case out <- WatchEvent{Key: ev.Kv.Key, Value: ev.Kv.Value}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (c *etcdConn) NewSession(ctx context.Context, ttl time.Duration) (Session, error) {
	s, err := concurrency.NewSession(c.c, concurrency.WithTTL(int(ttlSeconds(ttl))), concurrency.WithContext(context.Background()))
	if err != nil {
		return nil, err
	}
	return &etcdSession{s: s}, nil
}

func (c *etcdConn) Queue(name string) (Queue, error) {
	return &etcdQueue{q: recipe.NewQueue(c.c, "/"+name)}, nil
}

func (c *etcdConn) Close() error { return c.c.Close() }

type etcdSession struct{ s *concurrency.Session }

// Names become key prefixes: "/NAME".
func (s *etcdSession) Mutex(name string) Mutex { return concurrency.NewMutex(s.s, "/"+name) }

func (s *etcdSession) Election(name string) Election {
	return &etcdElection{e: concurrency.NewElection(s.s, "/"+name)}
}

func (s *etcdSession) Barrier(name string, n int) (Barrier, error) {
	return &etcdBarrier{b: recipe.NewDoubleBarrier(s.s, "/"+name, n)}, nil
}

func (s *etcdSession) Close() error { return s.s.Close() }

type etcdElection struct{ e *concurrency.Election }

func (e *etcdElection) Campaign(ctx context.Context, value string) error {
	return e.e.Campaign(ctx, value)
}

func (e *etcdElection) Resign(ctx context.Context) error { return e.e.Resign(ctx) }

// The recipes take no context: run them aside and give up on ctx (the
// call then ends when the client closes).
func withCtx(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type etcdQueue struct{ q *recipe.Queue }

func (q *etcdQueue) Enqueue(ctx context.Context, value []byte) error {
	return withCtx(ctx, func() error { return q.q.Enqueue(string(value)) })
}

func (q *etcdQueue) Dequeue(ctx context.Context) ([]byte, func(context.Context) error, error) {
	var v string
	err := withCtx(ctx, func() error {
		var err error
		v, err = q.q.Dequeue()
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	// The recipe deletes the item as it dequeues it: nothing to ack.
	return []byte(v), func(context.Context) error { return nil }, nil
}

type etcdBarrier struct{ b *recipe.DoubleBarrier }

func (b *etcdBarrier) Enter(ctx context.Context) error { return withCtx(ctx, b.b.Enter) }
func (b *etcdBarrier) Leave(ctx context.Context) error { return withCtx(ctx, b.b.Leave) }
