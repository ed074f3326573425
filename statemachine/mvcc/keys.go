package mvcc

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/pebble"
)

// Key tags: the byte after the shard ID that says what a Pebble key holds.
const (
	// TagAttach marks the attachment of a user key to a lease (owned by
	// package statemachine): [shard][TagAttach][lease ID uint64 BE][user
	// key]. The user key is stored raw: the lease ID has a fixed length,
	// so the attachments of one lease are contiguous and in key order.
	// The value is empty.
	TagAttach byte = 'a'
	// TagDedup marks a client's exactly-once record (owned by package
	// statemachine): [shard][TagDedup][client ID uint64 BE].
	TagDedup byte = 'd'
	// TagData marks a version of a user key:
	// [shard][TagData][escaped user key][terminator][revision].
	TagData byte = 'k'
	// TagLease marks a lease record (owned by package statemachine):
	// [shard][TagLease][lease ID uint64 BE].
	TagLease byte = 'l'
	// TagMeta marks the shard's single meta record (owned by package
	// statemachine): [shard][TagMeta].
	TagMeta byte = 'm'
	// TagCluster marks the cluster's identity (owned by package
	// statemachine, kept in shard 0 only): [shard][TagCluster].
	TagCluster byte = 'c'
	// TagMember marks a record of the member registry (owned by package
	// statemachine, kept in shard 0 only): [shard][TagMember][member
	// name], holding the member's addresses.
	TagMember byte = 'n'
	// TagCompacting marks a compaction committed in parts and not yet
	// finished (owned by package statemachine): [shard][TagCompacting],
	// holding the compaction's revision.
	TagCompacting byte = 'p'
	// TagRestoring marks a snapshot restore committed in parts and not yet
	// finished (owned by package statemachine): [shard][TagRestoring].
	TagRestoring byte = 'r'
	// TagAlarm marks a raised alarm (owned by package statemachine, kept
	// in every shard): [shard][TagAlarm][alarm type][member name].
	TagAlarm byte = 'x'
)

// The escaping of user keys inside data keys. A 0x00 byte of the user key
// becomes 0x00 0xFF, and the escaped key ends with 0x00 0x01. The mapping
// preserves order (a < b as user keys ⇔ esc(a) < esc(b)), and because
// 0x00 0x01 cannot occur inside an escaped key, all versions of one user key
// are contiguous and no key's versions interleave with another's:
// esc(k) + 0x00 0x01 + revision < esc(k) + 0x00 0x02 <= esc(any key > k).
const (
	escByte   = 0x00
	escEscape = 0xFF
	escTerm   = 0x01
)

// Space is one shard's region of the Pebble key space: every key of the
// shard starts with the shard ID as 4 big-endian bytes.
type Space struct {
	shard  uint32
	prefix [4]byte
}

// NewSpace returns the key space of shard.
func NewSpace(shard uint32) Space {
	var s Space
	s.shard = shard
	binary.BigEndian.PutUint32(s.prefix[:], shard)
	return s
}

// Shard returns the shard ID.
func (s Space) Shard() uint32 { return s.shard }

// Prefix returns the 4-byte prefix of every key of the shard.
func (s Space) Prefix() []byte { return append([]byte(nil), s.prefix[:]...) }

// Lower returns the smallest key of the shard (inclusive bound).
func (s Space) Lower() []byte { return s.prefix[:len(s.prefix):len(s.prefix)] }

// Upper returns an exclusive upper bound of every key of the shard. Tags are
// all below 0xFF, so prefix+0xFF is above every key of the shard and below
// every key of the next one.
func (s Space) Upper() []byte { return s.tagged(0xFF) }

// MetaKey returns the key of the shard's meta record.
func (s Space) MetaKey() []byte { return s.tagged(TagMeta) }

// ClusterKey returns the key of the cluster identity record.
func (s Space) ClusterKey() []byte { return s.tagged(TagCluster) }

// MemberKey returns the key of the member registry's record of name.
func (s Space) MemberKey(name string) []byte { return append(s.tagged(TagMember), name...) }

// MemberBounds returns the bounds [lower, upper) of all member records.
func (s Space) MemberBounds() (lower, upper []byte) {
	return s.tagged(TagMember), s.tagged(TagMember + 1)
}

// AlarmKey returns the key of the alarm of type typ raised by member.
func (s Space) AlarmKey(typ byte, member string) []byte {
	return append(append(s.tagged(TagAlarm), typ), member...)
}

// AlarmBounds returns the bounds [lower, upper) of all alarm records.
func (s Space) AlarmBounds() (lower, upper []byte) {
	return s.tagged(TagAlarm), s.tagged(TagAlarm + 1)
}

// CompactingKey returns the key of the unfinished-compaction marker.
func (s Space) CompactingKey() []byte { return s.tagged(TagCompacting) }

// RestoringKey returns the key of the unfinished-restore marker.
func (s Space) RestoringKey() []byte { return s.tagged(TagRestoring) }

// DedupKey returns the key of client's exactly-once record.
func (s Space) DedupKey(client uint64) []byte {
	return binary.BigEndian.AppendUint64(s.tagged(TagDedup), client)
}

// DedupBounds returns the bounds [lower, upper) of all exactly-once records.
func (s Space) DedupBounds() (lower, upper []byte) {
	return s.tagged(TagDedup), s.tagged(TagDedup + 1)
}

// DedupClient decodes the client ID of a key made by DedupKey.
func (s Space) DedupClient(key []byte) (uint64, bool) {
	if len(key) != len(s.prefix)+1+8 || !bytes.HasPrefix(key, s.prefix[:]) || key[len(s.prefix)] != TagDedup {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[len(s.prefix)+1:]), true
}

