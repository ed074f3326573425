package statemachine

import (
	"encoding/binary"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// Shard is the replicated state of one shard: its MVCC keyspace, its meta
// record, its exactly-once table and its leases, all in the Store's DB
// under the shard's prefix.
//
// Apply, Sync, PrepareSnapshot, RecoverFromSnapshot, Open and Close must be
// called serially (the apply loop owns the shard's mutable state: the
// exactly-once cache and the latest-version cache). SaveSnapshot may run concurrently with Apply. The
// read methods (Range, History, Leases, Lease, LeaseKeys, LockStatus,
// Leader, QueueInfo, BarrierState, Revision, AppliedIndex, Hash) may run concurrently
// with anything, even after Close.
type Shard struct {
	store *Store
	id    uint32
	space mvcc.Space

	closed atomic.Bool

	// mu is the shard's state lock: RecoverFromSnapshot, which commits
	// the new state in parts, holds it exclusively so that no reader sees
	// a half-restored shard; everything else shares it (acquire).
	mu sync.RWMutex

	// The committed meta, published for concurrent readers.
	applied   atomic.Uint64
	current   atomic.Int64
	compacted atomic.Int64
	lastLease atomic.Uint64
	clock     atomic.Uint64
	clusterID atomic.Uint64                  // the cluster identity (ClusterIdentity), 0 if none
	members   atomic.Pointer[[]MemberRecord] // the member registry (members.go), sorted by name
	alarms    atomic.Pointer[[]wire.Alarm]   // the raised alarms (alarms.go), sorted by type and member

	// clients caches exactly-once records read from or written to the DB.
	// Owned by the apply loop; always equal to what the DB holds (or
	// will hold once the batch in progress commits).
	clients map[uint64]*clientRecord

	// latest caches the latest committed version of recently written
	// keys for the write path (nil when disabled). Owned by the apply
	// loop, like clients: exactly what the DB holds, or empty.
	latest *mvcc.LatestCache
}

// ID returns the shard ID.
func (sh *Shard) ID() uint32 { return sh.id }

// Open loads the shard's committed state and returns the index of the last
// applied entry (0 for a new shard). Open after Close reopens the shard.
func (sh *Shard) Open() (uint64, error) {
	db, err := sh.store.acquire()
	defer sh.store.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	// A restore interrupted by a crash left part of a snapshot and no
	// meta: empty the shard, so that it reports index 0 and Dragonboat,
	// which keeps the snapshot until a recovery from it has completed,
	// restores it again.
	if err := sh.dropHalfRestored(db); err != nil {
		return 0, err
	}
	m, err := getMeta(db, sh.space)
	if err != nil {
		return 0, err
	}
	if err := sh.loadClusterID(db); err != nil {
		return 0, err
	}
	if err := sh.loadMembers(db); err != nil {
		return 0, err
	}
	if err := sh.loadAlarms(db); err != nil {
		return 0, err
	}
	if err := sh.resetLatest(db); err != nil {
		return 0, err
	}
	sh.publish(m)
	sh.clients = make(map[uint64]*clientRecord)
	sh.closed.Store(false)
	return m.applied, nil
}

// Close marks the shard closed: later calls return ErrClosed. The Store
// keeps the DB open for other shards.
func (sh *Shard) Close() error {
	sh.closed.Store(true)
	sh.clients = nil
	sh.latest.Reset(false)
	return nil
}

// resetLatest empties the latest-version cache for the shard's state in
// db: complete when the shard has no data keys.
func (sh *Shard) resetLatest(db *pebble.DB) error {
	if sh.latest == nil {
		return nil
	}
	sh.latest.Reset(false)
	has, err := mvcc.ShardHasData(db, sh.space)
	if err != nil {
		return err
	}
	sh.latest.Reset(!has)
	return nil
}

// Sync makes everything applied so far durable.
func (sh *Shard) Sync() error {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return err
	}
	return db.LogData(nil, pebble.Sync)
}

// Revision returns the shard's current and compacted revisions as of the
// last applied batch.
func (sh *Shard) Revision() (current, compacted int64) {
	return sh.current.Load(), sh.compacted.Load()
}

// AppliedIndex returns the index of the last applied entry.
func (sh *Shard) AppliedIndex() uint64 { return sh.applied.Load() }

func (sh *Shard) publish(m meta) {
	sh.applied.Store(m.applied)
	sh.current.Store(int64(m.current))
	sh.compacted.Store(int64(m.compacted))
	sh.lastLease.Store(m.lastLease)
	sh.clock.Store(m.clock)
}

// acquire is Store.acquire that also fails on a closed shard, and shares
// the shard's state lock (so it waits for a snapshot restore in
// progress). The caller must call sh.release when done, also on error.
func (sh *Shard) acquire() (*pebble.DB, error) {
	db, err := sh.store.acquire()
	sh.mu.RLock()
	if err == nil && sh.closed.Load() {
		err = ErrClosed
	}
	return db, err
}

// release ends what acquire started.
func (sh *Shard) release() {
	sh.mu.RUnlock()
	sh.store.mu.RUnlock()
}

// newIter returns an iterator over every key of the shard.
func (sh *Shard) newIter(r interface {
	NewIter(*pebble.IterOptions) *pebble.Iterator
}) *pebble.Iterator {
	return r.NewIter(&pebble.IterOptions{LowerBound: sh.space.Lower(), UpperBound: sh.space.Upper()})
}

// Range serves a read from the local replica, at one point in time. Errors
// are *wire.Error, or ErrClosed, or a storage error.
func (sh *Shard) Range(req *wire.RangeRequest) (*wire.RangeResponse, error) {
	if werr := validateRange(req); werr != nil {
		return nil, werr
	}
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return nil, err
	}
	it := sh.newIter(db)
	defer it.Close()
	m, err := readMeta(it, sh.space)
	if err != nil {
		return nil, err
	}
	resp, werr, err := rangeAt(mvcc.NewReader(sh.space, it), sh.id, req, m.current, m.compacted)
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	return resp, nil
}

// Hash returns a hash of the shard's whole persisted state: every key (less
// the shard prefix) and value, the meta and exactly-once records included.
// Replicas that applied the same log have the same hash.
func (sh *Shard) Hash() (uint64, error) {
	h, _, err := sh.HashAt()
	return h, err
}

// HashAt is Hash with the shard's revision in the state it hashed (one
// point in time: both are read from one iterator).
func (sh *Shard) HashAt() (hash uint64, revision int64, err error) {
	db, err := sh.acquire()
	defer sh.release()
	if err != nil {
		return 0, 0, err
	}
	it := sh.newIter(db)
	defer it.Close()
	h := fnv.New64a()
	var n [binary.MaxVarintLen64]byte
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()[len(sh.space.Lower()):]
		v := it.Value()
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		h.Write(k)
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
		h.Write(v)
	}
	if err := it.Error(); err != nil {
		return 0, 0, err
	}
	m, err := readMeta(it, sh.space)
	if err != nil {
		return 0, 0, err
	}
	return h.Sum64(), int64(m.current), nil
}
