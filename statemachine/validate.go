package statemachine

import (
	"bytes"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// Validation that is the same on every member: it depends on the request
// only (configurable size limits are the server's, checked before a
// request is proposed).

func isReserved(key []byte) bool { return bytes.HasPrefix(key, []byte(ReservedPrefix)) }

func checkWriteKey(key []byte) *wire.Error {
	if len(key) == 0 {
		return wire.Errorf(wire.CodeInvalid, "empty key")
	}
	if isReserved(key) {
		return wire.Errorf(wire.CodePermissionDenied, "key %q is in the reserved keyspace %q", key, ReservedPrefix)
	}
	return nil
}

// checkPut checks what can be checked of a put without reading the state:
// its key, and that its lease (if any) is one of this shard's. Whether the
// lease exists is checkLeaseExists.
func (a *applier) checkPut(req *wire.PutRequest) *wire.Error {
	if werr := checkWriteKey(req.Key); werr != nil {
		return werr
	}
	if req.Lease == 0 {
		return nil
	}
	shard, ok := wire.LeaseShard(req.Lease)
	if !ok {
		return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found (not a lease ID)", req.Lease)
	}
	if shard != a.sh.id {
		return wire.Errorf(wire.CodeWrongShard,
			"key %q (shard %d) cannot be attached to lease %016x of shard %d: a key can only be attached to a lease of its own shard; "+
				"give the keys a common hash tag ({tag}) or grant the lease with the key as routing key",
			req.Key, a.sh.id, req.Lease, shard)
	}
	return nil
}

// checkDelete refuses a delete whose Key is reserved. A range starting
// below the reserved keyspace is allowed and skips reserved keys.
func checkDelete(req *wire.DeleteRangeRequest) *wire.Error {
	return checkWriteKey(req.Key)
}

func validateRange(req *wire.RangeRequest) *wire.Error {
	switch {
	case req == nil:
		return wire.Errorf(wire.CodeInvalid, "missing range request")
	case len(req.Key) == 0:
		return wire.Errorf(wire.CodeInvalid, "empty key")
	case req.Limit < 0:
		return wire.Errorf(wire.CodeInvalid, "negative limit %d", req.Limit)
	case req.Revision < 0:
		return wire.Errorf(wire.CodeInvalid, "negative revision %d", req.Revision)
	}
	return nil
}

// checkRevision checks that rev can be read given the current and
// compacted revisions.
func checkRevision(rev, current, compacted mvcc.Revision) *wire.Error {
	if rev > current {
		return wire.Errorf(wire.CodeFutureRevision, "revision %d is newer than the shard (%d)", rev, current)
	}
	if rev < compacted {
		werr := wire.Errorf(wire.CodeCompacted, "revision %d has been compacted (at %d)", rev, compacted)
		werr.CompactRevision = int64(compacted)
		return werr
	}
	return nil
}

// checkTxn validates every compare and the ops of both branches, so that
// a txn either fails before writing anything or runs to the end.
func (a *applier) checkTxn(req *wire.TxnRequest) *wire.Error {
	for i := range req.Compare {
		c := &req.Compare[i]
		switch {
		case len(c.Key) == 0:
			return wire.Errorf(wire.CodeInvalid, "compare %d: empty key", i)
		case c.Target > wire.CompareLease && c.Target != wire.CompareLockToken:
			return wire.Errorf(wire.CodeInvalid, "compare %d: unknown target %d", i, c.Target)
		case c.Result > wire.CompareLess:
			return wire.Errorf(wire.CodeInvalid, "compare %d: unknown relation %d", i, c.Result)
		}
		if c.Target == wire.CompareLockToken {
			// Key is a lock name, not a key.
			if err := lockrules.ValidateName(string(c.Key)); err != nil {
				return wire.Errorf(wire.CodeInvalid, "compare %d: %v", i, err)
			}
			if len(c.RangeEnd) != 0 {
				return wire.Errorf(wire.CodeInvalid, "compare %d: a lock token compare names one lock and takes no range end", i)
			}
		}
	}
	for _, ops := range [][]wire.RequestOp{req.Success, req.Failure} {
		for i := range ops {
			if werr := a.checkOp(&ops[i]); werr != nil {
				return werr
			}
		}
	}
	return nil
}

func (a *applier) checkOp(op *wire.RequestOp) *wire.Error {
	n := 0
	for _, set := range []bool{op.Range != nil, op.Put != nil, op.DeleteRange != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return wire.Errorf(wire.CodeInvalid, "a txn op must carry exactly one operation, not %d", n)
	}
	switch {
	case op.Range != nil:
		if werr := validateRange(op.Range); werr != nil {
			return werr
		}
		if op.Range.Revision != 0 {
			return checkRevision(mvcc.Revision(op.Range.Revision), a.m.current, a.m.compacted)
		}
		return nil
	case op.Put != nil:
		return a.checkPut(op.Put)
	default:
		return checkDelete(op.DeleteRange)
	}
}

func rangeOptions(req *wire.RangeRequest) mvcc.RangeOptions {
	return mvcc.RangeOptions{Limit: req.Limit, KeysOnly: req.KeysOnly, CountOnly: req.CountOnly, MaxBytes: req.MaxBytes}
}

// rangeAt serves req from r given the shard's current and compacted
// revisions. A user error is returned as *wire.Error, a storage error as
// error.
func rangeAt(r *mvcc.Reader, shard uint32, req *wire.RangeRequest, current, compacted mvcc.Revision) (*wire.RangeResponse, *wire.Error, error) {
	rev := mvcc.Revision(req.Revision)
	if rev == 0 {
		rev = current
	}
	if werr := checkRevision(rev, current, compacted); werr != nil {
		return nil, werr, nil
	}
	rr, err := r.Range(req.Key, req.RangeEnd, rev, rangeOptions(req))
	if err != nil {
		return nil, nil, err
	}
	resp := &wire.RangeResponse{
		Header: wire.ResponseHeader{Shard: shard, Revision: int64(rev)},
		Kvs:    rr.KVs,
		More:   rr.More,
		Count:  rr.Count,
	}
	if rr.Cut {
		// A page: the next one starts right after its last key.
		resp.NextKey = append(bytes.Clone(rr.KVs[len(rr.KVs)-1].Key), 0)
	}
	return resp, nil, nil
}
