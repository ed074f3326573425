package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble"

	"github.com/coord-io/coord/statemachine/corruption"
	"github.com/coord-io/coord/statemachine/mvcc"
)

// meta is the shard's bookkeeping, stored under one key ([shard]'m') and
// written with every applied batch: the index of the last applied entry,
// the current and compacted revisions, and the number of the last lease
// granted (see wire.LeaseID; never reused), and the clock: the highest
// Command.Time applied (milliseconds), which times exactly-once records.
// Encoding: uint64s, big-endian; the clock is left out while it is 0, and
// the lease counter too while both are 0 (24 bytes, the format of shards
// that never granted a lease nor saw a stamped command; 32 with the lease
// counter; 40 with the clock).
//
// A shard without a meta record is empty and at mvcc.InitialRevision (1,
// as an empty etcd store; see newMeta). The record stores the current
// revision as is, so that a shard written by a binary that numbered from
// 0 (before Coord numbered as etcd) keeps its revisions: the format did
// not change. One detail: a record of that binary whose current revision
// is 0 (the shard applied commands, none of which wrote) decodes as 1. Its
// keyspace is empty either way, and 1 is what this binary reaches by
// applying the same log.
type meta struct {
	applied   uint64
	current   mvcc.Revision
	compacted mvcc.Revision
	lastLease uint64
	clock     uint64
}

const (
	metaLen      = 24
	metaLeaseLen = 32
	metaClockLen = 40
)

// newMeta is the meta of a shard that applied nothing: at
// mvcc.InitialRevision, nothing compacted.
func newMeta() meta { return meta{current: mvcc.InitialRevision} }

func (m meta) encode() []byte {
	b := make([]byte, 0, metaClockLen)
	b = binary.BigEndian.AppendUint64(b, m.applied)
	b = binary.BigEndian.AppendUint64(b, uint64(m.current))
	b = binary.BigEndian.AppendUint64(b, uint64(m.compacted))
	if m.lastLease != 0 || m.clock != 0 {
		b = binary.BigEndian.AppendUint64(b, m.lastLease)
	}
	if m.clock != 0 {
		b = binary.BigEndian.AppendUint64(b, m.clock)
	}
	return b
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaLen && len(b) != metaLeaseLen && len(b) != metaClockLen {
		return meta{}, corruption.Errorf("statemachine: corrupt meta record (%d bytes)", len(b))
	}
	m := meta{
		applied:   binary.BigEndian.Uint64(b),
		current:   mvcc.Revision(binary.BigEndian.Uint64(b[8:])),
		compacted: mvcc.Revision(binary.BigEndian.Uint64(b[16:])),
	}
	// A record of a binary that numbered from 0, for a shard that never
	// wrote (see meta).
	m.current = max(m.current, mvcc.InitialRevision)
	if len(b) >= metaLeaseLen {
		m.lastLease = binary.BigEndian.Uint64(b[24:])
	}
	if len(b) == metaClockLen {
		m.clock = binary.BigEndian.Uint64(b[32:])
	}
	return m, nil
}

// readMeta reads the meta record through it (an iterator over the shard);
// a shard without one is new (newMeta). For a reader, a compaction whose first
// parts are committed (the compacting marker) counts as done: the
// returned compacted revision is the marker's when it is higher.
func readMeta(it *pebble.Iterator, space mvcc.Space) (meta, error) {
	m := newMeta()
	key := space.MetaKey()
	if it.SeekGE(key) && bytes.Equal(it.Key(), key) {
		var err error
		if m, err = decodeMeta(it.Value()); err != nil {
			return meta{}, err
		}
	}
	key = space.CompactingKey()
	if it.SeekGE(key) && bytes.Equal(it.Key(), key) {
		if len(it.Value()) != 8 {
			return meta{}, corruption.Errorf("statemachine: corrupt compacting marker (%d bytes)", len(it.Value()))
		}
		m.compacted = max(m.compacted, mvcc.Revision(binary.BigEndian.Uint64(it.Value())))
	}
	return m, it.Error()
}

// getMeta reads the meta record from db (newMeta for a new shard).
func getMeta(db *pebble.DB, space mvcc.Space) (meta, error) {
	v, closer, err := db.Get(space.MetaKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return newMeta(), nil
	}
	if err != nil {
		return meta{}, err
	}
	defer closer.Close()
	return decodeMeta(v)
}
