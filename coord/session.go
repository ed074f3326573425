package coord

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// DefaultSessionTTL is the TTL of a Session's leases, in seconds.
const DefaultSessionTTL = 60

// SessionOption configures a Session.
type SessionOption func(*Session)

// WithTTL sets the TTL of the session's leases in seconds.
func WithTTL(seconds int64) SessionOption { return func(s *Session) { s.ttl = seconds } }

// Session is what applications hold while they own something in Coord: a
// lock, a leadership, a place at a barrier. It has one TTL and one
// keep-alive loop, and lazily one lease per shard it touches (a key can
// only be attached to a lease of its own shard). When any of its leases is
// lost — the cluster expired it because renewals did not arrive in time —
// Done is closed and everything attached to the session is gone.
//
// Goroutines: one keep-alive loop, which owns nothing but reads the lease
// table under mu.
type Session struct {
	c   *Client
	ttl int64

	mu     sync.Mutex
	leases map[uint32]int64 // shard → lease ID
	kick   chan struct{}    // wakes the loop when a lease is added
	done   chan struct{}
	lost   error
	cancel context.CancelFunc
	loopWG sync.WaitGroup
}

// NewSession starts a session on c.
func NewSession(c *Client, opts ...SessionOption) (*Session, error) {
	s := &Session{c: c, ttl: DefaultSessionTTL, leases: map[uint32]int64{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	for _, f := range opts {
		f(s)
	}
	if s.ttl < 1 {
		return nil, errors.New("coord: session TTL must be at least 1 second")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.loopWG.Add(1)
	go s.loop(ctx)
	return s, nil
}

// Client returns the session's client.
func (s *Session) Client() *Client { return s.c }

// TTL returns the session's lease TTL in seconds.
func (s *Session) TTL() int64 { return s.ttl }

// Done is closed when the session has lost a lease or was closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why Done was closed (nil while the session is alive).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

func (s *Session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		s.lost = err
		close(s.done)
	}
}

// Lease returns the session's lease in the shard of key, granting it on
// first use.
func (s *Session) Lease(ctx context.Context, key string) (int64, error) {
	shards, err := s.c.shardCount(ctx)
	if err != nil {
		return 0, err
	}
	shard := wire.ShardOf([]byte(key), shards)
	s.mu.Lock()
	if s.lost != nil {
		err := s.lost
		s.mu.Unlock()
		return 0, err
	}
	if id, ok := s.leases[shard]; ok {
		s.mu.Unlock()
		return id, nil
	}
	s.mu.Unlock()
	resp, err := s.c.Grant(ctx, s.ttl, WithLeaseKey(key))
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if id, ok := s.leases[shard]; ok {
		// Another caller won the race: keep its lease, drop ours.
		s.mu.Unlock()
		_, _ = s.c.Revoke(ctx, resp.ID)
		return id, nil
	}
	s.leases[shard] = resp.ID
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return resp.ID, nil
}

// Leases returns the session's leases.
func (s *Session) Leases() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(s.leases))
	for _, id := range s.leases {
		ids = append(ids, id)
	}
	return ids
}

func (s *Session) loop(ctx context.Context) {
	defer s.loopWG.Done()
	ttl := time.Duration(s.ttl) * time.Second
	last := time.Now()
	for {
		t := time.NewTimer(ttl / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.kick:
			t.Stop()
			continue // a new lease: restart the interval
		}
		ids := s.Leases()
		if len(ids) == 0 {
			last = time.Now()
			continue
		}
		actx, cancel := context.WithTimeout(ctx, ttl/3+time.Second)
		resp, err := s.c.keepAlive(actx, ids)
		cancel()
		if err != nil {
			if errors.Is(err, ErrClosed) {
				s.end(ErrClosed)
				return
			}
			if time.Since(last) > ttl {
				s.end(errors.Join(ErrLeaseNotFound, errors.New("coord: session lease not renewed for a whole TTL")))
				return
			}
			continue
		}
		for i, ttlLeft := range resp.TTLs {
			if ttlLeft <= 0 && i < len(resp.IDs) {
				s.end(errors.Join(ErrLeaseNotFound, errors.New("coord: session lease expired")))
				return
			}
		}
		last = time.Now()
	}
}

// Close ends the session: it stops renewing and revokes its leases, which
// releases everything attached to them.
func (s *Session) Close() error {
	s.cancel()
	s.loopWG.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, id := range s.Leases() {
		if _, err := s.c.Revoke(ctx, id); err != nil && !errors.Is(err, ErrLeaseNotFound) {
			errs = append(errs, err)
		}
	}
	s.end(ErrClosed)
	return errors.Join(errs...)
}

// Orphan stops renewing without revoking: the leases expire after their
// TTL. Useful to hand ownership over to a process that will end.
func (s *Session) Orphan() {
	s.cancel()
	s.loopWG.Wait()
	s.end(ErrClosed)
}
