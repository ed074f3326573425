package locks

import (
	"context"
	"errors"
	"sync"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// grant is the hold one handle (Mutex, Semaphore) keeps through its
// session: the owner key the cluster granted, the lease it is attached to
// and its fencing token. acquireGrant and release are the acquire, resume,
// withdraw and release flow both share.
type grant struct {
	s *coord.Session

	mu    sync.Mutex
	key   []byte
	lease int64 // the lease key is attached to
	token int64
}

// grantCalls are the requests of one primitive's acquire and release.
type grantCalls struct {
	prefix []byte // the keys of the primitive: the session's lease for them
	method string // the write that queues an owner
	// request is that write, for the session lease lease.
	request func(lease int64) any
	// resume resumes the wait of owner key (a read).
	resume func(lease int64, key []byte) any
	// releaseMethod and releaseRequest take owner key out of the queue,
	// or release it if it was granted.
	releaseMethod  string
	releaseRequest func(lease int64, key []byte) any
	// refused, if set, rewrites the cluster's refusal of the wait.
	refused func(error) error
}

// grantResponse reads the owner key and token of a granting response.
type grantResponse[R any] func(*R) (key []byte, token int64)

// acquireGrant queues an owner with c's request under the session's lease
// for c.prefix and waits until it is granted, or ctx ends (then the owner
// leaves the queue). A wait that is cut off is resumed in its place (see
// coord.Client.Wait); a place given up while ctx is still alive (withdrawn
// by a call that ended as we gave up, say) is queued for again.
func acquireGrant[R any](ctx context.Context, g *grant, c grantCalls, granted grantResponse[R]) error {
	lease, err := g.s.Lease(ctx, string(c.prefix))
	if err != nil {
		return err
	}
	req := c.request(lease)
	for {
		var resp R
		err := g.s.Client().Wait(ctx, coord.Waiting{
			Method: c.method,
			Write:  req,
			Resume: func(key []byte) any { return c.resume(lease, key) },
			Key: func(body []byte) ([]byte, error) {
				var r R
				err := wire.Unmarshal(body, &r)
				key, _ := granted(&r)
				return key, err
			},
			Withdraw: func(key []byte) (string, any) {
				return c.releaseMethod, c.releaseRequest(lease, key)
			},
		}, &resp)
		if err == nil {
			key, token := granted(&resp)
			g.mu.Lock()
			g.key, g.lease, g.token = key, lease, token
			g.mu.Unlock()
			return nil
		}
		if errors.Is(err, coord.ErrCanceled) && ctx.Err() == nil {
			continue
		}
		if c.refused != nil {
			return c.refused(err)
		}
		return err
	}
}

// release gives the grant back with c's release request, proving
// ownership with the session lease it was granted under. A handle that
// holds nothing fails with coord.ErrNotHolder.
func (g *grant) release(ctx context.Context, c grantCalls, resp any) error {
	g.mu.Lock()
	key, lease := g.key, g.lease
	g.mu.Unlock()
	if key == nil {
		return coord.ErrNotHolder
	}
	if err := g.s.Client().Call(ctx, c.releaseMethod, c.releaseRequest(lease, key), resp); err != nil {
		return err
	}
	g.mu.Lock()
	g.key, g.lease, g.token = nil, 0, 0
	g.mu.Unlock()
	return nil
}

// held returns the owner key, session lease and fencing token of the
// current grant (nil, 0, 0 when not held).
func (g *grant) held() (key []byte, lease, token int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.key, g.lease, g.token
}
