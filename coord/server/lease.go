package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// Lease queries served by the adapter's Lookup after a ReadIndex.
type (
	leaseQuery struct {
		id   int64
		keys bool
	}
	leaseQueryResult struct {
		info  statemachine.LeaseInfo
		found bool
		keys  [][]byte
	}
	leasesQuery struct{}
)

// lessorTick is how often the lessor looks for expired leases.
const lessorTick = 100 * time.Millisecond

// minLeaseTTL is the shortest TTL granted: a few election timeouts, so
// that a leader change alone cannot expire a lease.
func (s *Core) minLeaseTTL() int64 {
	election := time.Duration(s.cfg.ElectionRTT*s.cfg.RTTMillisecond) * time.Millisecond
	min := int64((3*election + time.Second - 1) / time.Second)
	if min < 1 {
		min = 1
	}
	return min
}

func (s *Core) leaseShard(id int64) (uint32, *wire.Error) {
	shard, ok := wire.LeaseShard(id)
	if !ok || int(shard) >= len(s.shards) {
		return 0, wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", id)
	}
	return shard, nil
}

func (s *Core) leaseGrant(ctx context.Context, cl *Caller, req *wire.LeaseGrantRequest) (*wire.LeaseGrantResponse, *wire.Error) {
	if req.TTL < 1 {
		return nil, wire.Errorf(wire.CodeInvalid, "lease TTL must be at least 1 second, got %d", req.TTL)
	}
	maxTTL := int64(s.cfg.MaxLeaseTTL / time.Second)
	if req.TTL > maxTTL {
		return nil, wire.Errorf(wire.CodeInvalid, "lease TTL %d s is over the maximum of %d s (coord serve --max-lease-ttl)", req.TTL, maxTTL)
	}
	ttl := min(max(req.TTL, s.minLeaseTTL()), maxTTL)
	shard := req.Shard
	if len(req.RoutingKey) > 0 {
		if err := s.checkKey(req.RoutingKey); err != nil {
			return nil, err
		}
		shard = s.shardOf(req.RoutingKey)
	} else if int(shard) >= len(s.shards) {
		return nil, wire.Errorf(wire.CodeInvalid, "shard %d does not exist (the cluster has %d shards)", shard, len(s.shards))
	}
	cmd := s.command(cl)
	cmd.Set(statemachine.OpLeaseGrant, &statemachine.LeaseGrant{TTL: ttl, Owner: cl.User})
	var resp wire.LeaseGrantResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Core) leaseRevoke(ctx context.Context, cl *Caller, req *wire.LeaseRevokeRequest) (*wire.LeaseRevokeResponse, *wire.Error) {
	shard, werr := s.leaseShard(req.ID)
	if werr != nil {
		return nil, werr
	}
	cmd := s.command(cl)
	cmd.Set(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: req.ID})
	var resp wire.LeaseRevokeResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

