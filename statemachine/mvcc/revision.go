package mvcc

import "encoding/binary"

// Revision is the logical clock of one shard's keyspace.
//
// An empty shard is at revision 0. Every applied command that writes
// advances the shard by exactly one revision, however many keys it touches
// (a transaction is one revision); a command that writes nothing (a read,
// a delete that matches no key, a compaction) leaves it unchanged. Every
// version of a key is stored under the revision that wrote it, so a key
// never has two versions at one revision: a transaction that writes the
// same key twice keeps the last write.
//
// Worked example, starting from an empty shard (revision 0):
//
//	put a=1        → revision 1; a: {create 1, mod 1, version 1, value 1}
//	put a=2        → revision 2; a: {create 1, mod 2, version 2, value 2}
//	delete a       → revision 3; a tombstone for a is stored at 3
//	put a=3        → revision 4; a new generation: {create 4, mod 4, version 1}
//	compact 3      → still revision 4. For a, the newest version <= 3 is the
//	                 tombstone at 3: it and everything older (1, 2) are
//	                 dropped. Reads at 3 or 4 are unchanged; reads at 1 or 2
//	                 fail with "compacted (3)".
//
// Had the example compacted at 2 instead, version 1 would be dropped and
// version 2 kept (it is the newest <= 2 and is live), so a read at 2 still
// sees a=2.
//
// Encoded, a revision is 8 bytes, big-endian, so that byte order is
// revision order (revisions are never negative). Inside data keys it is
// stored inverted (^rev), so that a key's newest version sorts first.
type Revision int64

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
