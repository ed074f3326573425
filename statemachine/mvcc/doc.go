// Package mvcc is the revisioned keyspace of one shard, stored in Pebble:
// the substrate the state machine and the primitives build on.
//
// Every version of every key is one Pebble key; nothing else is written per
// put. A Writer applies puts and deletes at a Revision into a Pebble batch
// that its caller commits (with the caller's own bookkeeping, atomically),
// and reads through the Writer see those uncommitted writes. A Reader
// answers reads at any revision from a consistent Pebble view. Package
// statemachine owns revision checks (current, compacted), the meta record
// and exactly-once records; this package only lays out their keys.
//
// # Key layout
//
// All keys of a shard start with its ID (4 bytes, big-endian), then a tag:
//
//	[shard]'d'[client uint64 BE]               exactly-once record (statemachine)
//	[shard]'k'[escaped key][0x00 0x01][rev]    one version of a user key
//	[shard]'m'                                 meta: applied index, revisions (statemachine)
//
// The user key is escaped (0x00 → 0x00 0xFF) and terminated by 0x00 0x01,
// which keeps user-key order and makes each key's versions contiguous; the
// revision is 8 bytes big-endian, so versions sort oldest first. A data
// key's value is a record: one flags byte (bit 0: tombstone), then for a
// live version uvarint create revision, uvarint version, varint lease and
// the value bytes.
//
// Worked example (shard 7, the revisions of the Revision example):
//
//	put a=1    00000007 'k' 61 00 01 <1>   → {create 1, version 1} "1"
//	put a=2    00000007 'k' 61 00 01 <2>   → {create 1, version 2} "2"
//	delete a   00000007 'k' 61 00 01 <3>   → tombstone
//	put a=3    00000007 'k' 61 00 01 <4>   → {create 4, version 1} "3"
//	compact 3  deletes the keys at <1>, <2> and <3>
//
// # Reads
//
// The newest version of key k at or below revision R is found with
// SeekLT([shard]'k' esc(k) 00 01 <R+1>). A range scan walks the data keys
// from esc(lo) and, per user key, steps through a few versions (or seeks,
// for a long history) to the newest at or below R, skips tombstones, then
// seeks to esc(k) 00 02, the start of the next key.
package mvcc
