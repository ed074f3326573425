package server

import (
	"bytes"
	"context"
	"sort"
	"sync"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// shardOf routes a key.
func (s *Core) shardOf(key []byte) uint32 { return wire.ShardOf(key, len(s.shards)) }

func (s *Core) checkKey(key []byte) *wire.Error {
	if len(key) == 0 {
		return wire.Errorf(wire.CodeInvalid, "key must not be empty")
	}
	if len(key) > s.cfg.MaxKeySize {
		return wire.Errorf(wire.CodeTooLarge, "key of %d bytes is over the limit of %d bytes", len(key), s.cfg.MaxKeySize)
	}
	return nil
}

func (s *Core) checkPut(p *wire.PutRequest) *wire.Error {
	if err := s.checkKey(p.Key); err != nil {
		return err
	}
	if len(p.Value) > s.cfg.MaxValueSize {
		return wire.Errorf(wire.CodeTooLarge, "value of %d bytes is over the limit of %d bytes", len(p.Value), s.cfg.MaxValueSize)
	}
	if p.Lease != 0 {
		ls, ok := wire.LeaseShard(p.Lease)
		if !ok || int(ls) >= len(s.shards) {
			return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", p.Lease)
		}
		if ks := s.shardOf(p.Key); ks != ls {
			return wire.Errorf(wire.CodeWrongShard,
				"key %q is in shard %d but lease %016x is in shard %d: a key can only be attached to a lease of its own shard (grant the lease with this key as its routing key, or give the keys a common hash tag)", p.Key, ks, p.Lease, ls)
		}
	}
	return nil
}

// command is the envelope of a client's write: its exactly-once tag, and
// when the client first sent it on this member's clock (when the frame
// arrived, less the age the client reported). propose stamps the time.
func (s *Core) command(cl *Caller) *statemachine.Command {
	cmd := &statemachine.Command{ClientID: cl.ClientID, Seq: cl.Seq, AckBelow: cl.AckBelow}
	if cmd.ClientID != 0 && !cl.Received.IsZero() {
		cmd.Sent = cl.Received.UnixMilli() - max(cl.AgeMillis, 0)
	}
	return cmd
}

// decodeResult turns an applied result into a response or an error.
func (s *Core) decodeResult(shard uint32, r statemachine.Result, resp any, h *wire.ResponseHeader) *wire.Error {
	if r.Code != wire.OK {
		var we wire.Error
		if err := wire.Unmarshal(r.Data, &we); err != nil || we.Code == wire.OK {
			return &wire.Error{Code: r.Code}
		}
		return &we
	}
	if err := wire.Unmarshal(r.Data, resp); err != nil {
		return wire.Errorf(wire.CodeUnknown, "decode result: %v", err)
	}
	s.fillHeader(h, shard)
	return nil
}

func (s *Core) put(ctx context.Context, cl *Caller, req *wire.PutRequest) (*wire.PutResponse, *wire.Error) {
	if err := s.checkPut(req); err != nil {
		return nil, err
	}
	shard := s.shardOf(req.Key)
	cmd := s.command(cl)
	cmd.Set(statemachine.OpPut, req)
	var resp wire.PutResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func (s *Core) checkRange(key, end []byte) *wire.Error {
	if len(key) == 0 {
		return wire.Errorf(wire.CodeInvalid, "key must not be empty (use \\x00 with range end \\x00 for all keys)")
	}
	if len(key) > s.cfg.MaxKeySize || len(end) > s.cfg.MaxKeySize {
		return wire.Errorf(wire.CodeTooLarge, "key of %d bytes is over the limit of %d bytes", max(len(key), len(end)), s.cfg.MaxKeySize)
	}
	return nil
}

// rangeKeys serves a range in pages of at most MaxResponseBytes of
// key-values (wire.RangeRequest says how a client follows them).
func (s *Core) rangeKeys(ctx context.Context, _ *Caller, req *wire.RangeRequest) (*wire.RangeResponse, *wire.Error) {
	if err := s.checkRange(req.Key, req.RangeEnd); err != nil {
		return nil, err
	}
	if req.Limit < 0 {
		return nil, wire.Errorf(wire.CodeInvalid, "limit must not be negative")
	}
	// A client that does not follow pages gets the whole range in one
	// response, as large as a frame may be, or an error: never a cut one.
	paged := req.MaxBytes > 0
	switch {
	case !paged:
		req.MaxBytes = wire.MaxResponseFrameSize - responseSlack
	case req.MaxBytes > int64(s.cfg.MaxResponseBytes):
		req.MaxBytes = int64(s.cfg.MaxResponseBytes)
	}
	resp, werr := s.rangePage(ctx, req)
	if werr == nil && !paged && resp.NextKey != nil {
		return nil, wire.Errorf(wire.CodeTooLarge,
			"range of more than %d bytes: read it with a client that follows pages (coord get, Client.Get), or give it a limit", req.MaxBytes)
	}
	return resp, werr
}

// rangePage serves one page of a range.
func (s *Core) rangePage(ctx context.Context, req *wire.RangeRequest) (*wire.RangeResponse, *wire.Error) {
	shards, werr := s.rangeShards(req)
	if werr != nil {
		return nil, werr
	}
	// Each shard reads its own copy: a continuation reads each at its
	// revision.
	one := func(shard uint32) (*wire.RangeResponse, *wire.Error) {
		r := *req
		r.Revisions = nil
		if rev, ok := req.Revisions[shard]; ok {
			r.Revision = rev
		}
		return s.read(ctx, shard, &r)
	}
	if len(shards) == 1 {
		return one(shards[0])
	}
	// Fan out: each shard returns a page of up to Limit keys in order;
	// merge by key.
	parts, werr := fanOut(len(shards), func(i uint32) (*wire.RangeResponse, *wire.Error) { return one(shards[i]) })
	if werr != nil {
		return nil, werr
	}
	return s.mergePages(req, shards, parts), nil
}

// rangeShards returns the shards a range reads: those of a continuation's
// Revisions, else the one shard of its keys, else every shard.
func (s *Core) rangeShards(req *wire.RangeRequest) ([]uint32, *wire.Error) {
	if len(req.Revisions) > 0 {
		shards := make([]uint32, 0, len(req.Revisions))
		for sh := range req.Revisions {
			if int(sh) >= len(s.shards) {
				return nil, wire.Errorf(wire.CodeInvalid, "shard %d does not exist (the cluster has %d shards)", sh, len(s.shards))
			}
			shards = append(shards, sh)
		}
		sort.Slice(shards, func(i, j int) bool { return shards[i] < shards[j] })
		return shards, nil
	}
	if shard, one := wire.RangeShard(req.Key, req.RangeEnd, len(s.shards)); one {
		return []uint32{shard}, nil
	}
	shards := make([]uint32, len(s.shards))
	for i := range shards {
		shards[i] = uint32(i)
	}
	return shards, nil
}

// mergePages merges the pages of several shards into one page of the
// whole range. A shard whose page ended at the byte limit has unread keys
// after its last one, so the merged page ends there at the latest; then
// Limit and the byte limit apply to the merged keys.
func (s *Core) mergePages(req *wire.RangeRequest, shards []uint32, parts []*wire.RangeResponse) *wire.RangeResponse {
	out := &wire.RangeResponse{Header: wire.ResponseHeader{Shard: wire.AllShards, Member: s.cfg.Name, Revisions: map[uint32]int64{}}}
	var bound []byte // the lowest last key of a page cut by bytes
	for i, p := range parts {
		out.Header.Revisions[shards[i]] = p.Header.Revision
		out.Count += p.Count
		out.Kvs = append(out.Kvs, p.Kvs...)
		if p.NextKey != nil && len(p.Kvs) > 0 {
			if last := p.Kvs[len(p.Kvs)-1].Key; bound == nil || bytes.Compare(last, bound) < 0 {
				bound = last
			}
		}
	}
	sort.Slice(out.Kvs, func(i, j int) bool { return bytes.Compare(out.Kvs[i].Key, out.Kvs[j].Key) < 0 })
	n, size := 0, int64(0)
	for ; n < len(out.Kvs); n++ {
		kv := out.Kvs[n]
		if bound != nil && bytes.Compare(kv.Key, bound) > 0 {
			break
		}
		if req.Limit > 0 && int64(n) >= req.Limit {
			break
		}
		if size += int64(kv.Size()); n > 0 && size > req.MaxBytes {
			break
		}
	}
	clear(out.Kvs[n:])
	out.Kvs = out.Kvs[:n]
	if !req.CountOnly && int64(n) < out.Count {
		out.More = true
		if n > 0 && (req.Limit == 0 || int64(n) < req.Limit) {
			out.NextKey = append(bytes.Clone(out.Kvs[n-1].Key), 0)
		}
	}
	return out
}

func (s *Core) deleteRange(ctx context.Context, cl *Caller, req *wire.DeleteRangeRequest) (*wire.DeleteRangeResponse, *wire.Error) {
	if err := s.checkRange(req.Key, req.RangeEnd); err != nil {
		return nil, err
	}
	one := func(shard uint32) (*wire.DeleteRangeResponse, *wire.Error) {
		cmd := s.command(cl)
		cmd.Set(statemachine.OpDelete, req)
		var resp wire.DeleteRangeResponse
		if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
			return nil, werr
		}
		return &resp, nil
	}
	if shard, single := wire.RangeShard(req.Key, req.RangeEnd, len(s.shards)); single {
		return one(shard)
	}
	parts, werr := fanOut(len(s.shards), one)
	if werr != nil {
		return nil, werr
	}
	out := &wire.DeleteRangeResponse{Header: wire.ResponseHeader{Shard: wire.AllShards, Member: s.cfg.Name, Revisions: map[uint32]int64{}}}
	for i, p := range parts {
		out.Header.Revisions[uint32(i)] = p.Header.Revision
		out.Deleted += p.Deleted
		out.PrevKvs = append(out.PrevKvs, p.PrevKvs...)
	}
	sort.Slice(out.PrevKvs, func(i, j int) bool { return bytes.Compare(out.PrevKvs[i].Key, out.PrevKvs[j].Key) < 0 })
	return out, nil
}

// fanOut runs f on every shard at once and returns the results by shard,
// or the first error by shard order.
func fanOut[T any](shards int, f func(shard uint32) (T, *wire.Error)) ([]T, *wire.Error) {
	parts := make([]T, shards)
	errs := make([]*wire.Error, shards)
	var wg sync.WaitGroup
	for i := 0; i < shards; i++ {
		wg.Add(1)
		go func(shard uint32) {
			defer wg.Done()
			parts[shard], errs[shard] = f(shard)
		}(uint32(i))
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return parts, nil
}

// txnShard checks a transaction's limits and finds the one shard all its
// keys live in.
func (s *Core) txnShard(req *wire.TxnRequest) (uint32, *wire.Error) {
	n := len(req.Compare) + len(req.Success) + len(req.Failure)
	if n > s.cfg.MaxTxnOps {
		return 0, wire.Errorf(wire.CodeTooLarge, "transaction has %d compares and ops, over the limit of %d", n, s.cfg.MaxTxnOps)
	}
	var (
		shard    uint32
		firstKey []byte
	)
	use := func(key, end []byte) *wire.Error {
		sh, single := wire.RangeShard(key, end, len(s.shards))
		if !single {
			return wire.Errorf(wire.CodeCrossShardTxn,
				"transaction range %q..%q spans shards: a transaction runs in one shard, so give its keys a common hash tag, e.g. {user1}/a and {user1}/b, and range over a tagged prefix", key, end)
		}
		if firstKey == nil {
			shard, firstKey = sh, key
			return nil
		}
		if sh != shard {
			return wire.Errorf(wire.CodeCrossShardTxn,
				"transaction keys %q and %q live in different shards: a transaction runs in one shard, so give its keys a common hash tag, e.g. {user1}/a and {user1}/b", firstKey, key)
		}
		return nil
	}
	for _, c := range req.Compare {
		if err := s.checkRange(c.Key, c.RangeEnd); err != nil {
			return 0, err
		}
		if c.Target > wire.CompareLockToken || c.Result > wire.CompareLess {
			return 0, wire.Errorf(wire.CodeInvalid, "bad compare on key %q", c.Key)
		}
		if err := use(c.Key, c.RangeEnd); err != nil {
			return 0, err
		}
	}
	for _, ops := range [][]wire.RequestOp{req.Success, req.Failure} {
		for _, op := range ops {
			var err *wire.Error
			switch {
			case op.Put != nil && op.Range == nil && op.DeleteRange == nil:
				if err = s.checkPut(op.Put); err == nil {
					err = use(op.Put.Key, nil)
				}
			case op.Range != nil && op.Put == nil && op.DeleteRange == nil:
				if err = s.checkRange(op.Range.Key, op.Range.RangeEnd); err == nil {
					err = use(op.Range.Key, op.Range.RangeEnd)
				}
			case op.DeleteRange != nil && op.Put == nil && op.Range == nil:
				if err = s.checkRange(op.DeleteRange.Key, op.DeleteRange.RangeEnd); err == nil {
					err = use(op.DeleteRange.Key, op.DeleteRange.RangeEnd)
				}
			default:
				err = wire.Errorf(wire.CodeInvalid, "a transaction op must set exactly one of put, range and delete")
			}
			if err != nil {
				return 0, err
			}
		}
	}
	return shard, nil
}

func (s *Core) txn(ctx context.Context, cl *Caller, req *wire.TxnRequest) (*wire.TxnResponse, *wire.Error) {
	shard, werr := s.txnShard(req)
	if werr != nil {
		return nil, werr
	}
	// The txn's reads are bounded by this member's limits, stamped into
	// the command so that every replica applies the same bound.
	req.MaxRangeKeys, req.MaxRangeBytes = int64(s.cfg.MaxTxnRangeKeys), int64(s.cfg.MaxResponseBytes)
	cmd := s.command(cl)
	cmd.Set(statemachine.OpTxn, req)
	var resp wire.TxnResponse
	if werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header); werr != nil {
		return nil, werr
	}
	for _, op := range resp.Responses {
		switch {
		case op.Put != nil:
			s.fillHeader(&op.Put.Header, shard)
		case op.Range != nil:
			s.fillHeader(&op.Range.Header, shard)
		case op.DeleteRange != nil:
			s.fillHeader(&op.DeleteRange.Header, shard)
		}
	}
	return &resp, nil
}

// compact compacts one shard, or every shard (see wire.CompactRequest):
// each shard's state machine decides, on the revisions it has applied,
// whether the revision is future or already compacted there.
func (s *Core) compact(ctx context.Context, cl *Caller, req *wire.CompactRequest) (*wire.CompactResponse, *wire.Error) {
	if req.Revision < 1 {
		return nil, wire.Errorf(wire.CodeInvalid, "compact revision must be positive")
	}
	// one compacts shard at req.Revision. A refusal (future revision,
	// already compacted) is a result, any other error fails the call.
	one := func(shard uint32) (wire.ShardCompaction, *wire.Error) {
		cmd := s.command(cl)
		cmd.Set(statemachine.OpCompact, &wire.CompactRequest{Revision: req.Revision, Shard: shard})
		var resp wire.CompactResponse
		werr := s.proposeDecode(ctx, shard, cmd, &resp, &resp.Header)
		switch {
		case werr == nil:
			return wire.ShardCompaction{Shard: shard, Compacted: true, CompactRevision: req.Revision, Revision: resp.Header.Revision}, nil
		case werr.Code == wire.CodeFutureRevision || werr.Code == wire.CodeCompacted:
			// The proposal was applied on this member before it
			// returned: its local revisions are at least that recent.
			cur, compacted := s.shards[shard].Revision()
			return wire.ShardCompaction{Shard: shard, CompactRevision: max(compacted, werr.CompactRevision), Revision: cur, Error: werr}, nil
		default:
			return wire.ShardCompaction{}, werr
		}
	}
	var results []wire.ShardCompaction
	if !req.AllShards {
		if int(req.Shard) >= len(s.shards) {
			return nil, wire.Errorf(wire.CodeInvalid, "shard %d does not exist (the cluster has %d shards)", req.Shard, len(s.shards))
		}
		r, werr := one(req.Shard)
		if werr != nil {
			return nil, werr
		}
		results = []wire.ShardCompaction{r}
	} else {
		var werr *wire.Error
		if results, werr = fanOut(len(s.shards), one); werr != nil {
			return nil, werr
		}
	}
	var refusal *wire.Error
	for _, r := range results {
		if r.Compacted {
			refusal = nil
			break
		}
		if refusal == nil {
			refusal = r.Error
		}
	}
	if refusal != nil {
		return nil, refusal
	}
	out := &wire.CompactResponse{Shards: results}
	if len(results) == 1 {
		out.Header = wire.ResponseHeader{Shard: results[0].Shard, Revision: results[0].Revision}
		s.fillHeader(&out.Header, results[0].Shard)
		return out, nil
	}
	out.Header = wire.ResponseHeader{Shard: wire.AllShards, Member: s.cfg.Name, Revisions: map[uint32]int64{}}
	for _, r := range results {
		out.Header.Revisions[r.Shard] = r.Revision
	}
	return out, nil
}

// statusCall answers wire.MethodStatus.
func (s *Core) statusCall(context.Context, *Caller, *wire.StatusRequest) (*wire.StatusResponse, *wire.Error) {
	return s.status(), nil
}

func (s *Core) status() *wire.StatusResponse {
	out := &wire.StatusResponse{
		Member: s.cfg.Name, ClientAddr: s.clientAddr, PeerAddr: s.cfg.ListenPeer, Version: Version,
	}
	if st := s.store; st != nil {
		out.DBSize = st.DiskSize()
	}
	out.Alarms, out.QuotaBytes = s.Alarms(), s.quota()
	if out.QuotaBytes == 0 {
		out.QuotaBytes = -1
	}
	out.Members = s.memberView()
	for i, sh := range s.shards {
		leader, term := s.leader(uint32(i))
		cur, compacted := sh.Revision()
		out.Shards = append(out.Shards, wire.ShardStatus{
			Shard: uint32(i), Leader: leader, IsLeader: leader == s.cfg.Name, Term: term,
			AppliedIndex: sh.AppliedIndex(), Revision: cur, CompactRevision: compacted,
		})
	}
	return out
}
