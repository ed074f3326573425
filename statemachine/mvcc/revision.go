package mvcc

import "encoding/binary"

// Revision is the logical clock of one shard's keyspace, numbered as
// etcd numbers its store's.
//
// An empty shard is at revision 1 (InitialRevision): reads and watches at
// 1 see the empty keyspace. Every applied command that writes advances
// the shard by exactly one revision, however many keys it touches (a
// transaction is one revision), so the first write makes revision 2; a
// command that writes nothing (a read, a delete that matches no key, a
// compaction) leaves it unchanged. Every version of a key is stored under
// the revision that wrote it, so a key never has two versions at one
// revision: a transaction that writes the same key twice keeps the last
// write. The compact revision starts at 0 (nothing compacted), so a fresh
// shard can be compacted at 1, as etcd's can.
//
// Worked example, starting from an empty shard (revision 1):
//
//	put a=1        → revision 2; a: {create 2, mod 2, version 1, value 1}
//	put a=2        → revision 3; a: {create 2, mod 3, version 2, value 2}
//	delete a       → revision 4; a tombstone for a is stored at 4
//	put a=3        → revision 5; a new generation: {create 5, mod 5, version 1}
//	compact 4      → still revision 5. For a, the newest version <= 4 is the
//	                 tombstone at 4: it and everything older (2, 3) are
//	                 dropped. Reads at 4 or 5 are unchanged; reads at 1 to 3
//	                 fail with "compacted (4)".
//
// Had the example compacted at 3 instead, version 2 would be dropped and
// version 3 kept (it is the newest <= 3 and is live), so a read at 3 still
// sees a=2.
//
// Shards written before Coord numbered as etcd (an empty shard was at 0,
// the first write made 1) keep their numbering: package statemachine
// stores the current revision, and a stored one is never renumbered.
//
// Encoded, a revision is 8 bytes, big-endian, so that byte order is
// revision order (revisions are never negative). Inside data keys it is
// stored inverted (^rev), so that a key's newest version sorts first.
type Revision int64

// InitialRevision is the revision of an empty shard, as in etcd: the
// first write makes InitialRevision+1.
const InitialRevision Revision = 1

// revisionLen is the encoded size of a Revision.
const revisionLen = 8

// AppendRevision appends the 8-byte big-endian encoding of r to b.
func AppendRevision(b []byte, r Revision) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(r))
}

// DecodeRevision decodes an encoding made by AppendRevision.
func DecodeRevision(b []byte) Revision {
	return Revision(binary.BigEndian.Uint64(b))
}
