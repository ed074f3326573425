package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coord-io/coord/barrier"
	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/queue"
)

// CoordTarget runs workloads through the Coord Go client and its
// primitive packages.
type CoordTarget struct {
	cfg coord.Config
}

// NewCoordTarget returns a target for the cluster of cfg. Connection i
// starts at endpoint i mod len(Endpoints), so connections spread over the
// members.
func NewCoordTarget(cfg coord.Config) *CoordTarget { return &CoordTarget{cfg: cfg} }

// Name implements Target.
func (t *CoordTarget) Name() string { return "coord" }

// Dial implements Target.
func (t *CoordTarget) Dial(ctx context.Context, i int) (Conn, error) {
	cfg := t.cfg
	n := len(cfg.Endpoints)
	if n > 0 {
		eps := make([]string, 0, n)
		for j := 0; j < n; j++ {
			eps = append(eps, cfg.Endpoints[(i+j)%n])
		}
		cfg.Endpoints = eps
	}
	c, err := coord.New(cfg)
	if err != nil {
		return nil, err
	}
	// Connect now, so a dead cluster fails the run before it starts.
	if _, err := c.ShardOf(ctx, ""); err != nil {
		c.Close()
		return nil, err
	}
	return &coordConn{c: c}, nil
}

type coordConn struct{ c *coord.Client }

func (c *coordConn) Put(ctx context.Context, key string, value []byte) error {
	_, err := c.c.Put(ctx, key, string(value))
	return err
}

func (c *coordConn) Get(ctx context.Context, key string) (bool, error) {
	r, err := c.c.Get(ctx, key)
	if err != nil {
		return false, err
	}
	return len(r.Kvs) > 0, nil
}

func (c *coordConn) CAS(ctx context.Context, key string, modRev int64, value []byte) (bool, int64, error) {
	r, err := c.c.Txn(ctx).
		If(coord.Compare(coord.ModRevision(key), "=", modRev)).
		Then(coord.OpPut(key, string(value))).
		Else(coord.OpGet(key)).
		Commit()
	if err != nil {
		return false, 0, err
	}
	if r.Succeeded {
		return true, r.Header.Revision, nil
	}
	if len(r.Responses) == 1 && r.Responses[0].Range != nil && len(r.Responses[0].Range.Kvs) == 1 {
		return false, r.Responses[0].Range.Kvs[0].ModRevision, nil
	}
	return false, 0, nil
}

func (c *coordConn) Grant(ctx context.Context, ttl time.Duration, key string) (int64, error) {
	r, err := c.c.Grant(ctx, ttlSeconds(ttl), coord.WithLeaseKey(key))
	if err != nil {
		return 0, err
	}
	return r.ID, nil
}

func (c *coordConn) KeepAliveOnce(ctx context.Context, id int64) error {
	_, err := c.c.KeepAliveOnce(ctx, id)
	return err
}

func (c *coordConn) Revoke(ctx context.Context, id int64) error {
	_, err := c.c.Revoke(ctx, id)
	return err
}

func (c *coordConn) Watch(ctx context.Context, prefix string) (<-chan WatchEvent, error) {
	wctx, cancel := context.WithCancel(ctx)
	wch := c.c.Watch(wctx, prefix, coord.WithPrefix(), coord.WithFilterDelete())
	// The first response says the watch is established.
	select {
	case wr, ok := <-wch:
		if !ok || wr.Canceled {
			cancel()
			if ok && wr.Err() != nil {
				return nil, wr.Err()
			}
			return nil, errors.New("watch ended before it was established")
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
				if ev.Kv == nil {
					continue
				}
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

func (c *coordConn) NewSession(ctx context.Context, ttl time.Duration) (Session, error) {
	s, err := coord.NewSession(c.c, coord.WithTTL(ttlSeconds(ttl)))
	if err != nil {
		return nil, err
	}
	return &coordSession{s: s}, nil
}

func (c *coordConn) Queue(name string) (Queue, error) {
	return &coordQueue{q: queue.New(c.c, name)}, nil
}

func (c *coordConn) Close() error { return c.c.Close() }

func ttlSeconds(d time.Duration) int64 { return max(int64((d+time.Second-1)/time.Second), 1) }

type coordSession struct{ s *coord.Session }

func (s *coordSession) Mutex(name string) Mutex { return locks.NewMutex(s.s, name) }

func (s *coordSession) RWMutex(name string) RWMutex { return locks.NewRWMutex(s.s, name) }

func (s *coordSession) Election(name string) Election {
	return &coordElection{e: election.New(s.s, name)}
}

func (s *coordSession) Barrier(name string, n int) (Barrier, error) {
	return barrier.NewDouble(s.s, name, int64(n)), nil
}

// Semaphore implements SemaphoreSession.
func (s *coordSession) Semaphore(name string, limit int) Semaphore {
	return locks.NewSemaphore(s.s, name, int64(limit))
}

func (s *coordSession) Close() error {
	if err := s.s.Close(); err != nil && !errors.Is(err, coord.ErrClosed) {
		return fmt.Errorf("closing session: %w", err)
	}
	return nil
}

type coordElection struct{ e *election.Election }

func (e *coordElection) Campaign(ctx context.Context, value string) error {
	return e.e.Campaign(ctx, value)
}

func (e *coordElection) Resign(ctx context.Context) error { return e.e.Resign(ctx) }

// coordQueue is a queue handle; its consumer session is the handle's own.
type coordQueue struct{ q *queue.Queue }

func (q *coordQueue) Enqueue(ctx context.Context, value []byte) error {
	_, err := q.q.Enqueue(ctx, string(value))
	return err
}

func (q *coordQueue) Dequeue(ctx context.Context) ([]byte, func(context.Context) error, error) {
	it, err := q.q.Dequeue(ctx)
	if err != nil {
		return nil, nil, err
	}
	return it.Value, func(ctx context.Context) error { return q.q.Ack(ctx, it) }, nil
}

func (q *coordQueue) Close() error { return q.q.Close() }
