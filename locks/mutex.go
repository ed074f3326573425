package locks

import (
	"context"
	"errors"
	"sync"

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
	s      *coord.Session
	name   string
	owner  []byte
	shared bool

	mu    sync.Mutex
	key   []byte
	lease int64 // the lease key is attached to
	token int64
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
	m := &Mutex{s: s, name: name}
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
	lease, err := m.s.Lease(ctx, string(Prefix(m.name)))
	if err != nil {
		return err
	}
	req := &wire.LockRequest{Name: m.name, Lease: lease, Owner: m.owner, Try: try, Shared: m.shared}
	for {
		var resp wire.LockResponse
		err := m.s.Client().Wait(ctx, coord.Waiting{
			Method: wire.MethodLock,
			Write:  req,
			Resume: func(key []byte) any {
				return &wire.LockRequest{Name: m.name, Lease: lease, Resume: key, Shared: m.shared}
			},
			Key: lockKey,
			Withdraw: func(key []byte) (string, any) {
				return wire.MethodUnlock, &wire.UnlockRequest{Name: m.name, Key: key, Lease: lease}
			},
		}, &resp)
		if err == nil {
			m.mu.Lock()
			m.key, m.lease, m.token = resp.Key, lease, resp.Token
			m.mu.Unlock()
			return nil
		}
		// Our place in the queue was given up while ctx is still alive
		// (withdrawn by a call that ended as we gave up, say): queue again.
		if errors.Is(err, coord.ErrCanceled) && ctx.Err() == nil {
			continue
		}
		return err
	}
}

// lockKey reads the owner key of a LockResponse body.
func lockKey(body []byte) ([]byte, error) {
	var r wire.LockResponse
	err := wire.Unmarshal(body, &r)
	return r.Key, err
}

// Unlock releases the lock; the next waiter is granted at once. It proves
// ownership with the session lease the lock was acquired with.
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	key, lease := m.key, m.lease
	m.mu.Unlock()
	if key == nil {
		return coord.ErrNotHolder
	}
	if err := m.s.Client().Call(ctx, wire.MethodUnlock, &wire.UnlockRequest{Name: m.name, Key: key, Lease: lease}, &wire.UnlockResponse{}); err != nil {
		return err
	}
	m.mu.Lock()
	m.key, m.lease, m.token = nil, 0, 0
	m.mu.Unlock()
	return nil
}

// Token returns the fencing token of the current hold (0 when not held).
func (m *Mutex) Token() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// Lease returns the session lease of the current hold (0 when not held):
// with Key, what an Unlock must present.
func (m *Mutex) Lease() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lease
}

// Key returns the holder's key (nil when not held).
func (m *Mutex) Key() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.key
}

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
