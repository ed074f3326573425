package locks

import (
	"context"
	"errors"
	"fmt"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/semaphorerules"
)

// ErrLimitMismatch is returned (wrapped, together with coord.ErrInvalid)
// by an Acquire or TryAcquire that gives another limit than the one the
// semaphore has while it has holders or waiters: every acquirer of one
// name must agree on its limit. The message names both limits.
var ErrLimitMismatch = errors.New("locks: semaphore limit mismatch")

// Semaphore is a counting semaphore held through a Session: at most Limit
// permits of semaphore Name are held at once, by owners that each ask for
// a weight (a number of permits). Owners are granted in arrival order
// while the weight at the head of the queue fits in the permits left, so
// a large request is not starved by later small ones. The server grants
// waiters in the same replicated command that frees the permits, whether
// by Release or because a holder's session lease expired. Each grant
// carries a fencing token: the revision of the command that granted it
// (several owners granted by one command share it).
//
// One Semaphore handle holds at most one grant at a time; use one handle
// per concurrent hold.
type Semaphore struct {
	name   string
	limit  int64
	weight int64
	owner  []byte
	g      grant
}

// SemaphoreOption configures a Semaphore.
type SemaphoreOption func(*Semaphore)

// WithWeight sets the number of permits an Acquire asks for (default 1;
// 1 to the limit).
func WithWeight(w int64) SemaphoreOption { return func(m *Semaphore) { m.weight = w } }

// WithSemaphoreOwner sets the owner data shown by SemaphoreStatus while
// this Semaphore holds or waits (for example "host pid").
func WithSemaphoreOwner(owner []byte) SemaphoreOption {
	return func(m *Semaphore) { m.owner = owner }
}

// NewSemaphore returns a handle on semaphore name with limit permits,
// owned by session s. Every acquirer of one name gives the same limit
// while the semaphore has holders or waiters (ErrLimitMismatch otherwise).
func NewSemaphore(s *coord.Session, name string, limit int64, opts ...SemaphoreOption) *Semaphore {
	m := &Semaphore{name: name, limit: limit, weight: 1, g: grant{s: s}}
	for _, f := range opts {
		f(m)
	}
	return m
}

// Acquire blocks until the permits are held or ctx ends. When ctx ends
// first the waiter is removed from the queue and will never be granted. A
// wait that is cut off (a broken connection, a member that stops, the
// server's cap on one call) is resumed in its place in the queue (see
// coord.Client.Wait).
func (m *Semaphore) Acquire(ctx context.Context) error { return m.acquire(ctx, false) }

// TryAcquire takes the permits if they are free at once (nobody waits and
// the weight fits) and fails otherwise with an error wrapping
// coord.ErrLocked that says how many are held.
func (m *Semaphore) TryAcquire(ctx context.Context) error { return m.acquire(ctx, true) }

func (m *Semaphore) acquire(ctx context.Context, try bool) error {
	req := &wire.SemaphoreAcquireRequest{Name: m.name, Limit: m.limit, Weight: m.weight, Owner: m.owner, Try: try}
	if _, werr := semaphorerules.CheckAcquire(req); werr != nil {
		return fmt.Errorf("%w: %s", coord.ErrInvalid, werr.Message)
	}
	if key, _, _ := m.g.held(); key != nil {
		return fmt.Errorf("%w: semaphore %q: this handle holds permits already: Release them first, or use another handle", coord.ErrInvalid, m.name)
	}
	c := m.calls()
	c.request = func(lease int64) any {
		req.Lease = lease
		return req
	}
	c.refused = func(err error) error {
		// The request was checked above: the only argument the cluster
		// can still refuse is a limit other than the semaphore's.
		if errors.Is(err, coord.ErrInvalid) {
			return &limitMismatchError{err}
		}
		return err
	}
	return acquireGrant(ctx, &m.g, c, func(r *wire.SemaphoreAcquireResponse) ([]byte, int64) { return r.Key, r.Token })
}

// calls are the requests of m's Acquire and Release (an acquire sets
// request).
func (m *Semaphore) calls() grantCalls {
	return grantCalls{
		prefix: SemaphorePrefix(m.name),
		method: wire.MethodSemAcquire,
		resume: func(lease int64, key []byte) any {
			return &wire.SemaphoreAcquireRequest{Name: m.name, Lease: lease, Limit: m.limit, Weight: m.weight, Resume: key}
		},
		releaseMethod: wire.MethodSemRelease,
		releaseRequest: func(lease int64, key []byte) any {
			return &wire.SemaphoreReleaseRequest{Name: m.name, Key: key, Lease: lease}
		},
	}
}

// limitMismatchError is the cluster's refusal of a limit other than the
// semaphore's: it reads as the cluster's message and matches both
// ErrLimitMismatch and the error's own sentinel (coord.ErrInvalid).
type limitMismatchError struct{ err error }

func (e *limitMismatchError) Error() string   { return e.err.Error() }
func (e *limitMismatchError) Unwrap() []error { return []error{ErrLimitMismatch, e.err} }

// Release gives the permits back; the waiters that then fit are granted
// at once. It proves ownership with the session lease the permits were
// acquired with. A handle that holds nothing fails with coord.ErrNotHolder.
func (m *Semaphore) Release(ctx context.Context) error {
	return m.g.release(ctx, m.calls(), &wire.SemaphoreReleaseResponse{})
}

// Token returns the fencing token of the current grant (0 when not held).
func (m *Semaphore) Token() int64 { _, _, t := m.g.held(); return t }

// Key returns the owner key of the current grant (nil when not held).
func (m *Semaphore) Key() []byte { k, _, _ := m.g.held(); return k }

// Lease returns the session lease of the current grant (0 when not held).
func (m *Semaphore) Lease() int64 { _, l, _ := m.g.held(); return l }

// Name returns the semaphore's name.
func (m *Semaphore) Name() string { return m.name }

// Limit returns the limit this handle acquires with.
func (m *Semaphore) Limit() int64 { return m.limit }

// Weight returns the number of permits this handle asks for.
func (m *Semaphore) Weight() int64 { return m.weight }

// SemaphoreStatus describes semaphore name: its limit (0 when nobody
// holds or waits), the permits held, and the holders and waiters in
// arrival order with their weights, tokens, leases and leases' TTLs.
func SemaphoreStatus(ctx context.Context, c *coord.Client, name string) (*wire.SemaphoreStatusResponse, error) {
	var resp wire.SemaphoreStatusResponse
	if err := c.Call(ctx, wire.MethodSemStatus, &wire.SemaphoreStatusRequest{Name: name}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// SemaphorePrefix returns the prefix of every key of semaphore name:
// "\x00coord/semaphore/{NAME}/". Its hash tag is NAME: the semaphore
// lives in the shard of the keys tagged {NAME}.
func SemaphorePrefix(name string) []byte { return semaphorerules.Prefix(name) }
