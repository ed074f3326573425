package statemachine

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/locks/semaphorerules"
	"github.com/coord-io/coord/queue/queuerules"
	"github.com/coord-io/coord/statemachine/auth"
	"github.com/coord-io/coord/statemachine/mvcc"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Primitives.
//
// primitives is the registry: every coordination primitive the state
// machine applies, one line each. A primitive's rules package exports
// one primitive.Primitive (its ops, its status queries, its lease-revoke
// hook and its key root); adding a primitive is that package plus one
// line here. The rules are written against primitive.Store (or
// LeaseStore); ruleStore implements it over the applier, so that a
// primitive's writes are ordinary puts and deletes (same versions, events
// and lease attachments) and a primitive command, like a txn, makes at
// most one revision. The revoke of a lease calls each primitive's Revoked
// hook for the keys it deleted under its root, so that a lock or an
// election whose owner's lease expired is handed on, a queue item whose
// consumer's lease or visibility lease ended goes back to its queue, and
// a barrier participant whose lease ended leaves, in the same command.
var primitives = []primitive.Primitive{
	lockrules.Primitive,
	electionrules.Primitive,
	queuerules.Primitive,
	barrierrules.Primitive,
	semaphorerules.Primitive,
	auth.Primitive, // users, roles, permissions (shard wire.AuthShard only)
}

// opEntry is one operation the state machine applies: a core op or a
// primitive's.
type opEntry struct {
	name   string
	newReq func() any // a new request to decode the body into
	apply  func(a *applier, req any) (Result, error)
	// grows reports whether a request may grow the store (refused while
	// a NOSPACE alarm is raised); nil: never.
	grows func(req any) bool
}

// decode decodes the body of a command of op e into a new request.
func (e opEntry) decode(body []byte) (any, error) {
	req := e.newReq()
	if err := unmarshalBody(body, req); err != nil {
		return nil, err
	}
	return req, nil
}

// ops are all the operations by log name (core.go and the primitives);
// queries are the primitives' read-only queries by name. Both are built
// once, at init, from coreOps and primitives; lookups by name never
// depend on map order.
var (
	ops     = map[string]opEntry{}
	queries = map[string]primitive.Read{}
)

func init() {
	for name, op := range coreOps {
		op.name = name
		ops[name] = op
	}
	for _, p := range primitives {
		register(p, primitives)
	}
}

// register adds the ops and queries of p, which is in list, to ops and
// queries. A name registered twice or key roots that overlap are
// programming errors: it panics.
func register(p primitive.Primitive, list []primitive.Primitive) {
	for _, other := range list {
		if other.Name != p.Name && (strings.HasPrefix(other.Root, p.Root) || strings.HasPrefix(p.Root, other.Root)) {
			panic(fmt.Sprintf("statemachine: the key roots of primitives %s and %s overlap", p.Name, other.Name))
		}
	}
	for _, op := range p.Ops {
		if _, dup := ops[op.Name]; dup {
			panic(fmt.Sprintf("statemachine: operation %q of primitive %s is registered twice", op.Name, p.Name))
		}
		ops[op.Name] = opEntry{name: op.Name, newReq: op.NewRequest, apply: primitiveOp(op), grows: op.Grows}
	}
	for _, q := range p.Reads {
		if _, dup := queries[q.Name]; dup {
			panic(fmt.Sprintf("statemachine: query %q of primitive %s is registered twice", q.Name, p.Name))
		}
		queries[q.Name] = q
	}
}

// primitiveOp applies a primitive's operation as one command and encodes
// its result, with the header of the revision it made (or the current
// one). A rule fails before it writes; one that wrote and then failed is
// a bug that would leave half a command in the batch, so it is a
// storage-class error.
func primitiveOp(op primitive.Op) func(a *applier, req any) (Result, error) {
	return func(a *applier, req any) (Result, error) {
		st := a.ruleStore()
		resp, werr, err := op.Apply(st, req)
		if err != nil {
			return Result{}, err
		}
		if werr != nil {
			if st.wrote || st.granted {
				return Result{}, fmt.Errorf("statemachine: a primitive's rule wrote and then failed: %w", werr)
			}
			return errResult(werr)
		}
		if resp == nil {
			return Result{}, fmt.Errorf("statemachine: op %s returned no response and no error", op.Name)
		}
		if st.wrote {
			a.m.current = st.rev
		}
		*op.Header(resp) = a.header()
		return okResult(resp)
	}
}

