package statemachine

import (
	"bytes"
	"fmt"

	"github.com/coord-io/coord/barrier"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/queue"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// Primitives.
//
// The rules of locks, elections, queues and barriers live in their
// packages, written against locks.Store (queue.Store adds leases granted
// and revoked inside a command); ruleStore implements them over the
// applier, so that a primitive's writes are ordinary puts and deletes
// (same versions, events and lease attachments) and a primitive command,
// like a txn, makes at most one revision. The revoke of a lease calls
// ownerHooks for the keys it deleted, so that a lock or an election whose
// owner's lease expired is handed on, a queue item whose consumer's lease
// or visibility lease ended goes back to its queue, and a barrier
// participant whose lease ended leaves, in the same command.

// ruleStore is the queue.Store (and locks.Store) of one command: reads
// and writes at rev, the revision the command makes if it writes.
type ruleStore struct {
	a       *applier
	rev     mvcc.Revision
	wrote   bool // a key was put or deleted
	granted bool // a lease was granted or revoked
}

var _ queue.Store = (*ruleStore)(nil)

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
	id, werr, err := s.a.grantLease(ttl)
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

// revReader is the locks.Reader of the keyspace at one revision.
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

// applyRule runs a primitive's rule as one command and encodes its
// result, with the header of the revision it made (or the current one).
// S is the store interface the rule takes (locks.Store or queue.Store).
// A rule fails before it writes (locks.Store); one that wrote and then
// failed is a bug that would leave half a command in the batch, so it is
// a storage-class error.
func applyRule[S locks.Store, Q, R any](a *applier, req Q, rule func(S, Q) (*R, *wire.Error, error), header func(*R) *wire.ResponseHeader) (Result, error) {
	st := a.ruleStore()
	resp, werr, err := rule(any(st).(S), req)
	if err != nil {
		return Result{}, err
	}
	if werr != nil {
		if st.wrote || st.granted {
			return Result{}, fmt.Errorf("statemachine: a primitive's rule wrote and then failed: %w", werr)
		}
		return errResult(werr)
	}
	if st.wrote {
		a.m.current = st.rev
	}
	*header(resp) = a.header()
	return okResult(resp)
}

func lockHeader(r *wire.LockResponse) *wire.ResponseHeader       { return &r.Header }
func unlockHeader(r *wire.UnlockResponse) *wire.ResponseHeader   { return &r.Header }
func leaderHeader(r *wire.LeaderResponse) *wire.ResponseHeader   { return &r.Header }
func enqueueHeader(r *wire.EnqueueResponse) *wire.ResponseHeader { return &r.Header }
func dequeueHeader(r *wire.DequeueResponse) *wire.ResponseHeader { return &r.Header }
func ackHeader(r *wire.AckResponse) *wire.ResponseHeader         { return &r.Header }
func barrierHeader(r *wire.BarrierResponse) *wire.ResponseHeader { return &r.Header }

// ownerHooks hand a primitive instance on after a lease revoke deleted
// one of its keys: for every deleted key under prefix, in key order,
// after all the lease's keys are gone, at the revoke's revision; prev is
// the deleted key's last live version.
var ownerHooks = []struct {
	prefix  string
	deleted func(st *ruleStore, prev *wire.KeyValue) error
}{
	{locks.Root, func(st *ruleStore, prev *wire.KeyValue) error { return locks.OwnerDeleted(st, prev.Key) }},
	{election.Root, func(st *ruleStore, prev *wire.KeyValue) error { return election.OwnerDeleted(st, prev.Key) }},
	{queue.Root, func(st *ruleStore, prev *wire.KeyValue) error { return queue.KeyDeleted(st, prev) }},
	{barrier.Root, func(st *ruleStore, prev *wire.KeyValue) error { return barrier.KeyDeleted(st, prev) }},
}

// ownersDeleted runs ownerHooks for the keys deleted by a revoke through
// st (prevs: their last live versions, in key order); st.wrote tells
// whether they wrote.
func (a *applier) ownersDeleted(st *ruleStore, prevs []*wire.KeyValue) error {
	for _, p := range prevs {
		for _, h := range ownerHooks {
			if bytes.HasPrefix(p.Key, []byte(h.prefix)) {
				if err := h.deleted(st, p); err != nil {
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
	token, werr, err := locks.ReadToken(revReader{r: a.w.Reader(), rev: a.m.current}, string(c.Key))
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
func (sh *Shard) readAt(fn func(locks.Reader) error) (wire.ResponseHeader, error) {
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

// readRule runs a primitive's read rule over the local replica at its
// current revision and stamps the response with that revision's header.
// A *wire.Error from the rule is returned as the error.
func readRule[R any](sh *Shard, read func(locks.Reader) (*R, *wire.Error, error), setHeader func(*R, wire.ResponseHeader)) (*R, error) {
	var resp *R
	var werr *wire.Error
	h, err := sh.readAt(func(r locks.Reader) (err error) {
		resp, werr, err = read(r)
		return err
	})
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	setHeader(resp, h)
	return resp, nil
}

// LockStatus describes lock name from the local replica: holder (Key,
// Owner, Token, Lease) if Held, and the number of Waiters. LeaseTTL is
// left to the caller (the lessor knows it). Errors are *wire.Error
// (CodeInvalid for a bad name), ErrClosed or storage errors.
func (sh *Shard) LockStatus(name string) (*wire.LockStatusResponse, error) {
	return readRule(sh, func(r locks.Reader) (*wire.LockStatusResponse, *wire.Error, error) {
		return locks.ReadStatus(r, name)
	}, func(resp *wire.LockStatusResponse, h wire.ResponseHeader) { resp.Header = h })
}

// Leader returns the leader of election name from the local replica. When
// nobody leads the error is a *wire.Error with CodeNotFound; other errors
// are *wire.Error (CodeInvalid for a bad name), ErrClosed or storage
// errors.
func (sh *Shard) Leader(name string) (*wire.LeaderResponse, error) {
	return readRule(sh, func(r locks.Reader) (*wire.LeaderResponse, *wire.Error, error) {
		return election.ReadLeader(r, name)
	}, func(resp *wire.LeaderResponse, h wire.ResponseHeader) { resp.Header = h })
}

// QueueInfo describes queue name from the local replica: its Ready and
// InFlight counts (O(1): kept in the queue's meta record) and, with peek,
// its Head, the item a Dequeue would get next. Errors are *wire.Error
// (CodeInvalid for a bad name), ErrClosed or storage errors.
func (sh *Shard) QueueInfo(name string, peek bool) (*wire.QueueInfoResponse, error) {
	return readRule(sh, func(r locks.Reader) (*wire.QueueInfoResponse, *wire.Error, error) {
		return queue.ReadInfo(r, name, peek)
	}, func(resp *wire.QueueInfoResponse, h wire.ResponseHeader) { resp.Header = h })
}

// BarrierState describes barrier name from the local replica: whether its
// gate is Held, how many Participants its double barrier has and whether
// its ready record exists (Ready). Errors are *wire.Error (CodeInvalid
// for a bad name), ErrClosed or storage errors.
func (sh *Shard) BarrierState(name string) (*wire.BarrierResponse, error) {
	return readRule(sh, func(r locks.Reader) (*wire.BarrierResponse, *wire.Error, error) {
		return barrier.ReadState(r, name)
	}, func(resp *wire.BarrierResponse, h wire.ResponseHeader) { resp.Header = h })
}
