package coord

import (
	"context"
	"fmt"

	"github.com/coord-io/coord/coord/wire"
)

// Response and data types of the key-value API.
type (
	KeyValue         = wire.KeyValue
	ResponseHeader   = wire.ResponseHeader
	PutResponse      = wire.PutResponse
	GetResponse      = wire.RangeResponse
	DeleteResponse   = wire.DeleteRangeResponse
	TxnResponse      = wire.TxnResponse
	CompactResponse  = wire.CompactResponse
	StatusResponse   = wire.StatusResponse
	ShardStatus      = wire.ShardStatus
	Event            = wire.Event
	EventType        = wire.EventType
	ResponseOp       = wire.ResponseOp
	CompactionResult = wire.CompactResponse
)

// Event types, as etcd's mvccpb.PUT and mvccpb.DELETE; an EventType
// prints as "PUT" or "DELETE".
const (
	EventPut    = wire.EventPut
	EventDelete = wire.EventDelete
)

type opType uint8

const (
	opGet opType = iota + 1
	opPut
	opDelete
)

// Op is one key-value operation, built by OpGet, OpPut or OpDelete (for
// transactions) or implicitly by Get, Put and Delete.
type Op struct {
	t   opType
	key string
	val string

	end          string
	hasEnd       bool
	limit        int64
	rev          int64
	keysOnly     bool
	countOnly    bool
	serializable bool
	prevKV       bool
	lease        int64
	filterPut    bool
	filterDelete bool
}

// OpOption modifies an Op.
type OpOption func(*Op)

// WithPrefix makes the operation act on every key that starts with key.
// An empty key with WithPrefix means every key.
func WithPrefix() OpOption {
	return func(o *Op) {
		if o.key == "" {
			o.key, o.end = "\x00", "\x00"
		} else {
			o.end = string(wire.PrefixEnd([]byte(o.key)))
		}
		o.hasEnd = true
	}
}

// WithFromKey makes the operation act on every key >= key.
func WithFromKey() OpOption {
	return func(o *Op) {
		if o.key == "" {
			o.key = "\x00"
		}
		o.end, o.hasEnd = "\x00", true
	}
}

// WithRange makes the operation act on the keys in [key, end).
func WithRange(end string) OpOption { return func(o *Op) { o.end, o.hasEnd = end, true } }

// WithLimit caps the number of keys a Get returns (0: no limit).
func WithLimit(n int64) OpOption { return func(o *Op) { o.limit = n } }

// WithRev reads at an older revision (0: the current one).
func WithRev(rev int64) OpOption { return func(o *Op) { o.rev = rev } }

// WithKeysOnly returns keys without values.
func WithKeysOnly() OpOption { return func(o *Op) { o.keysOnly = true } }

// WithCountOnly returns only the number of keys.
func WithCountOnly() OpOption { return func(o *Op) { o.countOnly = true } }

// WithSerializable reads from the member's local replica without
// confirming leadership: faster, but it may miss the latest writes.
func WithSerializable() OpOption { return func(o *Op) { o.serializable = true } }

// WithPrevKV returns the previous key-value of a Put or Delete.
func WithPrevKV() OpOption { return func(o *Op) { o.prevKV = true } }

// WithLease attaches the key of a Put to a lease.
func WithLease(id int64) OpOption { return func(o *Op) { o.lease = id } }

