// Package locks is Coord's distributed lock: the client handle (Mutex),
// the server-side waiting for a grant (wait.go) and the names of its key
// layout (rules.go: thin re-exports). Its rules inside the replicated
// state machine live in package locks/lockrules, which the state machine
// registers without linking this package (nor the client it imports).
//
// # Data flow
//
// A Lock call is routed to the shard of the lock's name (the hash tag of
// Prefix(name) is the name) and proposed as one command (op
// lockrules.OpLock). Package statemachine applies it by calling
// lockrules.ApplyLock (registered in lockrules.Primitive) over a Store of
// that shard at the command's revision: the owner is queued, and granted in the same
// command if the lock is free. If it was queued, the server waits on its
// watch hub, from the revision after the command, for the holder record
// to name the owner (WaitHolder): the grant happens in some later
// command, an Unlock of the holder or the revoke of the holder's lease,
// never in the waiting. Package election reuses the same queue (FIFO)
// under its own root.
//
// A queued Lock answers twice: right after its write with the owner key
// (the client's write is then finished, see coord.Client.Wait), and when
// granted. A wait cut off by the connection, a stopping member or the
// server's cap on one call is resumed with LockRequest.Resume = the owner
// key, writing nothing: the owner keeps its place. Each wait first reads
// (linearizably) whether the owner key still exists and holds, then
// waits from after that read, so it never reports a grant that was
// released since. The server withdraws a waiter (Unlock with its lease)
// only when the caller gave up: a cancel, or the caller's deadline.
//
// # Keys
//
// The state of lock NAME lives in the reserved keyspace, under
//
//	Prefix(NAME) = "\x00coord/lock/{NAME}/"
//
// so everything of one lock is in the shard of hash tag NAME, together
// with the user's keys tagged {NAME} ("{NAME}/data"): a transaction can
// check the lock and write them at once. Names are 1 to 256 bytes without
// '{', '}' or '/' (ValidateName). Under the prefix:
//
//	o/[rev as 8 bytes big-endian]  an owner, queued by the command at revision rev;
//	                               value: the owner data; attached to the owner's lease
//	h                              the holder record (no lease): the owner key that
//	                               holds the lock, the fencing token, the owner's lease,
//	                               the newest owner's revision (Tail: an unlock with
//	                               nobody behind needs no scan) and the owner's data
//	                               (Holder; encoding at Holder.Encode)
//
// Owner keys sort by arrival, so the queue is FIFO. The invariant, at
// every revision: the holder record exists exactly when an owner key
// does, and names the lowest one. A grant puts the holder record; the
// lock becoming free deletes it; so a watch on HolderKey sees every
// change of holder.
//
// # Fencing tokens
//
// A grant's token is the revision of the command that granted it (the
// holder record's mod revision). A shard's revisions increase and a lock
// is granted at most once per command, so tokens strictly increase per
// lock across all its holders, are never reused, and survive restarts,
// snapshots and Raft leader changes with no extra state. A transaction
// compare with target wire.CompareLockToken, Key the lock name and
// Version the token, checks the current holder's token (0 when free):
// "If(lock L = T) Then(put {L}/data v)" is refused once L has moved on.
//
// # Worked example
//
// Leases A, B and C of the shard of "jobs"; oN is the owner key
// "\x00coord/lock/{jobs}/o/" + 8 bytes N, h the holder record:
//
//	rev 5  Lock jobs, lease A, owner "host-a"  put o5="host-a" (lease A), put h={o5, 5, A, 5, "host-a"}
//	                                           → LockResponse{Key: o5, Token: 5}: A holds
//	rev 6  Lock jobs, lease B, owner "host-b"  put o6, h.Tail=6 → {Key: o6, Token: 0}: B waits
//	rev 7  Lock jobs, lease C, owner "host-c"  put o7, h.Tail=7 → {Key: o7, Token: 0}: C waits
//	       Lock jobs, Try, lease C             nothing written; CodeLocked:
//	                                           lock "jobs" is held by "host-a" (token 5)
//	rev 8  Unlock jobs, o6, lease B (B gives up)  delete o6; A still holds, C waits
//	       Unlock jobs, o7, lease A            nothing written; CodeNotOwner (o7 is C's)
//	rev 9  revoke of lease A (A crashed)       delete o5, put h={o7, 9, C, 7, "host-c"}: C holds
//	                                           with token 9, granted by the revoke itself
//	rev 10 txn If(lock jobs = 9) Then(put {jobs}/out=x)  succeeds; with token 5 it fails
//	rev 11 Unlock jobs, o7, lease C            delete o7, delete h (Tail 7 is o7: no scan): free
//
// Unlock of a key that is not an owner of the lock (any more) is
// wire.CodeNotHolder and writes nothing; an Unlock whose Lease is not the
// owner key's lease is wire.CodeNotOwner and writes nothing (only the
// owner releases: the key alone, which status shows, proves nothing); a
// waiter's Unlock cancels it (it is never granted afterwards). A lease revoke deletes the lease's
// owner keys and then, in the same command and revision, calls
// lockrules.OwnerDeleted for each (the primitive's Revoked hook), which
// hands the lock on exactly as Unlock does.
// Each Lock queues a new owner, also for a lease that already holds the
// lock (it then waits behind itself): locks are not reentrant.
//
// # Determinism
//
// The rules read and write only through Store: no clock, no randomness,
// no map iteration. They check every user error before their first write,
// so a command fails whole or not at all, and makes at most one revision.
package locks
