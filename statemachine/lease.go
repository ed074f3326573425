package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// Leases.
//
// A lease is a record under [shard]'l'[ID]: its granted TTL and its
// renewal count (RenewSeq). The state machine knows no time: the server's
// lessor, on the leader, tracks deadlines from the LeaseChanges Apply
// reports, and proposes an expiry revoke carrying the RenewSeq it last
// saw (see LeaseRevoke).
//
// A key put with a lease is attached to it: its version records the lease
// ID, and [shard]'a'[ID][key] (empty value) indexes the lease's keys, so
// that a revoke finds them without scanning the keyspace. Invariant: the
// attachment exists exactly when the key's newest version is live and
// carries the lease. A put with another lease (or none) moves the
// attachment; a delete removes it. A put without a lease on a key without
// a lease, the common case, writes nothing more than before.
//
// IDs are wire.LeaseID(shard, n) with n the meta's lease counter plus 1:
// never reused, also across snapshots.

// MaxLeaseTTL is the longest lease TTL in seconds the state machine
// accepts, as etcd's: a deadline that far off still fits a time.Duration.
// Members refuse much shorter ones (server.Config.MaxLeaseTTL).
const MaxLeaseTTL = 9_000_000_000

// maxLeaseNumber is the largest per-shard lease number wire.LeaseID holds.
const maxLeaseNumber = 1<<48 - 1

// leaseRecord is the stored state of a lease. Encoding: uvarint TTL,
// uvarint RenewSeq, then the owner's bytes (none for a lease without
// one, so records written before owners existed decode unchanged).
type leaseRecord struct {
	ttl      int64
	renewSeq uint64
	owner    string // the user that granted the lease ("" for none)
}

func (l leaseRecord) encode() []byte {
	b := make([]byte, 0, 2*binary.MaxVarintLen64+len(l.owner))
	b = binary.AppendUvarint(b, uint64(l.ttl))
	b = binary.AppendUvarint(b, l.renewSeq)
	return append(b, l.owner...)
}

var errCorruptLease = corruption.New("statemachine: corrupt lease record")

func decodeLeaseRecord(b []byte) (leaseRecord, error) {
	ttl, n := binary.Uvarint(b)
	if n <= 0 {
		return leaseRecord{}, errCorruptLease
	}
	seq, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return leaseRecord{}, errCorruptLease
	}
	return leaseRecord{ttl: int64(ttl), renewSeq: seq, owner: string(b[n+m:])}, nil
}

// leaseEntry is a lease as one Apply call sees it: read from the DB once,
// then changed in memory and written (or deleted) at the next flush.
type leaseEntry struct {
	rec    leaseRecord
	exists bool
	dirty  bool
}

// lease returns the entry of lease id (exists false if there is none).
func (a *applier) lease(id int64) (*leaseEntry, error) {
	if e := a.leases[id]; e != nil {
		return e, nil
	}
	if a.leases == nil {
		a.leases = make(map[int64]*leaseEntry)
	}
	e := &leaseEntry{}
	v, closer, err := a.db.Get(a.sh.space.LeaseKey(id))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		e.rec, err = decodeLeaseRecord(v)
		_ = closer.Close()
		if err != nil {
			return nil, err
		}
		e.exists = true
	}
	a.leases[id] = e
	return e, nil
}

