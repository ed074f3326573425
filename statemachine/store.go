package statemachine

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"

	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// ErrClosed is returned by a Store or Shard used after Close.
var ErrClosed = errors.New("statemachine: closed")

// ErrCorruption matches every error caused by corrupt stored state: a
// record, exactly-once result, lease, meta record or snapshot stream that
// does not decode, in this package, in package mvcc or in a primitive's
// rules (errors.Is). It is corruption.ErrCorruption, re-exported.
var ErrCorruption = corruption.ErrCorruption

// ReservedPrefix starts every key of the reserved keyspace, where the
// primitives keep their state. Plain KV writes there are refused
// (wire.CodePermissionDenied); reads are allowed.
const ReservedPrefix = "\x00coord/"

// Pebble tuning. One DB serves every shard of the node.
const (
	cacheSize    = 64 << 20
	memTableSize = 32 << 20
)

// Store owns the Pebble DB of one node, shared by every shard of the node.
// Every key of a shard starts with the shard ID (see package mvcc).
type Store struct {
	cfg Config

	// mu guards db against Close: every use of db holds mu for reading and
	// checks closed first; Close holds it for writing.
	mu     sync.RWMutex
	db     *pebble.DB
	closed bool

	shardsMu sync.Mutex
	shards   map[uint32]*Shard
}

// OpenStore opens (creating if needed) the store in directory dir.
func OpenStore(dir string, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBatchBytes == 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("statemachine: %w", err)
	}
	cache := pebble.NewCache(cacheSize)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:        cache,
		Comparer:     mvcc.Comparer,
		MemTableSize: memTableSize,
		Levels:       []pebble.LevelOptions{{FilterPolicy: bloom.FilterPolicy(10)}},
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("statemachine: open %s: %w", dir, err)
	}
	return &Store{cfg: cfg, db: db, shards: make(map[uint32]*Shard)}, nil
}

// Close closes the DB. It is idempotent; every later call on the store or
// its shards returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// Shard returns the shard id, the same *Shard for the same id.
func (s *Store) Shard(id uint32) *Shard {
	s.shardsMu.Lock()
	defer s.shardsMu.Unlock()
	sh := s.shards[id]
	if sh == nil {
		sh = &Shard{store: s, id: id, space: mvcc.NewSpace(id), latest: mvcc.NewLatestCache(s.cfg.LatestCacheKeys)}
		s.shards[id] = sh
	}
	return sh
}

// DiskSize returns the approximate bytes the store uses on disk: its
// tables and live WAL. It returns 0 after Close.
func (s *Store) DiskSize() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	m := s.db.Metrics()
	return m.Total().Size + int64(m.WAL.Size)
}

// Defragment compacts the store's files over every key (Pebble's manual
// compaction, after flushing the memtable): the space of deleted and
// compacted versions and of obsolete WAL is given back to the file
// system. It returns DiskSize before and after. It runs alongside
// applies and reads (which it slows), and may take long on a large store.
func (s *Store) Defragment() (before, after int64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, 0, ErrClosed
	}
	size := func() int64 {
		m := s.db.Metrics()
		return m.Total().Size + int64(m.WAL.Size)
	}
	before = size()
	// Every key starts with a 4-byte shard ID: [] to 5 × 0xFF covers them.
	if err := s.db.Compact(nil, []byte{0xff, 0xff, 0xff, 0xff, 0xff}); err != nil {
		return before, size(), fmt.Errorf("statemachine: defragment: %w", err)
	}
	// Pebble's metrics give the WAL's size as of the last commit: the
	// flush above switched to a new WAL, so commit nothing to it for the
	// metric to count the new one instead of the one the flush retired.
	if err := s.db.LogData(nil, pebble.NoSync); err != nil {
		return before, size(), fmt.Errorf("statemachine: defragment: %w", err)
	}
	return before, size(), nil
}

// acquire locks the store for reading and returns its DB, or ErrClosed.
// The caller must call s.mu.RUnlock when done, also on error.
func (s *Store) acquire() (*pebble.DB, error) {
	s.mu.RLock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.db, nil
}
