package mvcc

import (
	"encoding/binary"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

// record is the value stored under a data key: one version of a user key.
//
// Encoding: a flags byte; for a tombstone nothing else. For a live version:
// uvarint create revision, uvarint version, varint lease, then the value
// bytes up to the end.
type record struct {
	tombstone bool
	create    Revision
	version   int64
	lease     int64
	value     []byte
}

const flagTombstone = 1 << 0

var errCorrupt = corruption.New("mvcc: corrupt record")

func (r *record) appendTo(b []byte) []byte {
	if r.tombstone {
		return append(b, flagTombstone)
	}
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(r.create))
	b = binary.AppendUvarint(b, uint64(r.version))
	b = binary.AppendVarint(b, r.lease)
	return append(b, r.value...)
}

// decodeRecord decodes b; the value aliases b.
func decodeRecord(b []byte) (record, error) {
	if len(b) == 0 {
		return record{}, errCorrupt
	}
	if b[0]&flagTombstone != 0 {
		return record{tombstone: true}, nil
	}
	b = b[1:]
	create, n := binary.Uvarint(b)
	if n <= 0 {
		return record{}, errCorrupt
	}
	b = b[n:]
	version, n := binary.Uvarint(b)
	if n <= 0 {
		return record{}, errCorrupt
	}
	b = b[n:]
	lease, n := binary.Varint(b)
	if n <= 0 {
		return record{}, errCorrupt
	}
	return record{create: Revision(create), version: int64(version), lease: lease, value: b[n:]}, nil
}

// isTombstone reports whether an encoded record is a tombstone.
func isTombstone(b []byte) bool { return len(b) > 0 && b[0]&flagTombstone != 0 }

// keyValue builds the wire form of the live version rec of key at mod.
func (r *record) keyValue(key []byte, mod Revision, keysOnly bool) *wire.KeyValue {
	kv := &wire.KeyValue{
		Key:            key,
		CreateRevision: int64(r.create),
		ModRevision:    int64(mod),
		Version:        r.version,
		Lease:          r.lease,
	}
	if !keysOnly && len(r.value) > 0 {
		kv.Value = r.value
	}
	return kv
}
