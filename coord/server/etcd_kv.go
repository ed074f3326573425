package server

import (
	"bytes"
	"context"
	"sort"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's KV service: Range, Put, DeleteRange, Txn and Compact as calls of
// the core's kv methods. What the core's requests lack is done here only
// where the result stays etcd's: a range's sort and revision filters are
// applied to the whole range (read page by page at one revision), with
// the limit after them; Put's ignore_value and ignore_lease read the key
// and write it back in a transaction that checks it did not change.

var etcdKVService = etcdService{name: "KV", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdKVServer{d: d}
	pb.RegisterKVServer(gs, s)
	return gw.RegisterKVHandlerServer(context.Background(), mux, s)
}}

type etcdKVServer struct {
	pb.UnimplementedKVServer
	d *etcdDoor
}

func (k *etcdKVServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkEtcdRange(r); err != nil {
		return nil, err
	}
	cl, err := k.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := k.d.rangeKeys(ctx, cl, r)
	if werr != nil {
		return nil, k.d.etcdError(cl, werr)
	}
	return resp, nil
}

func (k *etcdKVServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	switch {
	case len(r.Key) == 0:
		return nil, rpctypes.ErrGRPCEmptyKey
	case r.IgnoreValue && len(r.Value) != 0:
		return nil, rpctypes.ErrGRPCValueProvided
	case r.IgnoreLease && r.Lease != 0:
		return nil, rpctypes.ErrGRPCLeaseProvided
	}
	cl, err := k.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	if r.IgnoreValue || r.IgnoreLease {
		resp, werr := k.d.putKeeping(ctx, cl, r)
		if werr != nil && werr.Code == wire.CodeNotFound {
			return nil, rpctypes.ErrGRPCKeyNotFound
		}
		if werr != nil {
			return nil, k.d.etcdError(cl, werr)
		}
		return resp, nil
	}
	resp, werr := etcdCall[wire.PutRequest, wire.PutResponse](ctx, k.d, cl, wire.MethodPut,
		&wire.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKV: r.PrevKv})
	if werr != nil {
		return nil, k.d.etcdError(cl, werr)
	}
	return &pb.PutResponse{Header: k.d.header(&resp.Header), PrevKv: etcdKV(resp.PrevKV)}, nil
}

func (k *etcdKVServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if len(r.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	cl, err := k.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.DeleteRangeRequest, wire.DeleteRangeResponse](ctx, k.d, cl, wire.MethodDelete,
		&wire.DeleteRangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, PrevKV: r.PrevKv})
	if werr != nil {
		return nil, k.d.etcdError(cl, werr)
	}
	return &pb.DeleteRangeResponse{Header: k.d.header(&resp.Header), Deleted: resp.Deleted, PrevKvs: etcdKVs(resp.PrevKvs)}, nil
}

func (k *etcdKVServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	wr, err := wireTxn(r)
	if err != nil {
		return nil, err
	}
	cl, err := k.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.TxnRequest, wire.TxnResponse](ctx, k.d, cl, wire.MethodTxn, wr)
	if werr != nil {
		if werr.Code == wire.CodeTooLarge {
			if n := len(wr.Compare) + len(wr.Success) + len(wr.Failure); n > k.d.core.cfg.MaxTxnOps {
				return nil, rpctypes.ErrGRPCTooManyOps
			}
			if strings.Contains(werr.Message, "range results") {
				return nil, status.Error(codes.ResourceExhausted, werr.Message)
			}
		}
		return nil, k.d.etcdError(cl, werr)
	}
	out := &pb.TxnResponse{Header: k.d.header(&resp.Header), Succeeded: resp.Succeeded}
	branch := r.Failure
	if resp.Succeeded {
		branch = r.Success
	}
	for i, op := range resp.Responses {
		switch {
		case op.Range != nil:
			rr := branch[i].GetRequestRange()
			kvs, more := etcdRangePost(rr, op.Range.Kvs, op.Range.More)
			out.Responses = append(out.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{
				Header: k.d.header(&op.Range.Header), Kvs: kvs, More: more, Count: op.Range.Count}}})
		case op.Put != nil:
			out.Responses = append(out.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{
				Header: k.d.header(&op.Put.Header), PrevKv: etcdKV(op.Put.PrevKV)}}})
		case op.DeleteRange != nil:
			out.Responses = append(out.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{
				Header: k.d.header(&op.DeleteRange.Header), Deleted: op.DeleteRange.Deleted, PrevKvs: etcdKVs(op.DeleteRange.PrevKvs)}}})
		}
	}
	return out, nil
}

