package coord

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// Lease API types.
type (
	LeaseGrantResponse      = wire.LeaseGrantResponse
	LeaseRevokeResponse     = wire.LeaseRevokeResponse
	LeaseKeepAliveResponse  = wire.LeaseKeepAliveResponse
	LeaseTimeToLiveResponse = wire.LeaseTimeToLiveResponse
	LeaseLeasesResponse     = wire.LeaseLeasesResponse
	LeaseStatus             = wire.LeaseStatus
)

// LeaseOption modifies a Grant.
type LeaseOption func(*wire.LeaseGrantRequest)

// WithLeaseKey grants the lease in the shard of key. A key can only be
// attached to a lease of its own shard, so grant with the key (or any key
// with the same hash tag) you will attach.
func WithLeaseKey(key string) LeaseOption {
	return func(r *wire.LeaseGrantRequest) { r.RoutingKey = []byte(key) }
}

// Grant creates a lease that expires ttl seconds after its last renewal.
// The server raises a ttl below its minimum (a few election timeouts).
func (c *Client) Grant(ctx context.Context, ttl int64, opts ...LeaseOption) (*LeaseGrantResponse, error) {
	req := &wire.LeaseGrantRequest{TTL: ttl}
	for _, f := range opts {
		f(req)
	}
	var resp LeaseGrantResponse
	if err := c.call(ctx, wire.MethodLeaseGrant, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Revoke ends a lease now, deleting every key attached to it.
func (c *Client) Revoke(ctx context.Context, id int64) (*LeaseRevokeResponse, error) {
	var resp LeaseRevokeResponse
	if err := c.call(ctx, wire.MethodLeaseRevoke, &wire.LeaseRevokeRequest{ID: id}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// keepAlive renews leases once; a lease that no longer exists has TTL 0.
func (c *Client) keepAlive(ctx context.Context, ids []int64) (*LeaseKeepAliveResponse, error) {
	var resp LeaseKeepAliveResponse
	if err := c.call(ctx, wire.MethodLeaseKeepAlive, &wire.LeaseKeepAliveRequest{IDs: ids}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// KeepAliveOnce renews a lease once. It returns ErrLeaseNotFound when the
// lease has expired or was revoked.
func (c *Client) KeepAliveOnce(ctx context.Context, id int64) (*LeaseKeepAliveResponse, error) {
	resp, err := c.keepAlive(ctx, []int64{id})
	if err != nil {
		return nil, err
	}
	if len(resp.TTLs) != 1 || resp.TTLs[0] <= 0 {
		return nil, fmt.Errorf("%w: lease %016x expired or was revoked", ErrLeaseNotFound, id)
	}
	// etcd's per-lease fields (a member before them sends only IDs and TTLs).
	resp.ID, resp.TTL = id, resp.TTLs[0]
	return resp, nil
}

// KeepAlive renews a lease every third of its TTL until ctx ends, moving
// between endpoints as needed, and sends each renewal on the returned
// channel (dropping renewals the reader does not take in time). The
// channel closes when ctx ends or the lease is lost: the server says it is
// gone, or no renewal succeeded for a whole TTL. KeepAliveOnce then tells
// which.
func (c *Client) KeepAlive(ctx context.Context, id int64) (<-chan *LeaseKeepAliveResponse, error) {
	first, err := c.KeepAliveOnce(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(chan *LeaseKeepAliveResponse, 16)
	out <- first
	go func() {
		defer close(out)
		ttl := time.Duration(first.TTLs[0]) * time.Second
		last := time.Now()
		for {
			wait := ttl / 3
			if wait < 100*time.Millisecond {
				wait = 100 * time.Millisecond
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			actx, cancel := context.WithTimeout(ctx, ttl/3+time.Second)
			resp, err := c.KeepAliveOnce(actx, id)
			cancel()
			switch {
			case err == nil:
				last = time.Now()
				ttl = time.Duration(resp.TTLs[0]) * time.Second
				select {
				case out <- resp:
				default:
				}
			case errors.Is(err, ErrLeaseNotFound), errors.Is(err, ErrClosed):
				return
			case time.Since(last) > ttl:
				return // no renewal for a whole TTL: the lease is presumed lost
			}
		}
	}()
	return out, nil
}

// TimeToLive reports a lease's remaining TTL (-1 when it does not exist)
// and, with withKeys, the keys attached to it.
func (c *Client) TimeToLive(ctx context.Context, id int64, withKeys bool) (*LeaseTimeToLiveResponse, error) {
	var resp LeaseTimeToLiveResponse
	if err := c.call(ctx, wire.MethodLeaseTimeToLive, &wire.LeaseTimeToLiveRequest{ID: id, Keys: withKeys}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Leases lists every lease of the cluster.
func (c *Client) Leases(ctx context.Context) (*LeaseLeasesResponse, error) {
	var resp LeaseLeasesResponse
	if err := c.call(ctx, wire.MethodLeaseLeases, &wire.LeaseLeasesRequest{}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