// ruleStore is the primitive.LeaseStore of one command: reads
// and writes at rev, the revision the command makes if it writes.
type ruleStore struct {
	a       *applier
	rev     mvcc.Revision
	wrote   bool // a key was put or deleted
	granted bool // a lease was granted or revoked
}

var _ primitive.LeaseStore = (*ruleStore)(nil)

func (a *applier) ruleStore() *ruleStore { return &ruleStore{a: a, rev: a.m.current + 1} }

func (s *ruleStore) Get(key []byte) (*wire.KeyValue, error) {
	return s.a.w.Reader().Get(key, s.rev)
}

func (s *ruleStore) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	rr, err := s.a.w.Reader().Range(key, end, s.rev, mvcc.RangeOptions{Limit: int64(limit)})
	return rr.KVs, err
}

func (s *ruleStore) Count(key, end []byte) (int64, error) {
	rr, err := s.a.w.Reader().Range(key, end, s.rev, mvcc.RangeOptions{CountOnly: true})
	return rr.Count, err
}

func (s *ruleStore) Put(key, value []byte, lease int64) error {
	if lease != 0 {
		ok, err := s.LeaseExists(lease)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("statemachine: a primitive's rule put %q with lease %016x, which does not exist", key, lease)
		}
	}
	if _, err := s.a.doPut(&wire.PutRequest{Key: key, Value: value, Lease: lease}, s.rev); err != nil {
		return err
	}
	s.wrote = true
	return nil
}

func (s *ruleStore) Delete(key []byte) (bool, error) {
	prevs, err := s.a.doDelete(key, nil, s.rev, nil)
	if err != nil {
		return false, err
	}
	if len(prevs) > 0 {
		s.wrote = true
	}
	return len(prevs) > 0, nil
}

func (s *ruleStore) LeaseExists(id int64) (bool, error) {
	if shard, ok := wire.LeaseShard(id); !ok || shard != s.a.sh.id {
		return false, nil
	}
	e, err := s.a.lease(id)
	if err != nil {
		return false, err
	}
	return e.exists, nil
}

func (s *ruleStore) Shard() uint32 { return s.a.sh.id }

func (s *ruleStore) GrantLease(ttl int64) (int64, *wire.Error, error) {
	if ttl < 1 {
		return 0, nil, fmt.Errorf("statemachine: a primitive's rule granted a lease of TTL %d", ttl)
	}
	id, werr, err := s.a.grantLease(ttl, "")
	if werr == nil && err == nil {
		s.granted = true
	}
	return id, werr, err
}

func (s *ruleStore) RevokeLease(id int64) error {
	if shard, ok := wire.LeaseShard(id); !ok || shard != s.a.sh.id {
		return nil
	}
	e, err := s.a.lease(id)
	if err != nil || !e.exists {
		return err
	}
	s.granted = true
	return s.a.revokeLease(s, id, e)
}

func (s *ruleStore) Revision() int64 { return int64(s.rev) }

// revReader is the primitive.Reader of the keyspace at one revision.
type revReader struct {
	r   *mvcc.Reader
	rev mvcc.Revision
}

func (r revReader) Get(key []byte) (*wire.KeyValue, error) { return r.r.Get(key, r.rev) }

func (r revReader) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	rr, err := r.r.Range(key, end, r.rev, mvcc.RangeOptions{Limit: int64(limit)})
	return rr.KVs, err
}

func (r revReader) Count(key, end []byte) (int64, error) {
	rr, err := r.r.Range(key, end, r.rev, mvcc.RangeOptions{CountOnly: true})
	return rr.Count, err
}