// LeaseKey returns the key of the record of lease id.
func (s Space) LeaseKey(id int64) []byte {
	return binary.BigEndian.AppendUint64(s.tagged(TagLease), uint64(id))
}

// LeaseBounds returns the bounds [lower, upper) of all lease records.
func (s Space) LeaseBounds() (lower, upper []byte) {
	return s.tagged(TagLease), s.tagged(TagLease + 1)
}

// LeaseOf decodes the lease ID of a key made by LeaseKey.
func (s Space) LeaseOf(key []byte) (int64, bool) {
	if len(key) != len(s.prefix)+1+8 || !bytes.HasPrefix(key, s.prefix[:]) || key[len(s.prefix)] != TagLease {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(key[len(s.prefix)+1:])), true
}

// AttachKey returns the key recording that user key is attached to lease
// id.
func (s Space) AttachKey(id int64, key []byte) []byte {
	b := make([]byte, 0, len(s.prefix)+1+8+len(key))
	b = append(b, s.prefix[:]...)
	b = append(b, TagAttach)
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	return append(b, key...)
}

// AttachBounds returns the bounds [lower, upper) of the attachments of
// lease id.
func (s Space) AttachBounds(id int64) (lower, upper []byte) {
	lower = s.AttachKey(id, nil)
	if uint64(id) == ^uint64(0) {
		return lower, s.tagged(TagAttach + 1)
	}
	return lower, s.AttachKey(int64(uint64(id)+1), nil)
}

// AttachedKey returns the user key of a key made by AttachKey (aliasing
// it).
func (s Space) AttachedKey(key []byte) ([]byte, bool) {
	n := len(s.prefix) + 1 + 8
	if len(key) < n || !bytes.HasPrefix(key, s.prefix[:]) || key[len(s.prefix)] != TagAttach {
		return nil, false
	}
	return key[n:], true
}

func (s Space) tagged(tag byte) []byte {
	b := make([]byte, 0, len(s.prefix)+1+8)
	b = append(b, s.prefix[:]...)
	return append(b, tag)
}

// dataPrefixLen is the length of [shard][TagData].
const dataPrefixLen = 5

// dataLower and dataUpper bound every data key of the shard.
func (s Space) dataLower() []byte { return s.tagged(TagData) }
func (s Space) dataUpper() []byte { return s.tagged(TagData + 1) }

// escape appends the escaped form of key, terminator included, to b.
func escape(b, key []byte) []byte {
	for _, c := range key {
		if c == escByte {
			b = append(b, escByte, escEscape)
		} else {
			b = append(b, c)
		}
	}
	return append(b, escByte, escTerm)
}

// unescape returns the user key of an escaped key (terminator included).
func unescape(ekey []byte) []byte {
	body := ekey[:len(ekey)-2]
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		out = append(out, body[i])
		if body[i] == escByte {
			i++ // skip the escape byte
		}
	}
	return out
}

// ekey returns the escaped form of a user key.
func ekey(key []byte) []byte { return escape(make([]byte, 0, len(key)+3), key) }

// dataKey returns the data key of the version of ek at rev. The revision
// is stored inverted (^rev, big-endian) so that a key's newest version
// sorts first: "the newest version at or below R" is then the first key
// at or after dataKey(ek, R), a prefix seek that bloom filters can answer.
func (s Space) dataKey(ek []byte, rev Revision) []byte {
	b := make([]byte, 0, dataPrefixLen+len(ek)+revisionLen)
	b = append(b, s.prefix[:]...)
	b = append(b, TagData)
	b = append(b, ek...)
	return binary.BigEndian.AppendUint64(b, ^uint64(rev))
}

// keyStart returns the smallest data key of ek (below all its versions).
func (s Space) keyStart(ek []byte) []byte {
	b := make([]byte, 0, dataPrefixLen+len(ek))
	b = append(b, s.prefix[:]...)
	b = append(b, TagData)
	return append(b, ek...)
}

// keyEnd returns the data key just after every version of ek and before
// every version of the next user key.
func (s Space) keyEnd(ek []byte) []byte {
	b := s.keyStart(ek)
	b[len(b)-1] = escTerm + 1
	return b
}

// splitDataKey splits a data key into the escaped user key (terminator
// included) and the revision. ok is false for a malformed key.
func splitDataKey(k []byte) (ek []byte, rev Revision, ok bool) {
	if len(k) < dataPrefixLen+2+revisionLen {
		return nil, 0, false
	}
	n := len(k) - revisionLen
	return k[dataPrefixLen:n], Revision(^binary.BigEndian.Uint64(k[n:])), true
}

// Comparer is the Pebble comparer of a store holding Spaces: byte order,
// with Split cutting the revision off data keys so that bloom filters and
// prefix seeks work on user keys. A DB must always be opened with it.
var Comparer = func() *pebble.Comparer {
	c := *pebble.DefaultComparer
	c.Name = "coord.mvcc.v1"
	c.Split = func(k []byte) int {
		if len(k) >= dataPrefixLen+2+revisionLen && k[dataPrefixLen-1] == TagData {
			return len(k) - revisionLen
		}
		return len(k)
	}
	return &c
}()

// SnapshotDataVersion reads one record of a shard snapshot (a key of the
// shard less its 4-byte shard prefix, and its value): for a version of a
// user key it returns the escaped user key (the same for every version of
// one key; a key's newest version comes first in key order) and whether
// the version is a tombstone; ok is false for any other record.
func SnapshotDataVersion(key, value []byte) (ek []byte, tombstone, ok bool) {
	if len(key) < 1+2+revisionLen || key[0] != TagData {
		return nil, false, false
	}
	return key[1 : len(key)-revisionLen], isTombstone(value), true
}