// flushLeases adds the changed lease records to b, in ID order.
func (a *applier) flushLeases(b *pebble.Batch) error {
	var ids []int64
	for id, e := range a.leases {
		if e.dirty {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		e := a.leases[id]
		var err error
		if e.exists {
			err = b.Set(a.sh.space.LeaseKey(id), e.rec.encode(), nil)
		} else {
			err = b.Delete(a.sh.space.LeaseKey(id), nil)
		}
		if err != nil {
			return err
		}
		e.dirty = false
	}
	return nil
}

// checkLeaseExists checks that the lease of a put validated by checkPut
// exists.
func (a *applier) checkLeaseExists(req *wire.PutRequest) (*wire.Error, error) {
	if req.Lease == 0 {
		return nil, nil
	}
	e, err := a.lease(req.Lease)
	if err != nil || e.exists {
		return nil, err
	}
	return wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", req.Lease), nil
}

// attachKey attaches key to lease id (in the batch).
func (a *applier) attachKey(id int64, key []byte) {
	_ = a.w.Batch().Set(a.sh.space.AttachKey(id, key), nil, nil)
	a.noteAttach(id, key, true)
}

// detach detaches key from lease id (in the batch).
func (a *applier) detach(id int64, key []byte) {
	_ = a.w.Batch().Delete(a.sh.space.AttachKey(id, key), nil)
	a.noteAttach(id, key, false)
}

func (a *applier) noteAttach(id int64, key []byte, on bool) {
	if a.attach == nil {
		a.attach = make(map[int64]map[string]bool)
	}
	m := a.attach[id]
	if m == nil {
		m = make(map[string]bool)
		a.attach[id] = m
	}
	m[string(key)] = on
}

// attachedKeys returns the keys attached to lease id, in key order: the
// committed attachments, updated by this call's.
func (a *applier) attachedKeys(id int64) ([][]byte, error) {
	lo, hi := a.sh.space.AttachBounds(id)
	it := a.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	var keys [][]byte
	pending := a.attach[id]
	for valid := it.First(); valid; valid = it.Next() {
		k, ok := a.sh.space.AttachedKey(it.Key())
		if !ok {
			_ = it.Close()
			return nil, corruption.Errorf("statemachine: corrupt attachment key %x", it.Key())
		}
		if on, ok := pending[string(k)]; ok && !on {
			continue
		}
		keys = append(keys, bytes.Clone(k))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	// Search only the committed keys, which are sorted: the ones appended
	// here come in map order.
	committed := keys
	added := false
	for k, on := range pending {
		if !on {
			continue
		}
		i := sort.Search(len(committed), func(i int) bool { return bytes.Compare(committed[i], []byte(k)) >= 0 })
		if i < len(committed) && bytes.Equal(committed[i], []byte(k)) {
			continue // committed already (before a flush in this call)
		}
		keys = append(keys, []byte(k))
		added = true
	}
	if added {
		sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	}
	return keys, nil
}

func (a *applier) leaseGrant(req *LeaseGrant) (Result, error) {
	if req.TTL < 1 {
		return errResult(wire.Errorf(wire.CodeInvalid, "lease TTL must be at least 1 second, not %d", req.TTL))
	}
	if req.TTL > MaxLeaseTTL {
		return errResult(wire.Errorf(wire.CodeInvalid, "lease TTL %d s is over the maximum of %d s", req.TTL, int64(MaxLeaseTTL)))
	}
	id, werr, err := a.grantLease(req.TTL, req.Owner)
	if err != nil {
		return Result{}, err
	}
	if werr != nil {
		return errResult(werr)
	}
	return okResult(&wire.LeaseGrantResponse{Header: a.header(), ID: id, TTL: req.TTL})
}

// grantLease creates a lease of ttl (≥ 1) seconds with the next ID and
// reports it to the lessor. A *wire.Error (the shard ran out of lease
// IDs) changes nothing.
func (a *applier) grantLease(ttl int64, owner string) (int64, *wire.Error, error) {
	n := a.m.lastLease + 1
	id := wire.LeaseID(a.sh.id, n)
	if shard, ok := wire.LeaseShard(id); n > maxLeaseNumber || !ok || shard != a.sh.id {
		return 0, wire.Errorf(wire.CodeInvalid, "shard %d cannot grant more leases", a.sh.id), nil
	}
	e, err := a.lease(id)
	if err != nil {
		return 0, nil, err
	}
	a.m.lastLease = n
	*e = leaseEntry{rec: leaseRecord{ttl: ttl, owner: owner}, exists: true, dirty: true}
	a.changes = append(a.changes, LeaseChange{ID: id, TTL: ttl})
	return id, nil, nil
}

func (a *applier) leaseRenew(req *LeaseRenew) (Result, error) {
	resp := &wire.LeaseKeepAliveResponse{IDs: req.IDs, TTLs: make([]int64, len(req.IDs))}
	for i, id := range req.IDs {
		if shard, ok := wire.LeaseShard(id); !ok || shard != a.sh.id {
			continue // not a lease of this shard: TTL 0
		}
		e, err := a.lease(id)
		if err != nil {
			return Result{}, err
		}
		if !e.exists {
			continue
		}
		e.rec.renewSeq++
		e.dirty = true
		resp.TTLs[i] = e.rec.ttl
		a.changes = append(a.changes, LeaseChange{ID: id, TTL: e.rec.ttl, RenewSeq: e.rec.renewSeq})
	}
	resp.Header = a.header()
	return okResult(resp)
}

func (a *applier) leaseRevoke(req *LeaseRevoke) (Result, error) {
	var e *leaseEntry
	if shard, ok := wire.LeaseShard(req.ID); ok && shard == a.sh.id {
		var err error
		if e, err = a.lease(req.ID); err != nil {
			return Result{}, err
		}
	}
	if e == nil || !e.exists {
		return errResult(wire.Errorf(wire.CodeLeaseNotFound, "lease %016x not found", req.ID))
	}
	if req.Expire && e.rec.renewSeq != req.RenewSeq {
		// A stale expiry: the lease was renewed after the lessor's view.
		// Ignored; the lessor learns the lease's current state.
		a.changes = append(a.changes, LeaseChange{ID: req.ID, TTL: e.rec.ttl, RenewSeq: e.rec.renewSeq})
		return okResult(&wire.LeaseRevokeResponse{Header: a.header()})
	}
	st := a.ruleStore()
	if err := a.revokeLease(st, req.ID, e); err != nil {
		return Result{}, err
	}
	if st.wrote {
		a.m.current = st.rev
	}
	return okResult(&wire.LeaseRevokeResponse{Header: a.header()})
}

// revokeLease revokes lease id (e, which exists) at st's revision: it
// deletes every key attached to it, drops the lease and reports it to the
// lessor, then runs ownerHooks for the deleted keys, so that the
// primitives whose keys were deleted (a lock's holder, a queue's
// in-flight item, a barrier's participant) are handed on in the same
// command. A hook may revoke another lease the same way.
func (a *applier) revokeLease(st *ruleStore, id int64, e *leaseEntry) error {
	keys, err := a.attachedKeys(id)
	if err != nil {
		return err
	}
	var gone []*wire.KeyValue
	for _, k := range keys {
		// Reserved keys too: the primitives attach their keys to leases.
		prevs, err := a.doDelete(k, nil, st.rev, nil)
		if err != nil {
			return err
		}
		if len(prevs) > 0 {
			gone = append(gone, prevs[0])
			st.wrote = true
		}
		if len(prevs) == 0 || prevs[0].Lease != id {
			a.detach(id, k) // a stale attachment: drop it anyway
		}
	}
	e.exists, e.dirty = false, true
	a.changes = append(a.changes, LeaseChange{ID: id, TTL: e.rec.ttl, RenewSeq: e.rec.renewSeq, Revoked: true})
	// The primitives whose keys left are handed on, at the same revision.
	return a.ownersDeleted(st, gone)
}

// LeaseInfo is a lease as stored: its granted TTL in seconds and its
// renewal count.
type LeaseInfo struct {
	ID       int64
	TTL      int64
	RenewSeq uint64
	// Owner is the user that granted the lease ("" when auth was off or
	// the state machine granted it).
	Owner string
}

// Leases returns every lease of the shard, by ID.
func (sh *Shard) Leases() ([]LeaseInfo, error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return nil, err
	}
	lo, hi := sh.space.LeaseBounds()
	it := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	defer it.Close()
	var out []LeaseInfo
	for valid := it.First(); valid; valid = it.Next() {
		id, ok := sh.space.LeaseOf(it.Key())
		if !ok {
			return nil, errCorruptLease
		}
		rec, err := decodeLeaseRecord(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, LeaseInfo{ID: id, TTL: rec.ttl, RenewSeq: rec.renewSeq, Owner: rec.owner})
	}
	return out, it.Error()
}

// Lease returns lease id, and false if the shard has no such lease.
func (sh *Shard) Lease(id int64) (LeaseInfo, bool, error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return LeaseInfo{}, false, err
	}
	v, closer, err := db.Get(sh.space.LeaseKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return LeaseInfo{}, false, nil
	}
	if err != nil {
		return LeaseInfo{}, false, err
	}
	defer closer.Close()
	rec, err := decodeLeaseRecord(v)
	if err != nil {
		return LeaseInfo{}, false, err
	}
	return LeaseInfo{ID: id, TTL: rec.ttl, RenewSeq: rec.renewSeq, Owner: rec.owner}, true, nil
}

// LeaseKeys returns the keys attached to lease id, in key order (none for
// a lease that does not exist).
func (sh *Shard) LeaseKeys(id int64) ([][]byte, error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return nil, err
	}
	lo, hi := sh.space.AttachBounds(id)
	it := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	defer it.Close()
	var keys [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		k, ok := sh.space.AttachedKey(it.Key())
		if !ok {
			return nil, corruption.Errorf("statemachine: corrupt attachment key %x", it.Key())
		}
		keys = append(keys, bytes.Clone(k))
	}
	return keys, it.Error()
}