// ownersDeleted runs the primitives' Revoked hooks for the keys deleted
// by a revoke through st (prevs: their last live versions, in key order),
// each key's under its primitive's root, in registration order;
// st.wrote tells whether they wrote.
func (a *applier) ownersDeleted(st *ruleStore, prevs []*wire.KeyValue) error {
	for _, p := range prevs {
		for i := range primitives {
			h := &primitives[i]
			if h.Revoked != nil && bytes.HasPrefix(p.Key, []byte(h.Root)) {
				if err := h.Revoked(st, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// compareLockToken evaluates a wire.CompareLockToken compare (validated
// by checkTxn) at the current revision.
func (a *applier) compareLockToken(c *wire.Compare) (bool, error) {
	token, werr, err := lockrules.ReadToken(revReader{r: a.w.Reader(), rev: a.m.current}, string(c.Key))
	if err != nil {
		return false, err
	}
	if werr != nil {
		return false, fmt.Errorf("statemachine: unchecked lock compare: %w", werr)
	}
	return relation(cmpInt(token, c.Version), c.Result), nil
}

// readAt runs fn over the shard's keyspace at its current revision, from
// one consistent view, and returns the header of that revision.
func (sh *Shard) readAt(fn func(primitive.Reader) error) (wire.ResponseHeader, error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return wire.ResponseHeader{}, err
	}
	it := sh.newIter(db)
	defer it.Close()
	m, err := readMeta(it, sh.space)
	if err != nil {
		return wire.ResponseHeader{}, err
	}
	if err := fn(revReader{r: mvcc.NewReader(sh.space, it), rev: m.current}); err != nil {
		return wire.ResponseHeader{}, err
	}
	return wire.ResponseHeader{Shard: sh.id, Revision: int64(m.current)}, nil
}

// Query answers a primitive's read-only query (a primitive.Read
// registered under name, such as lockrules.OpStatus with a
// *wire.LockStatusRequest) from the local replica at its current
// revision, and stamps the response with that revision's header. A
// *wire.Error from the query is returned as the error (CodeInvalid for an
// unknown query); other errors are ErrClosed or storage errors.
func (sh *Shard) Query(name string, req any) (any, error) {
	q, ok := queries[name]
	if !ok {
		return nil, wire.Errorf(wire.CodeInvalid, "unknown query %q", name)
	}
	var resp any
	var werr *wire.Error
	h, err := sh.readAt(func(r primitive.Reader) (err error) {
		resp, werr, err = q.Read(r, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	if resp == nil {
		return nil, fmt.Errorf("statemachine: query %s returned no response and no error", name)
	}
	*q.Header(resp) = h
	return resp, nil
}

// query is Query with its response's type.
func query[R any](sh *Shard, name string, req any) (*R, error) {
	resp, err := sh.Query(name, req)
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*R)
	if !ok {
		return nil, fmt.Errorf("statemachine: query %s answered a %T, not a %T", name, resp, r)
	}
	return r, nil
}

// The queries the server asks by name today (new primitives use Query).

// LockStatus describes lock name from the local replica: holder (Key,
// Owner, Token, Lease) if Held, and the number of Waiters. LeaseTTL is
// left to the caller (the lessor knows it). Errors are *wire.Error
// (CodeInvalid for a bad name), ErrClosed or storage errors.
func (sh *Shard) LockStatus(name string) (*wire.LockStatusResponse, error) {
	return query[wire.LockStatusResponse](sh, lockrules.OpStatus, &wire.LockStatusRequest{Name: name})
}

// Leader returns the leader of election name from the local replica. When
// nobody leads the error is a *wire.Error with CodeNotFound; other errors
// are *wire.Error (CodeInvalid for a bad name), ErrClosed or storage
// errors.
func (sh *Shard) Leader(name string) (*wire.LeaderResponse, error) {
	return query[wire.LeaderResponse](sh, electionrules.OpLeader, &wire.LeaderRequest{Name: name})
}

// QueueInfo describes queue name from the local replica: its Ready and
// InFlight counts (O(1): kept in the queue's meta record) and, with peek,
// its Head, the item a Dequeue would get next. Errors are *wire.Error
// (CodeInvalid for a bad name), ErrClosed or storage errors.
func (sh *Shard) QueueInfo(name string, peek bool) (*wire.QueueInfoResponse, error) {
	return query[wire.QueueInfoResponse](sh, queuerules.OpInfo, &wire.QueueInfoRequest{Name: name, Peek: peek})
}

// BarrierState describes barrier name from the local replica: whether its
// gate is Held, how many Participants its double barrier has and whether
// its ready record exists (Ready). Errors are *wire.Error (CodeInvalid
// for a bad name), ErrClosed or storage errors.
func (sh *Shard) BarrierState(name string) (*wire.BarrierResponse, error) {
	return query[wire.BarrierResponse](sh, barrierrules.OpState, &wire.BarrierRequest{Name: name})
}
