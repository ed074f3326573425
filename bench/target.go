package bench

import (
	"context"
	"errors"
	"time"
)

// ErrUnsupported marks a workload that a target cannot run, for example
// a primitive this build of Coord does not have yet.
var ErrUnsupported = errors.New("bench: not supported")

// Target is the cluster under test, reached through one client library.
type Target interface {
	// Name is "coord" or "etcd".
	Name() string
	// Dial opens client connection number i (0-based). Targets spread
	// connections over the endpoints by i.
	Dial(ctx context.Context, i int) (Conn, error)
}

// checker is implemented by targets that know without connecting that
// they cannot run some workloads.
type checker interface {
	Supports(workload string) error
}

// Supports returns an error wrapping ErrUnsupported when target cannot
// run workload (as far as it knows without connecting), else nil.
func Supports(target Target, workload string) error {
	if c, ok := target.(checker); ok {
		return c.Supports(workload)
	}
	return nil
}

// Conn is one client connection. It is safe for concurrent use.
type Conn interface {
	// Put writes value at key.
	Put(ctx context.Context, key string, value []byte) error
	// Get reads key linearizably and reports whether it exists.
	Get(ctx context.Context, key string) (bool, error)
	// CAS writes value at key if the key's mod revision is still modRev
	// (0: the key must not exist). It reports whether it wrote, and the
	// key's mod revision after the call.
	CAS(ctx context.Context, key string, modRev int64, value []byte) (bool, int64, error)
	// Grant creates a lease; KeepAliveOnce renews it (an error when it is
	// gone); Revoke ends it.
	Grant(ctx context.Context, ttl time.Duration, key string) (int64, error)
	KeepAliveOnce(ctx context.Context, id int64) error
	Revoke(ctx context.Context, id int64) error
	// Watch streams the puts under prefix from now on. It returns once
	// the watch is established; the channel closes when ctx ends or the
	// watch fails.
	Watch(ctx context.Context, prefix string) (<-chan WatchEvent, error)
	// NewSession opens a session kept alive by the client library.
	NewSession(ctx context.Context, ttl time.Duration) (Session, error)
	// Queue returns a handle on the FIFO queue name.
	Queue(name string) (Queue, error)
	Close() error
}

// WatchEvent is one put seen by a watch.
type WatchEvent struct {
	Key, Value []byte
}

// Session is a client session: a lease kept alive by its library, which
// locks, elections and barriers hang on.
type Session interface {
	Mutex(name string) Mutex
	Election(name string) Election
	// Barrier returns a double barrier for n participants.
	Barrier(name string, n int) (Barrier, error)
	Close() error
}

// Mutex is a distributed lock.
type Mutex interface {
	Lock(ctx context.Context) error
	Unlock(ctx context.Context) error
}

// RWSession is a Session that also makes read-write locks (Coord's;
// the rwlock workload needs it).
type RWSession interface {
	RWMutex(name string) RWMutex
}

// RWMutex is a distributed read-write lock.
type RWMutex interface {
	RLock(ctx context.Context) error
	RUnlock(ctx context.Context) error
	Lock(ctx context.Context) error
	Unlock(ctx context.Context) error
}

// Election is one candidate in an election.
type Election interface {
	Campaign(ctx context.Context, value string) error
	Resign(ctx context.Context) error
}

// Queue is a FIFO work queue. Dequeue blocks until an item arrives; ack
// removes it (a no-op where the queue has no acknowledgements).
type Queue interface {
	Enqueue(ctx context.Context, value []byte) error
	Dequeue(ctx context.Context) (value []byte, ack func(context.Context) error, err error)
}

// Barrier is a double barrier: Enter blocks until all participants are
// in, Leave until all have left.
type Barrier interface {
	Enter(ctx context.Context) error
	Leave(ctx context.Context) error
}