func newOp(t opType, key, val string, opts []OpOption) Op {
	o := Op{t: t, key: key, val: val}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// OpGet returns a Get operation for a transaction.
func OpGet(key string, opts ...OpOption) Op { return newOp(opGet, key, "", opts) }

// OpPut returns a Put operation for a transaction.
func OpPut(key, val string, opts ...OpOption) Op { return newOp(opPut, key, val, opts) }

// OpDelete returns a Delete operation for a transaction.
func OpDelete(key string, opts ...OpOption) Op { return newOp(opDelete, key, "", opts) }

func (o Op) endBytes() []byte {
	if !o.hasEnd {
		return nil
	}
	return []byte(o.end)
}

func (o Op) rangeRequest() *wire.RangeRequest {
	return &wire.RangeRequest{
		Key: []byte(o.key), RangeEnd: o.endBytes(), Limit: o.limit, Revision: o.rev,
		KeysOnly: o.keysOnly, CountOnly: o.countOnly, Serializable: o.serializable,
	}
}

func (o Op) putRequest() *wire.PutRequest {
	return &wire.PutRequest{Key: []byte(o.key), Value: []byte(o.val), Lease: o.lease, PrevKV: o.prevKV}
}

func (o Op) deleteRequest() *wire.DeleteRangeRequest {
	return &wire.DeleteRangeRequest{Key: []byte(o.key), RangeEnd: o.endBytes(), PrevKV: o.prevKV}
}

func (o Op) requestOp() wire.RequestOp {
	switch o.t {
	case opGet:
		return wire.RequestOp{Range: o.rangeRequest()}
	case opPut:
		return wire.RequestOp{Put: o.putRequest()}
	default:
		return wire.RequestOp{DeleteRange: o.deleteRequest()}
	}
}

// Put sets key to val.
func (c *Client) Put(ctx context.Context, key, val string, opts ...OpOption) (*PutResponse, error) {
	var resp PutResponse
	if err := c.call(ctx, wire.MethodPut, newOp(opPut, key, val, opts).putRequest(), &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Get reads a key, or a range of keys with WithPrefix, WithFromKey or
// WithRange. Reads are linearizable unless WithSerializable is given.
//
// A range larger than a member's response limit is read in pages, each at
// the first page's revision of each shard, and returned whole: the result
// is one consistent read per shard, as if it had been one response (Header
// and Count are the first page's). If a compaction overtakes the pages the
// Get fails with ErrCompacted.
func (c *Client) Get(ctx context.Context, key string, opts ...OpOption) (*GetResponse, error) {
	req := newOp(opGet, key, "", opts).rangeRequest()
	req.MaxBytes = wire.MaxResponseFrameSize // we follow pages (the member's limit applies)
	var resp GetResponse
	if err := c.call(ctx, wire.MethodRange, req, &resp); err != nil {
		return nil, err
	}
	if resp.NextKey == nil {
		return &resp, nil
	}
	// The next pages: from NextKey, at the revision of each shard read.
	next := *req
	next.Revisions = resp.Header.Revisions
	if resp.Header.Shard != wire.AllShards {
		next.Revisions = map[uint32]int64{resp.Header.Shard: resp.Header.Revision}
	}
	for resp.NextKey != nil && (req.Limit == 0 || int64(len(resp.Kvs)) < req.Limit) {
		next.Key = resp.NextKey
		if req.Limit > 0 {
			next.Limit = req.Limit - int64(len(resp.Kvs))
		}
		var page GetResponse
		if err := c.call(ctx, wire.MethodRange, &next, &page); err != nil {
			return nil, err
		}
		if len(page.Kvs) == 0 {
			break // nothing more after all (a page always holds a key)
		}
		resp.Kvs = append(resp.Kvs, page.Kvs...)
		resp.More, resp.NextKey = page.More, page.NextKey
	}
	resp.NextKey = nil
	return &resp, nil
}

// Delete deletes a key, or a range of keys with WithPrefix, WithFromKey or
// WithRange.
func (c *Client) Delete(ctx context.Context, key string, opts ...OpOption) (*DeleteResponse, error) {
	var resp DeleteResponse
	if err := c.call(ctx, wire.MethodDelete, newOp(opDelete, key, "", opts).deleteRequest(), &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// CompactOption modifies a Compact call.
type CompactOption func(*wire.CompactRequest)

// WithCompactShard compacts only the given shard. Without it every shard
// that has reached rev and is not compacted that far is compacted at rev
// (see wire.CompactRequest).
func WithCompactShard(shard uint32) CompactOption {
	return func(r *wire.CompactRequest) { r.Shard, r.AllShards = shard, false }
}

// Compact discards the history below rev. A rev newer than the shard's
// current revision fails with ErrFutureRevision, one at or below its
// compact revision with ErrCompacted; nothing is discarded then. The
// response's Shards says what happened in each shard.
func (c *Client) Compact(ctx context.Context, rev int64, opts ...CompactOption) (*CompactResponse, error) {
	req := &wire.CompactRequest{Revision: rev, AllShards: true}
	for _, f := range opts {
		f(req)
	}
	var resp CompactResponse
	if err := c.call(ctx, wire.MethodCompact, req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Cmp is one condition of a transaction, built by Compare.
type Cmp = wire.Compare

// Value, Version, CreateRevision, ModRevision and LeaseValue name the field
// of key that a Compare looks at.
func Value(key string) Cmp { return Cmp{Target: wire.CompareValue, Key: []byte(key)} }

// Version compares the key's version (0 for a missing key).
func Version(key string) Cmp { return Cmp{Target: wire.CompareVersion, Key: []byte(key)} }

// CreateRevision compares the revision that created the key.
func CreateRevision(key string) Cmp { return Cmp{Target: wire.CompareCreate, Key: []byte(key)} }

// ModRevision compares the revision of the key's last modification.
func ModRevision(key string) Cmp { return Cmp{Target: wire.CompareMod, Key: []byte(key)} }

// LeaseValue compares the lease the key is attached to.
func LeaseValue(key string) Cmp { return Cmp{Target: wire.CompareLease, Key: []byte(key)} }

// Compare completes a condition: result is "=", "!=", ">" or "<"; v is a
// string for Value and an integer for the other targets. An invalid
// combination yields a condition the server rejects with ErrInvalid.
func Compare(cmp Cmp, result string, v any) Cmp {
	switch result {
	case "=", "==":
		cmp.Result = wire.CompareEqual
	case "!=":
		cmp.Result = wire.CompareNotEqual
	case ">":
		cmp.Result = wire.CompareGreater
	case "<":
		cmp.Result = wire.CompareLess
	default:
		cmp.Result = 255
	}
	var n int64
	switch x := v.(type) {
	case string:
		if cmp.Target == wire.CompareValue {
			cmp.Value = []byte(x)
			return cmp
		}
		cmp.Result = 255
	case []byte:
		if cmp.Target == wire.CompareValue {
			cmp.Value = x
			return cmp
		}
		cmp.Result = 255
	case int:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		n = int64(x)
	default:
		cmp.Result = 255
	}
	switch cmp.Target {
	case wire.CompareVersion:
		cmp.Version = n
	case wire.CompareCreate:
		cmp.CreateRevision = n
	case wire.CompareMod:
		cmp.ModRevision = n
	case wire.CompareLease:
		cmp.Lease = n
	default:
		cmp.Result = 255
	}
	return cmp
}

// Txn is a transaction under construction: If(...).Then(...).Else(...).Commit().
type Txn struct {
	c   *Client
	ctx context.Context
	req wire.TxnRequest
}

// Txn starts a transaction. Every key it names must live in one shard
// (use a shared {hash tag}).
func (c *Client) Txn(ctx context.Context) *Txn { return &Txn{c: c, ctx: ctx} }

// If adds conditions; all must hold for Then to run.
func (t *Txn) If(cs ...Cmp) *Txn {
	t.req.Compare = append(t.req.Compare, cs...)
	return t
}

// Then adds the operations run when every condition holds.
func (t *Txn) Then(ops ...Op) *Txn {
	for _, o := range ops {
		t.req.Success = append(t.req.Success, o.requestOp())
	}
	return t
}

// Else adds the operations run when a condition fails.
func (t *Txn) Else(ops ...Op) *Txn {
	for _, o := range ops {
		t.req.Failure = append(t.req.Failure, o.requestOp())
	}
	return t
}

// Commit runs the transaction.
func (t *Txn) Commit() (*TxnResponse, error) {
	for _, c := range t.req.Compare {
		if c.Result > wire.CompareLess {
			return nil, fmt.Errorf("%w: bad compare on key %q", ErrInvalid, c.Key)
		}
	}
	var resp TxnResponse
	if err := t.c.call(t.ctx, wire.MethodTxn, &t.req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
