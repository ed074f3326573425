// Package statemachine is Coord's deterministic replicated core: it
// applies committed commands to the state of a shard and produces their
// results and watch events. It knows nothing of Raft: package coord/server
// adapts it to Dragonboat's on-disk state machine interface.
//
// # Data flow
//
// A Store owns one Pebble DB per node; Store.Shard hands out the state of
// each shard, whose keys all start with the shard ID (layout in package
// mvcc). The server calls Shard.Apply with a batch of committed entries.
// Each entry holds a Command (command.go): its exactly-once tag, the name
// of its one operation (Op) and the operation's msgpack request (Body), in
// a versioned log format (codec.go; commands of the legacy format, one
// field per operation, are still applied alike: legacy.go). Apply decodes
// it, checks the exactly-once table, looks the op up (the core's: put,
// delete range, txn, compact, lease grant, renew or revoke, cluster
// identity; or a registered primitive's), runs it against an mvcc.Writer
// and sets the entry's Result: the msgpack response, or a *wire.Error for
// a user error. All the batch's writes, the exactly-once
// records and lease records it touched and the meta record (applied index,
// current and compacted revision, lease counter) go to Pebble in one
// unsynced batch; Sync makes them durable. Apply returns the batch's
// events, which the server publishes to watchers, and its lease changes,
// which feed the server's lessor (Applied).
//
// Reads (Range, History, Leases, Lease, LeaseKeys, and the primitives'
// queries: Query, and LockStatus, Leader, QueueInfo, BarrierState over
// it) run on any goroutine;
// Range and History read through one Pebble iterator, so the data and the
// meta they see are from one point in time. History rebuilds a watch's
// missed events from the stored versions (history.go). Snapshots are the
// shard's keys streamed in key order (snapshot.go); restoring replaces the
// shard's whole prefix in batches of at most Config.MaxBatchBytes (plus
// one record), the meta record last, under a restoring marker that makes
// Open empty a half-restored shard (so Dragonboat restores it again).
//
// A backup (backup.go) is every shard's snapshot stream in one file, after
// a header and before a SHA-256: WriteBackup writes it from the snapshots
// PrepareBackup took, ReadBackup verifies and summarizes it, and
// RestoreBackup writes it into a new store at applied index 0, without
// the cluster identity and member registry, for a member of a new cluster.
//
// # Compaction
//
// Compact deletes, for each key, the versions older than its newest one
// at or below the revision (and that one too when it is a tombstone). The
// deletions are committed in batches of at most Config.MaxBatchBytes while
// the command runs, each key's oldest first and the deciding version last,
// under a compacting marker that readers take as the compact revision;
// the meta and the marker's removal go with the batch's last commit. A
// crash in between leaves the command unapplied: applied again, it finds
// the same deletions to make and ends in the same state, with the same
// result, whatever the batch bound (members may differ in it).
//
// # Cluster identity
//
// Shard 0 keeps the cluster's identity: the ID of the first
// ClusterIdentity command applied (cluster.go), drawn by a member of the
// new cluster; later ones change nothing. It also keeps the member
// registry (members.go): each member's name, Raft node ID and addresses,
// set by MemberPublish. Both are records outside the keyspace (no
// revision, no event, invisible to ranges and watches), in snapshots and
// in the hash like every record of the shard.
//
// # Alarms
//
// Every shard keeps the cluster's raised alarms (alarms.go): a member
// whose store is over its space quota proposes AlarmActivate (NOSPACE, in
// its name) to every shard, an operator AlarmDeactivate. They are records
// outside the keyspace like the member registry. While a shard holds a
// NOSPACE alarm, Apply answers wire.CodeNoSpace, before anything is
// written, to each command whose op grows the store (opEntry.grows: put,
// txn with a put, lease grant, and the primitives' ops marked with
// primitive.Op.Grows); the check comes after the exactly-once lookup, so
// a retry still gets its first result.
//
// # Leases
//
// A lease is a record (TTL, renewal count) under the shard's prefix, with
// an index of its attached keys; its ID encodes the shard (wire.LeaseID)
// and a per-shard number from the meta record, never reused. The state
// machine has no clock: a grant, a renewal or a revoke is a command, and
// each reports a LeaseChange so that the leader's lessor can track
// deadlines. An expiry revoke carries the renewal count the lessor saw and
// is ignored if the lease was renewed since (lease.go). Revoking deletes
// the lease's keys at one revision.
//
// # Primitives: a registry
//
// The coordination primitives (locks, semaphores, elections, queues,
// barriers) are registered, not wired in: primitives.go holds one list of
// primitive.Primitive values, one line per primitive, each exported by
// the primitive's rules package (locks/lockrules, locks/semaphorerules,
// election/electionrules, queue/queuerules, barrier/barrierrules). Those
// packages import only coord/wire and the leaves statemachine/primitive and
// statemachine/corruption, so this package links neither
// the client packages nor the client nor Dragonboat (TestDependencies
// checks it with go list). A primitive registers its ops (stable log
// names, the type of their request, an apply function, where the
// response's header goes), its status queries (Shard.Query), its
// lease-revoke hook and its key root; adding one is its rules package and
// one line in the list.
//
// The rules are written against primitive.Store (LeaseStore adds leases
// granted and revoked inside a command), which primitives.go implements
// over the applier: their writes are ordinary puts and deletes of
// reserved keys, with the same events and lease attachments, and a
// primitive command makes at most one revision. Revoking a lease then
// calls each primitive's Revoked hook for the keys it deleted under the
// primitive's root, at the revoke's revision, so that a lock or an
// election whose holder's lease is gone is granted to the next owner, a
// queue item whose consumer's lease or visibility lease ended goes back
// to its queue, and a barrier participant whose lease ended leaves, by
// the revoke itself. A hook may itself revoke a lease (a returned item's
// visibility lease), the same way. A queue's Dequeue grants a lease
// inside the command (the item's visibility timeout): it is reported in
// Applied.Leases like any grant, so the leader's lessor times it and
// proposes its expiry. Txn compares with target wire.CompareLockToken
// read a lock's holder record (lockrules.ReadToken).
//
// # Determinism
//
// Apply uses no clock, no randomness and no goroutines, and never depends
// on map order: the same entries give the same bytes in the store, the
// same results and the same events on every member, whatever the batch
// boundaries (Shard.Hash checks it).
//
// # Revisions
//
// Revisions are numbered as etcd numbers them: an empty shard is at
// revision 1 (mvcc.InitialRevision), readable and watchable from 1, the
// first write makes revision 2, and nothing is compacted (compacted
// revision 0), so compacting a fresh shard at 1 succeeds (see
// mvcc.Revision). Each shard of a cluster counts from 1 on its own. The
// numbering lives in the state, not in the code that reads it: a shard
// without a meta record starts at 1, and the meta record stores the
// current revision as is.
//
// Shards written by binaries before this numbering (their empty shard was
// at 0, their first write made 1) keep their revisions: their meta record
// has the same format and says where each shard is, so data directories
// and snapshots made by those binaries go on from their own counter, and
// lock tokens and election terms (revisions) keep increasing. A shard of
// theirs that never wrote (meta at 0) reads as at 1: its keyspace is empty
// either way, and 1 is where this binary puts the same log. What does not
// carry over is a replay from its first entry of a log those binaries
// wrote, when it had writes: applied by this binary, the same entries get
// revisions one higher than on the members that applied them then (the
// hash of the shards differs). A member replays from the first entry only
// when it has no state machine data while the Raft log still holds entry 1
// (the server compacts the log after each Raft snapshot, every
// server.Config.SnapshotEntries entries, 10,000 by default; after that a
// member catches up from a snapshot, which carries the meta). So upgrade
// the members from their data directories, all together, and do not start
// a member with an empty data directory in a cluster whose log still
// holds entries from before this numbering.
//
// # Exactly-once
//
// A command with a ClientID is applied at most once per (ClientID, Seq);
// Seq starts at 1 (a tagged command with Seq 0 is refused). Each client
// has a record (dedup.go): the results of its seqs not yet acknowledged
// (AckBelow), up to 1,024; beyond that the first applied are dropped and
// their seqs kept as ranges, so that a retry of one is answered
// wire.CodeDuplicate while a retry of a write never applied (one that held
// the client's watermark back) is still applied once; past 1,024 ranges
// the oldest become wire.CodeOutcomeUnknown. A retry returns the stored
// result verbatim; a retry of an acknowledged seq gets CodeDuplicate.
//
// Retention is time-based and deterministic: each command carries its
// proposer's wall clock (Command.Time), the shard's clock is the highest
// applied (in the meta record), and a record unused for
// Config.DedupRetention of that clock is dropped (checked every 4096 log
// indexes). A write carries when its client first sent it (Command.Sent,
// on the proposer's clock); one first sent more than half the retention
// before its client's record began (the record is new, or was dropped and
// recreated) may have been applied under the dropped record, and is
// answered wire.CodeOutcomeUnknown instead of being applied. The records
// and the clock are part of the state, and so of snapshots and of the
// hash.
//
// # Corruption
//
// A stored record that does not decode (a key version, exactly-once
// record, lease, attachment key, meta record, cluster identity, member record) or a
// snapshot stream that fails its checks is an error that matches
// ErrCorruption (package statemachine/corruption, re-exported here), as
// do the mvcc layer's and the primitives' corruption errors; the
// package's own sentinels keep matching too.
//
// # Concurrency
//
// The package starts no goroutine. Apply and the other mutating methods
// are called by one goroutine at a time (the shard's apply loop);
// SaveSnapshot and the read methods may run alongside. Store.mu keeps the
// DB open while any of them uses it; each Shard's state lock is shared by
// all of them and taken exclusively by RecoverFromSnapshot, so no reader
// sees a half-restored shard.
package statemachine