// leaseKeepAlive renews leases. Renewals are coalesced per shard: each
// shard's renewer proposes one command for every keep-alive that arrived
// while its previous proposal was in flight.
func (s *Core) leaseKeepAlive(ctx context.Context, _ *Caller, req *wire.LeaseKeepAliveRequest) (*wire.LeaseKeepAliveResponse, *wire.Error) {
	if len(req.IDs) == 0 {
		return nil, wire.Errorf(wire.CodeInvalid, "no lease to keep alive")
	}
	if len(req.IDs) > s.cfg.MaxKeepAliveLeases {
		return nil, wire.Errorf(wire.CodeTooLarge, "%d leases in one keep-alive, over the limit of %d (coord serve --max-keepalive-leases)", len(req.IDs), s.cfg.MaxKeepAliveLeases)
	}
	byShard := map[uint32][]int64{}
	ttl := map[int64]int64{}
	for _, id := range req.IDs {
		shard, ok := wire.LeaseShard(id)
		if !ok || int(shard) >= len(s.shards) {
			ttl[id] = 0
			continue
		}
		byShard[shard] = append(byShard[shard], id)
	}
	type part struct {
		ttls map[int64]int64
		err  *wire.Error
	}
	results := make(chan part, len(byShard))
	for shard, ids := range byShard {
		go func(shard uint32, ids []int64) {
			t, err := s.renewers[shard].renew(ctx, ids)
			results <- part{t, err}
		}(shard, ids)
	}
	resp := &wire.LeaseKeepAliveResponse{}
	if len(byShard) == 1 {
		for shard := range byShard {
			resp.Header.Shard = shard
			resp.Header.Revision, _ = s.shards[shard].Revision()
			s.fillHeader(&resp.Header, shard)
		}
	} else {
		resp.Header = wire.ResponseHeader{Shard: wire.AllShards, Member: s.cfg.Name, Revisions: map[uint32]int64{}}
		for shard := range byShard {
			resp.Header.Revisions[shard], _ = s.shards[shard].Revision()
		}
	}
	for range byShard {
		p := <-results
		if p.err != nil {
			return nil, p.err
		}
		for id, t := range p.ttls {
			ttl[id] = t
		}
	}
	for _, id := range req.IDs {
		resp.IDs = append(resp.IDs, id)
		resp.TTLs = append(resp.TTLs, ttl[id])
	}
	if len(req.IDs) == 1 {
		resp.ID, resp.TTL = req.IDs[0], resp.TTLs[0]
	}
	return resp, nil
}

func (s *Core) leaseTimeToLive(ctx context.Context, _ *Caller, req *wire.LeaseTimeToLiveRequest) (*wire.LeaseTimeToLiveResponse, *wire.Error) {
	resp := &wire.LeaseTimeToLiveResponse{ID: req.ID, TTL: -1}
	shard, ok := wire.LeaseShard(req.ID)
	if !ok || int(shard) >= len(s.shards) {
		return resp, nil
	}
	v, werr := s.lookup(ctx, shard, &leaseQuery{id: req.ID, keys: req.Keys})
	if werr != nil {
		return nil, werr
	}
	res := v.(*leaseQueryResult)
	s.fillHeader(&resp.Header, shard)
	resp.Header.Shard = shard
	if !res.found {
		return resp, nil
	}
	resp.GrantedTTL = res.info.TTL
	resp.TTL = res.info.TTL
	if left, ok := s.lessor.remaining(shard, req.ID); ok {
		resp.TTL = int64((left + time.Second - 1) / time.Second)
	}
	resp.Keys = res.keys
	return resp, nil
}

func (s *Core) leaseLeases(ctx context.Context, _ *Caller, _ *wire.LeaseLeasesRequest) (*wire.LeaseLeasesResponse, *wire.Error) {
	resp := &wire.LeaseLeasesResponse{Header: wire.ResponseHeader{Shard: wire.AllShards, Member: s.cfg.Name, Revisions: map[uint32]int64{}}}
	for i := range s.shards {
		v, werr := s.lookup(ctx, uint32(i), leasesQuery{})
		if werr != nil {
			return nil, werr
		}
		for _, in := range v.([]statemachine.LeaseInfo) {
			resp.Leases = append(resp.Leases, wire.LeaseStatus{ID: in.ID, TTL: in.TTL})
		}
		cur, _ := s.shards[i].Revision()
		resp.Header.Revisions[uint32(i)] = cur
	}
	sort.Slice(resp.Leases, func(i, j int) bool { return resp.Leases[i].ID < resp.Leases[j].ID })
	return resp, nil
}

// renewer coalesces the keep-alives of one shard into few proposals.
type renewer struct {
	s     *Core
	shard uint32
	reqs  chan *renewReq
}

type renewReq struct {
	ids  []int64
	done chan struct{}
	ttls map[int64]int64
	err  *wire.Error
}