// Compact compacts the history below r.Revision: of the one shard, or
// with several shards of each shard that has reached it (each shard has
// its own revisions; see the README). Coord's compaction is physical
// when applied.
func (k *etcdKVServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	cl, err := k.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.CompactRequest, wire.CompactResponse](ctx, k.d, cl, wire.MethodCompact,
		&wire.CompactRequest{Revision: r.Revision, AllShards: k.d.core.Shards() > 1})
	if werr != nil {
		return nil, k.d.etcdError(cl, werr)
	}
	return &pb.CompactionResponse{Header: k.d.header(&resp.Header)}, nil
}

// checkEtcdRange refuses what etcd's API layer refuses in a range.
func checkEtcdRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// etcdSortOrder is the order a range's results are sorted in, as etcd
// reads sort_order and sort_target: a target other than the key without
// an order sorts ascending; the key ascending is the store's own order.
func etcdSortOrder(r *pb.RangeRequest) pb.RangeRequest_SortOrder {
	switch {
	case r.SortTarget != pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_NONE:
		return pb.RangeRequest_ASCEND
	case r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND:
		return pb.RangeRequest_NONE
	}
	return r.SortOrder
}

// etcdRangeFiltered reports whether a range's results are filtered or
// sorted here, so that the core reads the whole range and the limit
// applies afterwards.
func etcdRangeFiltered(r *pb.RangeRequest) bool {
	return etcdSortOrder(r) != pb.RangeRequest_NONE || r.MinModRevision != 0 || r.MaxModRevision != 0 ||
		r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
}

// wireRange is the core's request for an etcd range.
func wireRange(r *pb.RangeRequest) *wire.RangeRequest {
	byValue := r.SortTarget == pb.RangeRequest_VALUE && etcdSortOrder(r) != pb.RangeRequest_NONE
	w := &wire.RangeRequest{Key: r.Key, RangeEnd: r.RangeEnd, Revision: r.Revision,
		KeysOnly: r.KeysOnly && !byValue, CountOnly: r.CountOnly, Serializable: r.Serializable}
	if !etcdRangeFiltered(r) {
		w.Limit = r.Limit
	}
	return w
}

// etcdRangePost applies to a range's key-values what the core did not:
// etcd's revision filters, its sort, the limit after them, keys_only.
func etcdRangePost(r *pb.RangeRequest, kvs []*wire.KeyValue, more bool) ([]*mvccpb.KeyValue, bool) {
	if etcdRangeFiltered(r) {
		kvs = etcdFilter(r, kvs)
		etcdSort(r, kvs)
		if r.Limit > 0 && int64(len(kvs)) > r.Limit {
			kvs, more = kvs[:r.Limit], true
		}
	}
	out := etcdKVs(kvs)
	if r.KeysOnly {
		for _, kv := range out {
			kv.Value = nil
		}
	}
	return out, more
}

