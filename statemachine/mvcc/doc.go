// Package mvcc is the revisioned keyspace of one shard, stored in Pebble:
// the substrate the state machine and the primitives build on.
//
// Every version of every key is one Pebble key; nothing else is written per
// put (package statemachine adds an attachment key when a put changes the
// key's lease). A Writer applies puts and deletes at a Revision into a Pebble batch
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
//	[shard]'a'[lease uint64 BE][user key]      key attached to a lease, empty value (statemachine)
//	[shard]'d'[client uint64 BE]               exactly-once record (statemachine)
//	[shard]'k'[escaped key][0x00 0x01][^rev]   one version of a user key
//	[shard]'l'[lease uint64 BE]                lease: uvarint TTL, uvarint renewals (statemachine)
//	[shard]'m'                                 meta: applied index, revisions, lease counter (statemachine)
//
// The attachment keys of one lease are contiguous and in user-key order
// (the lease ID has a fixed length, so the user key needs no escaping):
// revoking a lease reads them with one bounded scan. A put without a lease
// on a key without one writes no lease or attachment key.
//
// The user key is escaped (0x00 → 0x00 0xFF) and terminated by 0x00 0x01,
// which keeps user-key order and makes each key's versions contiguous; the
// revision is stored inverted (^rev, 8 bytes big-endian), so a key's
// versions sort newest first. The store's Comparer splits the revision off
// data keys, so Pebble's bloom filters answer "does any table hold key k?"
// for prefix seeks. A data
// key's value is a record: one flags byte (bit 0: tombstone), then for a
// live version uvarint create revision, uvarint version, varint lease and
// the value bytes.
//
// Worked example (shard 7, the commands of the Revision example; <r> is
// ^r as 8 bytes, so <5> sorts before <4>):
//
//	put a=1    00000007 'k' 61 00 01 <2>   → 00 02 01 00 "1"  {create 2, version 1}
//	put a=2    00000007 'k' 61 00 01 <3>   → 00 02 02 00 "2"  {create 2, version 2}
//	delete a   00000007 'k' 61 00 01 <4>   → 01               tombstone
//	put a=3    00000007 'k' 61 00 01 <5>   → 00 05 01 00 "3"  {create 5, version 1}
//	compact 4  deletes the keys at <4> (the newest <= 4, a tombstone), <3> and <2>
//
// After the four commands the shard's keys, in Pebble order, are
// 'd'… (exactly-once records, if the commands had a client ID), then
// a@5, a@4, a@3, a@2, then 'm' (meta: applied index, current revision 5,
// compacted 0). After compact 4: a@5 and the meta (compacted 4).
//
// # Reads
//
// The newest version of key k at or below revision R is the first key at or
// after [shard]'k' esc(k) 00 01 <R> with the same prefix (SeekPrefixGE). A
// range scan walks the data keys from esc(lo) and, per user key, steps
// over the versions above R (a few with Next, else one seek), takes the
// first version at or below R (skipping tombstones), then moves to the
// next key (one Next when the key has no older versions, else a seek to
// esc(k) 00 02, the start of the next key). Reads at the current revision,
// the common case, take the first version of each key.
//
// A Writer may be given a LatestCache, a bounded map from user key to its
// latest committed version (metadata, and the value when small), which
// answers the write path's "previous version of k" without a seek; it is
// updated only after the Writer's batch commits (Writer.Committed) and is
// emptied whenever the shard's state is replaced.
//
// # History
//
// Reader.History rebuilds the events of revisions from..to: each stored
// version is one event (a live version a put, a tombstone a delete), and
// the version after it, older, is its previous value. Per key it seeks once
// (passing versions above to), steps through the versions in from..to and
// reads one more for the previous value, then seeks to the next key;
// versions below from are not visited. The events are then sorted by
// revision (stable: keys were visited in order).
//
// A data key's record that does not decode fails its read with an error
// matching corruption.ErrCorruption (statemachine.ErrCorruption).
package mvcc