func (r *renewer) renew(ctx context.Context, ids []int64) (map[int64]int64, *wire.Error) {
	req := &renewReq{ids: ids, done: make(chan struct{})}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return nil, wire.Errorf(wire.CodeTimeout, "keep-alive timed out")
	}
	select {
	case <-req.done:
		return req.ttls, req.err
	case <-ctx.Done():
		return nil, wire.Errorf(wire.CodeTimeout, "keep-alive timed out")
	}
}

// maxRenewIDs bounds the lease IDs one renewal proposal collects from
// the keep-alives queued (a single keep-alive may bring more, up to
// Config.MaxKeepAliveLeases).
const maxRenewIDs = 65536

// collectRenewals returns first and the keep-alives queued behind it, up
// to 4096 of them and until they bring maxIDs lease IDs or more, so that
// one proposal stays of bounded size.
func collectRenewals(first *renewReq, reqs <-chan *renewReq, maxIDs int) []*renewReq {
	batch := []*renewReq{first}
	ids := len(first.ids)
	for len(batch) < 4096 && ids < maxIDs {
		select {
		case req := <-reqs:
			batch = append(batch, req)
			ids += len(req.ids)
		default:
			return batch
		}
	}
	return batch
}

// run serves renewals until stop closes. It owns nothing but its batch.
func (r *renewer) run(stop <-chan struct{}) {
	for {
		var batch []*renewReq
		select {
		case <-stop:
			return
		case req := <-r.reqs:
			batch = collectRenewals(req, r.reqs, maxRenewIDs)
		}
		seen := map[int64]bool{}
		var ids []int64
		for _, req := range batch {
			for _, id := range req.ids {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ttls, werr := r.propose(ctx, ids)
		cancel()
		for _, req := range batch {
			req.ttls, req.err = ttls, werr
			close(req.done)
		}
	}
}

func (r *renewer) propose(ctx context.Context, ids []int64) (map[int64]int64, *wire.Error) {
	res, werr := r.s.propose(ctx, r.shard, statemachine.NewCommand(statemachine.OpLeaseRenew, &statemachine.LeaseRenew{IDs: ids}))
	if werr != nil {
		return nil, werr
	}
	var resp wire.LeaseKeepAliveResponse
	if werr := r.s.decodeResult(r.shard, res, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	ttls := make(map[int64]int64, len(resp.IDs))
	for i, id := range resp.IDs {
		if i < len(resp.TTLs) {
			ttls[id] = resp.TTLs[i]
		}
	}
	return ttls, nil
}

// runLessor revokes, through Raft, the leases the lessor finds expired on
// the shards this member leads.
func (s *Core) runLessor(stop <-chan struct{}) {
	t := time.NewTicker(lessorTick)
	defer t.Stop()
	sem := make(chan struct{}, 16)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, e := range s.lessor.expired(256) {
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			}
			go func(e expiredLease) {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				cmd := statemachine.NewCommand(statemachine.OpLeaseRevoke, &statemachine.LeaseRevoke{ID: e.id, Expire: true, RenewSeq: e.renewSeq})
				if _, werr := s.propose(ctx, e.shard, cmd); werr != nil {
					s.log.Debug("lease revoke failed", "lease", fmt.Sprintf("%016x", e.id), "err", werr)
				}
				// If the lease is gone, the applied revoke removed it from
				// the lessor already; if not, it may be tried again.
				s.lessor.revokeDone(e.shard, e.id)
			}(e)
		}
	}
}

// lookup runs a local query on shard after a ReadIndex (linearizable).
func (s *Core) lookup(ctx context.Context, shard uint32, q any) (any, *wire.Error) {
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := attemptContext(ctx)
		v, err := s.nh.SyncRead(actx, clusterID(shard), q)
		cancel()
		if err == nil {
			return v, nil
		}
		var we *wire.Error
		if errors.As(err, &we) {
			return nil, we
		}
		if werr := s.retryOrFail(ctx, shard, err, &backoff); werr != nil {
			return nil, werr
		}
	}
}
