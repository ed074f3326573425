package locks

import (
	"context"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// Mutex is a distributed lock held through a Session. Lock is one call
// that returns when the lock is held (waiters are served in arrival
// order); the server grants the next waiter in the same replicated command
// that releases the lock, whether by Unlock or because the holder's
// session lease expired. Each grant carries a fencing token, strictly
// increasing per lock across all holders: pass it along with the writes
// the lock protects and check it there (or in a transaction with
// coord.Compare on the lock, see LockToken).
type Mutex struct {
	name   string
	owner  []byte
	shared bool
	g      grant
}

// MutexOption configures a Mutex.
type MutexOption func(*Mutex)

// WithOwner sets the owner data shown by Status while this Mutex holds
// the lock (for example "host pid").
func WithOwner(owner []byte) MutexOption { return func(m *Mutex) { m.owner = owner } }

// Shared makes a Mutex take the lock in shared (read) mode: it holds
// together with other shared holders of the same name, never beside an
// exclusive one, and queues behind an exclusive owner that waits (writer
// preference). Its Token names its own grant; only an exclusive holder's
// token fences writes (LockToken). RWMutex pairs a shared and an
// exclusive Mutex on one name.
func Shared() MutexOption { return func(m *Mutex) { m.shared = true } }

// NewMutex returns a handle on lock name, owned by session s.
func NewMutex(s *coord.Session, name string, opts ...MutexOption) *Mutex {
	m := &Mutex{name: name, g: grant{s: s}}
	for _, f := range opts {
		f(m)
	}
	return m
}

// Lock blocks until the lock is held or ctx ends. When ctx ends first the
// waiter is removed from the queue and will never be granted. A wait that
// is cut off (a broken connection, a member that stops, the server's cap
// on one call) is resumed in its place in the queue (see
// coord.Client.Wait).
func (m *Mutex) Lock(ctx context.Context) error { return m.acquire(ctx, false) }

// TryLock takes the lock if it is free and fails at once otherwise with
// an error wrapping coord.ErrLocked that names the holder.
func (m *Mutex) TryLock(ctx context.Context) error { return m.acquire(ctx, true) }

func (m *Mutex) acquire(ctx context.Context, try bool) error {
	if err := ValidateName(m.name); err != nil {
		return err
	}
	return acquireGrant(ctx, &m.g, m.calls(try), func(r *wire.LockResponse) ([]byte, int64) { return r.Key, r.Token })
}

// calls are the requests of m's acquire (a TryLock if try) and Unlock.
func (m *Mutex) calls(try bool) grantCalls {
	return grantCalls{
		prefix: Prefix(m.name),
		method: wire.MethodLock,
		request: func(lease int64) any {
			return &wire.LockRequest{Name: m.name, Lease: lease, Owner: m.owner, Try: try, Shared: m.shared}
		},
		resume: func(lease int64, key []byte) any {
			return &wire.LockRequest{Name: m.name, Lease: lease, Resume: key, Shared: m.shared}
		},
		releaseMethod: wire.MethodUnlock,
		releaseRequest: func(lease int64, key []byte) any {
			return &wire.UnlockRequest{Name: m.name, Key: key, Lease: lease}
		},
	}
}

// Unlock releases the lock; the next waiter is granted at once. It proves
// ownership with the session lease the lock was acquired with.
func (m *Mutex) Unlock(ctx context.Context) error {
	return m.g.release(ctx, m.calls(false), &wire.UnlockResponse{})
}

// Token returns the fencing token of the current hold (0 when not held).
func (m *Mutex) Token() int64 { _, _, t := m.g.held(); return t }

// Lease returns the session lease of the current hold (0 when not held):
// with Key, what an Unlock must present.
func (m *Mutex) Lease() int64 { _, l, _ := m.g.held(); return l }

// Key returns the holder's key (nil when not held).
func (m *Mutex) Key() []byte { k, _, _ := m.g.held(); return k }

// Name returns the lock's name.
func (m *Mutex) Name() string { return m.name }

// IsShared reports whether m takes the lock in shared mode (Shared).
func (m *Mutex) IsShared() bool { return m.shared }

// Status describes lock name: holder, token, waiters, holder lease TTL.
func Status(ctx context.Context, c *coord.Client, name string) (*wire.LockStatusResponse, error) {
	var resp wire.LockStatusResponse
	if err := c.Call(ctx, wire.MethodLockStatus, &wire.LockStatusRequest{Name: name}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// LockToken returns a transaction condition that holds when lock name is
// held with fencing token token: a write guarded by it is refused by the
// store once the lock has moved on.
func LockToken(name string, token int64) coord.Cmp {
	return coord.Cmp{Target: wire.CompareLockToken, Result: wire.CompareEqual, Key: []byte(name), Version: token}
}
