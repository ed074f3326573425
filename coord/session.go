package coord

import (
	"context"
	"errors"
	"fmt"
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

// SessionMargin is how long before the cluster could possibly expire a
// lease of TTL ttl a Session stops counting itself alive:
// max(250 ms, ttl/10).
//
// The cluster never expires a lease early: each member's lessor counts a
// renewal from the moment it applied it, which is after the client sent
// it, and a member that becomes leader first gives every lease a full TTL
// (coord/server/lessor.go). So a lease whose renewal was sent at S lives
// at least until S+ttl on the leader's clock. The margin covers what is
// left: the client's clock running slower than the leader's over one TTL
// (well-behaved clocks differ by far less than 0.1%; ttl/10 covers a
// hundred times that), and the time from the deadline until what the
// session guards has stopped (a timer firing late on a loaded machine,
// the kill, the kernel tearing a process down), which the 250 ms floor
// covers.
func SessionMargin(ttl time.Duration) time.Duration {
	return max(250*time.Millisecond, ttl/10)
}

// Session is what applications hold while they own something in Coord: a
// lock, a leadership, a place at a barrier. It has one TTL and one
// keep-alive loop, and lazily one lease per shard it touches (a key can
// only be attached to a lease of its own shard).
//
// A Session keeps a conservative deadline (Chubby's rule, DESIGN §3): it
// counts itself alive only until the send time of the last renewal the
// cluster acknowledged, plus the TTL, minus SessionMargin. Done is closed
// at that deadline at the latest, whatever the network does — even if the
// connection went silent and no answer ever comes — so whatever is
// guarded by the session can stop before the cluster can expire the lease
// and hand what it held to someone else. Done also closes when the
// cluster says a lease is gone, or when the session is closed.
//
// Renewals go out every TTL/4, each attempt bounded by TTL/4 (at most 5
// s); an attempt that times out drops the connection, so the next dials
// again (the next endpoint). A healthy session therefore renews a few
// times before its deadline comes near.
//
// Goroutines: one keep-alive loop, which reads and updates the lease
// table under mu; a timer (time.AfterFunc) that closes Done at the
// deadline.
type Session struct {
	c   *Client
	ttl int64

	mu      sync.Mutex
	leases  map[uint32]*sessionLease // shard → lease
	kick    chan struct{}            // wakes the loop when a lease is added
	done    chan struct{}
	lost    error
	expires *time.Timer // closes done at the deadline; nil until a lease exists
	cancel  context.CancelFunc
	loopWG  sync.WaitGroup
}

// sessionLease is one lease of a Session and what the client knows of it.
type sessionLease struct {
	id  int64
	ttl time.Duration // as granted
	// renewed is the send time of the last grant or renewal whose answer
	// said the lease was alive: the cluster keeps it until renewed+ttl at
	// least.
	renewed time.Time
}

func (l *sessionLease) deadline() time.Time {
	return l.renewed.Add(l.ttl - SessionMargin(l.ttl))
}

// NewSession starts a session on c.
func NewSession(c *Client, opts ...SessionOption) (*Session, error) {
	s := &Session{c: c, ttl: DefaultSessionTTL, leases: map[uint32]*sessionLease{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
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

// Done is closed when the session has lost a lease, reached its deadline
// or was closed.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why Done was closed (nil while the session is alive).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// Deadline returns the time until which the session counts itself alive:
// Done closes then unless a renewal moves it on. It is the zero time
// while the session has no lease (it guards nothing yet). It only ever
// moves forward while the session lives.
func (s *Session) Deadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadlineLocked()
}

func (s *Session) deadlineLocked() time.Time {
	var dl time.Time
	for _, l := range s.leases {
		if d := l.deadline(); dl.IsZero() || d.Before(dl) {
			dl = d
		}
	}
	return dl
}

// errSessionDeadline is why a session whose renewals went unanswered ends.
func errSessionDeadline(ttl time.Duration) error {
	return errors.Join(ErrLeaseNotFound, fmt.Errorf("coord: session not renewed in time (no renewal acknowledged within its TTL of %s less a margin of %s)", ttl, SessionMargin(ttl)))
}

// checkDeadline runs on the expiry timer: it ends the session if its
// deadline has passed, or sets the timer again for a deadline that moved.
func (s *Session) checkDeadline() {
	s.mu.Lock()
	dl := s.deadlineLocked()
	if dl.IsZero() {
		s.mu.Unlock()
		return
	}
	if left := time.Until(dl); left > 0 {
		s.expires.Reset(left)
		s.mu.Unlock()
		return
	}
	ttl := s.minTTLLocked()
	s.mu.Unlock()
	s.end(errSessionDeadline(ttl))
}

// armLocked makes the expiry timer fire at the deadline at the latest.
func (s *Session) armLocked() {
	left := time.Until(s.deadlineLocked())
	if s.expires == nil {
		s.expires = time.AfterFunc(left, s.checkDeadline)
		return
	}
	s.expires.Reset(left)
}

func (s *Session) minTTLLocked() time.Duration {
	ttl := time.Duration(s.ttl) * time.Second
	for _, l := range s.leases {
		ttl = min(ttl, l.ttl)
	}
	return ttl
}

func (s *Session) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		s.lost = err
		close(s.done)
		if s.expires != nil {
			s.expires.Stop()
		}
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
	if l, ok := s.leases[shard]; ok {
		s.mu.Unlock()
		return l.id, nil
	}
	s.mu.Unlock()
	sent := time.Now()
	resp, err := s.c.Grant(ctx, s.ttl, WithLeaseKey(key))
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if l, ok := s.leases[shard]; ok {
		// Another caller won the race: keep its lease, drop ours.
		s.mu.Unlock()
		_, _ = s.c.Revoke(ctx, resp.ID)
		return l.id, nil
	}
	if s.lost != nil {
		err := s.lost
		s.mu.Unlock()
		_, _ = s.c.Revoke(ctx, resp.ID)
		return 0, err
	}
	ttl := time.Duration(s.ttl) * time.Second
	if resp.TTL > 0 {
		ttl = time.Duration(resp.TTL) * time.Second
	}
	s.leases[shard] = &sessionLease{id: resp.ID, ttl: ttl, renewed: sent}
	s.armLocked()
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
	for _, l := range s.leases {
		ids = append(ids, l.id)
	}
	return ids
}

// renewEvery is the keep-alive interval and the bound of one attempt:
// TTL/4, at most 5 s for the attempt.
func (s *Session) renewEvery() (interval, attempt time.Duration) {
	s.mu.Lock()
	ttl := s.minTTLLocked()
	s.mu.Unlock()
	interval = ttl / 4
	return interval, min(interval, 5*time.Second)
}

func (s *Session) loop(ctx context.Context) {
	defer s.loopWG.Done()
	for {
		interval, attempt := s.renewEvery()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-s.kick:
			t.Stop()
			continue // a new lease: restart the interval
		}
		if ids := s.Leases(); len(ids) > 0 && !s.renew(ctx, ids, attempt) {
			return
		}
	}
}

// renew renews ids, attempt after attempt, until one succeeds (true) or
// the session ends (false). Done closes at the deadline by itself; an
// unanswered attempt gives up after attempt and drops its connection.
func (s *Session) renew(ctx context.Context, ids []int64, attempt time.Duration) bool {
	for {
		select {
		case <-s.done:
			return false
		default:
		}
		sent := time.Now()
		cn := s.c.currentConn()
		actx, cancel := context.WithTimeout(ctx, attempt)
		resp, err := s.c.keepAlive(actx, ids)
		cancel()
		switch {
		case err == nil:
			return s.renewed(ids, sent, resp)
		case errors.Is(err, ErrClosed):
			s.end(ErrClosed)
			return false
		case ctx.Err() != nil:
			return false
		case errors.Is(err, ErrTimeout):
			// No answer within the attempt: the connection may have gone
			// silent. Dial again (the next endpoint) rather than wait on it.
			if cn != nil {
				s.c.dropConn(cn)
			}
		default:
			pause := time.NewTimer(min(attempt, 100*time.Millisecond))
			select {
			case <-ctx.Done():
				pause.Stop()
				return false
			case <-pause.C:
			}
		}
	}
}

// renewed records a keep-alive answer for ids sent at sent; false when it
// says a lease is gone (the session then ends).
func (s *Session) renewed(ids []int64, sent time.Time, resp *LeaseKeepAliveResponse) bool {
	ttls := make(map[int64]int64, len(resp.IDs))
	for i, id := range resp.IDs {
		if i < len(resp.TTLs) {
			ttls[id] = resp.TTLs[i]
		}
	}
	for _, id := range ids {
		if ttls[id] <= 0 {
			s.end(errors.Join(ErrLeaseNotFound, fmt.Errorf("coord: session lease %016x expired", id)))
			return false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.leases {
		if ttl, ok := ttls[l.id]; ok && sent.After(l.renewed) {
			l.renewed = sent
			l.ttl = time.Duration(ttl) * time.Second
		}
	}
	return true
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
