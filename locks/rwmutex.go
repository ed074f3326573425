package locks

import (
	"context"

	"github.com/coord-io/coord/coord"
)

// RWMutex is a distributed read-write lock held through a Session: any
// number of readers (RLock) hold it together, a writer (Lock) holds it
// alone. Readers and writers queue on one lock name in arrival order, and
// a waiting writer blocks the readers that arrive after it, so writers
// are never starved by a stream of readers. Like Curator's
// InterProcessReadWriteLock it is a pair of Mutexes on one name, a shared
// one (ReadLocker) and an exclusive one (WriteLocker); each hold has its
// own key and token (RToken, Token). Only the writer's token fences
// writes (LockToken): while readers hold, the lock's token is 0.
//
// One RWMutex holds at most one read and one write hold at a time. Holds
// are not reentrant: Lock while this RWMutex holds the read lock (or
// RLock while it holds the write lock) waits behind its own hold until
// ctx ends. Use one RWMutex (or one session) per concurrent holder.
type RWMutex struct {
	r, w *Mutex
}

// NewRWMutex returns a read-write handle on lock name, owned by session
// s. opts apply to both modes (WithOwner).
func NewRWMutex(s *coord.Session, name string, opts ...MutexOption) *RWMutex {
	return &RWMutex{
		r: NewMutex(s, name, append(append([]MutexOption{}, opts...), Shared())...),
		w: NewMutex(s, name, opts...),
	}
}

// RLock blocks until the lock is held in shared mode or ctx ends (then the
// waiter leaves the queue); cut-off waits are resumed as Mutex.Lock's.
func (rw *RWMutex) RLock(ctx context.Context) error { return rw.r.Lock(ctx) }

// TryRLock takes the lock in shared mode if that is possible at once
// (nobody holds it exclusively and no writer waits) and fails otherwise
// with an error wrapping coord.ErrLocked.
func (rw *RWMutex) TryRLock(ctx context.Context) error { return rw.r.TryLock(ctx) }

// RUnlock releases the read hold.
func (rw *RWMutex) RUnlock(ctx context.Context) error { return rw.r.Unlock(ctx) }

// Lock blocks until the lock is held exclusively or ctx ends.
func (rw *RWMutex) Lock(ctx context.Context) error { return rw.w.Lock(ctx) }

// TryLock takes the lock exclusively if it is free and fails at once
// otherwise with an error wrapping coord.ErrLocked.
func (rw *RWMutex) TryLock(ctx context.Context) error { return rw.w.TryLock(ctx) }

// Unlock releases the write hold.
func (rw *RWMutex) Unlock(ctx context.Context) error { return rw.w.Unlock(ctx) }

// RToken returns the token of the read hold (0 when not held): it names
// the grant; it does not fence.
func (rw *RWMutex) RToken() int64 { return rw.r.Token() }

// Token returns the fencing token of the write hold (0 when not held).
func (rw *RWMutex) Token() int64 { return rw.w.Token() }

// ReadLocker returns the shared Mutex (Curator's readLock()).
func (rw *RWMutex) ReadLocker() *Mutex { return rw.r }

// WriteLocker returns the exclusive Mutex (Curator's writeLock()).
func (rw *RWMutex) WriteLocker() *Mutex { return rw.w }

// Name returns the lock's name.
func (rw *RWMutex) Name() string { return rw.w.name }