// etcdFilter keeps the key-values within the range's revision bounds.
func etcdFilter(r *pb.RangeRequest, kvs []*wire.KeyValue) []*wire.KeyValue {
	out := kvs[:0]
	for _, kv := range kvs {
		switch {
		case r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision,
			r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision,
			r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision,
			r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// etcdSort sorts key-values by the range's target and order (stably: ties
// stay in key order).
func etcdSort(r *pb.RangeRequest, kvs []*wire.KeyValue) {
	order := etcdSortOrder(r)
	if order == pb.RangeRequest_NONE {
		return
	}
	cmp := func(a, b *wire.KeyValue) int {
		switch r.SortTarget {
		case pb.RangeRequest_VERSION:
			return cmpInt64(a.Version, b.Version)
		case pb.RangeRequest_CREATE:
			return cmpInt64(a.CreateRevision, b.CreateRevision)
		case pb.RangeRequest_MOD:
			return cmpInt64(a.ModRevision, b.ModRevision)
		case pb.RangeRequest_VALUE:
			return bytes.Compare(a.Value, b.Value)
		}
		return bytes.Compare(a.Key, b.Key)
	}
	sort.SliceStable(kvs, func(i, j int) bool {
		if order == pb.RangeRequest_DESCEND {
			return cmp(kvs[i], kvs[j]) > 0
		}
		return cmp(kvs[i], kvs[j]) < 0
	})
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rangeKeys reads an etcd range whole: page by page at the first page's
// revision (each shard's, with several), then filtered and sorted.
func (d *etcdDoor) rangeKeys(ctx context.Context, cl *Caller, r *pb.RangeRequest) (*pb.RangeResponse, *wire.Error) {
	if r.Revision > 0 {
		if werr := d.oneShard("a range at a revision", r.Key, r.RangeEnd); werr != nil {
			return nil, werr
		}
	}
	wr := wireRange(r)
	wr.MaxBytes = int64(d.core.cfg.MaxResponseBytes)
	first, werr := etcdCall[wire.RangeRequest, wire.RangeResponse](ctx, d, cl, wire.MethodRange, wr)
	if werr != nil {
		return nil, werr
	}
	kvs, more := first.Kvs, first.More
	for next := first.NextKey; next != nil; {
		cont := *wr
		cont.Key, cont.Revisions = next, pageRevisions(&first.Header)
		if wr.Limit > 0 {
			cont.Limit = wr.Limit - int64(len(kvs))
		}
		p, werr := etcdCall[wire.RangeRequest, wire.RangeResponse](ctx, d, cl, wire.MethodRange, &cont)
		if werr != nil {
			return nil, werr
		}
		kvs = append(kvs, p.Kvs...)
		more, next = p.More, p.NextKey
	}
	out := &pb.RangeResponse{Count: first.Count}
	out.Kvs, out.More = etcdRangePost(r, kvs, more)
	h := first.Header
	if r.Revision > 0 && h.Shard != wire.AllShards && int(h.Shard) < len(d.core.shards) {
		// etcd's header carries the store's revision, not the one read.
		cur, _ := d.core.shards[h.Shard].Revision()
		h.Revision = max(h.Revision, cur)
	}
	out.Header = d.header(&h)
	return out, nil
}

// pageRevisions pins a range's later pages to its first page's revisions.
func pageRevisions(h *wire.ResponseHeader) map[uint32]int64 {
	if h.Shard == wire.AllShards {
		return h.Revisions
	}
	return map[uint32]int64{h.Shard: h.Revision}
}

// oneShard refuses what etcd defines over its one revision counter when
// [key, end) spans shards, each with its own revisions.
func (d *etcdDoor) oneShard(what string, key, end []byte) *wire.Error {
	if _, one := wire.RangeShard(key, end, d.core.Shards()); one {
		return nil
	}
	return wire.Errorf(wire.CodeInvalid,
		"%s over %q..%q spans shards, and each shard has its own revisions: give the keys a common hash tag, e.g. {user1}/a and {user1}/b, and range over a tagged prefix (or read without a revision)", what, key, end)
}

// putKeeping serves a put with ignore_value or ignore_lease: it reads
// the key, then writes it with its current value or lease in a
// transaction that checks its mod revision, again until the key did not
// change in between. A missing key is etcd's ErrKeyNotFound.
func (d *etcdDoor) putKeeping(ctx context.Context, cl *Caller, r *pb.PutRequest) (*pb.PutResponse, *wire.Error) {
	for {
		cur, werr := etcdCall[wire.RangeRequest, wire.RangeResponse](ctx, d, cl, wire.MethodRange, &wire.RangeRequest{Key: r.Key})
		if werr != nil {
			return nil, werr
		}
		if len(cur.Kvs) == 0 {
			return nil, wire.Errorf(wire.CodeNotFound, "key not found")
		}
		kv := cur.Kvs[0]
		p := &wire.PutRequest{Key: r.Key, Value: r.Value, Lease: r.Lease, PrevKV: r.PrevKv}
		if r.IgnoreValue {
			p.Value = kv.Value
		}
		if r.IgnoreLease {
			p.Lease = kv.Lease
		}
		resp, werr := etcdCall[wire.TxnRequest, wire.TxnResponse](ctx, d, cl, wire.MethodTxn, &wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareMod, Result: wire.CompareEqual, Key: r.Key, ModRevision: kv.ModRevision}},
			Success: []wire.RequestOp{{Put: p}},
		})
		if werr != nil {
			return nil, werr
		}
		if resp.Succeeded && len(resp.Responses) == 1 && resp.Responses[0].Put != nil {
			return &pb.PutResponse{Header: d.header(&resp.Header), PrevKv: etcdKV(resp.Responses[0].Put.PrevKV)}, nil
		}
		if ctx.Err() != nil {
			return nil, wire.Errorf(wire.CodeCanceled, "put: %v", ctx.Err())
		}
	}
}

// wireTxn translates an etcd transaction, or refuses what the core cannot
// do (a nested transaction, ignore_value/ignore_lease in a put op) and
// what etcd refuses (an empty key, a key put twice or put and deleted).
func wireTxn(r *pb.TxnRequest) (*wire.TxnRequest, error) {
	w := &wire.TxnRequest{}
	for _, c := range r.Compare {
		cs, err := wireCompare(c)
		if err != nil {
			return nil, err
		}
		w.Compare = append(w.Compare, cs...)
	}
	var err error
	if w.Success, err = wireOps(r.Success); err != nil {
		return nil, err
	}
	if w.Failure, err = wireOps(r.Failure); err != nil {
		return nil, err
	}
	return w, nil
}

// wireCompare translates one compare. A value compare on a missing key
// always fails in etcd (a missing key has no value), while the core
// compares a missing key's value as empty: where that would hold, the
// compare also requires the key (every key of its range) to exist.
func wireCompare(c *pb.Compare) ([]wire.Compare, error) {
	if len(c.Key) == 0 {
		return nil, rpctypes.ErrGRPCEmptyKey
	}
	w := wire.Compare{Key: c.Key, RangeEnd: c.RangeEnd}
	switch c.Result {
	case pb.Compare_EQUAL:
		w.Result = wire.CompareEqual
	case pb.Compare_NOT_EQUAL:
		w.Result = wire.CompareNotEqual
	case pb.Compare_GREATER:
		w.Result = wire.CompareGreater
	case pb.Compare_LESS:
		w.Result = wire.CompareLess
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown compare result %d", c.Result)
	}
	switch c.Target {
	case pb.Compare_VERSION:
		w.Target, w.Version = wire.CompareVersion, c.GetVersion()
	case pb.Compare_CREATE:
		w.Target, w.CreateRevision = wire.CompareCreate, c.GetCreateRevision()
	case pb.Compare_MOD:
		w.Target, w.ModRevision = wire.CompareMod, c.GetModRevision()
	case pb.Compare_VALUE:
		w.Target, w.Value = wire.CompareValue, c.GetValue()
	case pb.Compare_LEASE:
		w.Target, w.Lease = wire.CompareLease, c.GetLease()
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown compare target %d", c.Target)
	}
	out := []wire.Compare{w}
	if w.Target == wire.CompareValue {
		missingHolds := (w.Result == wire.CompareEqual && len(w.Value) == 0) ||
			w.Result == wire.CompareNotEqual || (w.Result == wire.CompareLess && len(w.Value) > 0)
		if missingHolds {
			out = append(out, wire.Compare{Target: wire.CompareVersion, Result: wire.CompareGreater, Key: c.Key, RangeEnd: c.RangeEnd})
		}
	}
	return out, nil
}

// wireOps translates one branch of a transaction.
func wireOps(ops []*pb.RequestOp) ([]wire.RequestOp, error) {
	out := make([]wire.RequestOp, 0, len(ops))
	var puts [][]byte
	var dels []*wire.DeleteRangeRequest
	for _, op := range ops {
		switch o := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			if err := checkEtcdRange(o.RequestRange); err != nil {
				return nil, err
			}
			out = append(out, wire.RequestOp{Range: wireRange(o.RequestRange)})
		case *pb.RequestOp_RequestPut:
			p := o.RequestPut
			if len(p.Key) == 0 {
				return nil, rpctypes.ErrGRPCEmptyKey
			}
			if p.IgnoreValue || p.IgnoreLease {
				return nil, status.Error(codes.Unimplemented, "ignore_value and ignore_lease in a transaction's put are not supported by Coord yet: give the value and lease")
			}
			puts = append(puts, p.Key)
			out = append(out, wire.RequestOp{Put: &wire.PutRequest{Key: p.Key, Value: p.Value, Lease: p.Lease, PrevKV: p.PrevKv}})
		case *pb.RequestOp_RequestDeleteRange:
			dr := o.RequestDeleteRange
			if len(dr.Key) == 0 {
				return nil, rpctypes.ErrGRPCEmptyKey
			}
			w := &wire.DeleteRangeRequest{Key: dr.Key, RangeEnd: dr.RangeEnd, PrevKV: dr.PrevKv}
			dels = append(dels, w)
			out = append(out, wire.RequestOp{DeleteRange: w})
		case *pb.RequestOp_RequestTxn:
			return nil, status.Error(codes.Unimplemented, "nested transactions (a txn as an op of a txn) are not supported by Coord yet: flatten it into one transaction")
		default:
			return nil, status.Error(codes.InvalidArgument, "a transaction op sets none of range, put, delete_range")
		}
	}
	// etcd refuses a branch that puts a key twice, or puts a key it
	// deletes.
	for i, k := range puts {
		for _, o := range puts[:i] {
			if bytes.Equal(k, o) {
				return nil, rpctypes.ErrGRPCDuplicateKey
			}
		}
		for _, dr := range dels {
			if wire.InRange(k, dr.Key, dr.RangeEnd) {
				return nil, rpctypes.ErrGRPCDuplicateKey
			}
		}
	}
	return out, nil
}
