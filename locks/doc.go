// Package locks is Coord's distributed lock, exclusive or read-write, and
// its counting semaphore (Semaphore, see "Counting semaphores" below): the
// client handles (Mutex; Mutex with Shared; RWMutex, a shared and an
// exclusive Mutex on one name, in rwmutex.go; Semaphore; the acquire,
// resume, withdraw and release flow Mutex and Semaphore share, in
// grant.go), the server-side waiting for a grant (wait.go) and the names of its key
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
// to name the owner (MatchHolder, over each event; WaitHolder runs it
// over an Events stream): the grant happens in some later
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
// '{' or '}' (ValidateName); they may contain '/', as hierarchical names
// do ("jobs/a", under a role's prefix permission "jobs/"): lock "jobs"
// and lock "jobs/a" are two locks, and neither's prefix is a prefix of
// the other's ("{jobs}/" and "{jobs/a}/"). Under the prefix:
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
// # Read-write locks
//
// A Lock with LockRequest.Shared asks for the lock in shared (read) mode;
// without it, as before, in exclusive (write) mode. Both modes queue on
// the same lock name, in one FIFO of owner keys by arrival. The rule:
// the oldest owner (the head), if exclusive, holds alone; if shared, every
// shared owner from the head up to the first exclusive owner holds
// together. A shared owner that arrives behind a waiting exclusive one
// waits (writer preference: a writer waits only for the owners ahead of
// it, so later readers never starve it), and once that writer is done
// (unlocked, cancelled or its lease gone) the shared owners behind it, up
// to the next exclusive one, are granted in the same command. An election
// is never involved: its owners live under another root.
//
// A shared owner has, beside its owner key o/[rev], a shared marker
//
//	s/[rev as 8 bytes big-endian]  the owner o/[rev] is shared (SharedKey); attached to
//	                               the owner's lease; value: empty while it waits, its
//	                               grant once it holds: a Holder record (Holder.Encode)
//	                               with Key o/[rev], Token and Lease
//
// put with the owner key and deleted with it (by Unlock, or by the
// revoke of its lease, which deletes both). An owner is exclusive exactly
// when it has no marker, so a lock never used in shared mode has the keys
// and records it always had, and takes the same paths. The holder record
// keeps its invariant in both modes (it exists exactly when an owner key
// does and names the oldest) and its encoding; while readers hold it names
// the oldest reader with that reader's token (a Join still updates its
// Tail). An exclusive owner is granted by the holder record naming it, as
// before; a shared owner by its marker's grant. So a waiting Lock watches
// one key, GrantKey: the holder record for an exclusive owner, its
// marker for a shared one, decoded by DecodeGrant, until it names the
// owner key; the deletion of the owner key ends the wait as before
// (MatchHolder and WaitHolder serve both, with GrantKey as holderKey and
// DecodeGrant as decode). A resumed Lock repeats Shared to say which key to watch: the
// server's wait (coord/server) picks the key and decoder by it, and a
// Mutex made with Shared repeats it in every Resume.
//
// The client: RWMutex (RLock, TryRLock, RUnlock; Lock, TryLock, Unlock)
// is a pair of Mutexes on one name and session, ReadLocker (with
// Shared) and WriteLocker, as Curator's InterProcessReadWriteLock; each
// hold keeps its own key, lease and token (RToken, Token), and waits are
// withdrawn and resumed as Mutex's. Holds are not reentrant: a handle
// that holds the read lock and asks for the write lock waits behind
// itself. `coord lock acquire NAME --shared` is a shared Mutex; `coord
// lock status` lists holders and queue with modes and each one's lease
// TTL (LockOwner.LeaseTTL, filled by the server).
//
// A grant's token is the revision of the command that granted it, in
// both modes. Shared owners granted by one command (the unlock of a
// writer with three readers behind it) share that revision as their
// token; a shared owner granted on arrival has its own. Tokens never
// decrease along a lock's history and an exclusive grant's token is above
// every earlier token of the lock. Fencing is for writers:
// wire.CompareLockToken compares the token of the exclusive holder, and
// 0 when the lock is free or held shared; so "lock L = T" holds only
// while the writer granted with T holds L, never for a reader's token,
// and "lock L = 0" means that no writer holds L. A shared holder is told
// its token (LockResponse.Token, status) to name its grant, not to fence.
//
// After any owner leaves a lock with a shared owner left, the rule is
// applied again from the keys (regrant: the owners that hold by it and
// are not granted yet are granted at the command's revision, and the
// holder record is moved to the head if it changed): it writes only what
// changes, so that a revoke may run it once per deleted key. With no
// shared owner left the exclusive hand-off of FIFO.OwnerGone runs. The
// read-write paths read all of a lock's owner keys and markers (O(owners));
// the exclusive paths add one empty-range read of the markers to an
// Unlock and to each owner key a revoke deletes, one delete of a missing
// marker to an Unlock, and one point read to a CompareLockToken and to a
// failing Try.
//
// Status (ReadStatus, wire.LockStatusResponse): Held when anyone holds;
// Key, Owner, Token and Lease describe an exclusive holder only; Readers
// counts the shared holders; Waiters counts the waiters in both modes.
// For a lock with a shared owner (holding or waiting) Holders and Queue
// list the holders (with tokens) and the waiters in queue order, each
// with its mode, at most MaxStatusOwners of each; a lock with exclusive
// owners only answers exactly as before.
//
// Locks are not reentrant in either mode: a lease that holds shared and
// asks again shared holds twice unless a writer waits between; asking
// exclusive it waits behind itself.
//
// # Worked example: a read-write lock
//
// Leases A, B, C and D of the shard of "cfg"; oN and sN are the owner
// key and the shared marker of revision N, g(oN, T, X) a grant (a Holder
// record with Key oN, Token T, Lease X), h the holder record. Revisions
// are counted from 1 at the lock's first command, as the test's memory
// store does (on a fresh shard, whose first write is revision 2, each is
// one higher):
//
//	rev 1 Lock cfg, Shared, lease A, "reader-a"  put o1, s1=g(o1,1,A), h={o1, 1, A, 1, "reader-a"}
//	                                             → {Key: o1, Token: 1}: A reads
//	rev 2 Lock cfg, Shared, lease B              put o2, s2=g(o2,2,B), h.Tail=2 → {o2, 2}: B reads too
//	rev 3 Lock cfg, lease C, "writer-c"          put o3, h.Tail=3 → {o3, 0}: C waits for the readers
//	rev 4 Lock cfg, Shared, lease D              put o4, s4="" (waiting), h.Tail=4 → {o4, 0}: D waits
//	                                             behind the writer
//	      Lock cfg, Shared, Try, lease D         nothing written; CodeLocked: lock "cfg" is held shared
//	                                             by 2 owner(s) and an exclusive owner waits (...)
//	      txn If(lock cfg = 1) ...               fails: no writer holds, LockToken is 0
//	rev 5 Unlock cfg, o1, lease A                delete o1, s1, put h={o2, 2, B, 4, "reader-b"}: B reads on
//	rev 6 revoke of lease B                      delete o2, s2, put h={o3, 6, C, 4, "writer-c"}: C writes
//	                                             alone with token 6
//	      txn If(lock cfg = 6) Then(put {cfg}/x) would succeed now; with token 1, 2 or 0 it fails
//	rev 7 Unlock cfg, o3, lease C                delete o3, put s4=g(o4,7,D), h={o4, 7, D, 4, "reader-d"}:
//	                                             D reads with token 7
//	rev 8 Unlock cfg, o4, lease D                delete o4, s4, h: free
//
// TestRWLockWorkedExample runs it step by step.
//
// # Counting semaphores
//
// Semaphore is the client handle of a counting semaphore, whose rules
// live in package locks/semaphorerules (registered with the state machine
// beside lockrules; its doc.go has the key layout, the grant rule and a
// worked example). Semaphore NAME lives under
// "\x00coord/semaphore/{NAME}/" (SemaphorePrefix), in the shard of hash
// tag NAME: owner keys o/[rev] (attached to the owner's lease; value:
// weight, token, owner data) and a meta record m (limit, permits held,
// counts).
//
// Acquire (wire.MethodSemAcquire) is a waiting call like Lock and goes
// through coord.Client.Wait the same way: the write queues the owner and
// grants it at once if nobody waits and its weight fits; otherwise the
// server answers the intermediate frame with the owner key and waits for
// the grant. A semaphore has no holder record: the grant is a put of the
// owner's own key whose value carries a token (semaphorerules
// .DecodeOwner), so the server watches that one key (a delete means the
// owner left). A wait cut off is resumed with the owner key (Resume,
// sent as a read), which reads the owner first and never reports a grant
// released since; a caller that gives up is withdrawn (Release with its
// lease). Release (wire.MethodSemRelease) and the revoke of a holder's
// lease (semaphorerules.OwnerDeleted, the Revoked hook) give permits back
// and grant, in the same command, the waiters from the head while the
// head's weight fits. SemaphoreStatus (wire.MethodSemStatus) reads the
// limit, the permits held, the holders and the waiters; the server adds
// each owner's lease TTL.
//
// Every acquirer of one name gives the same limit while it has owners;
// the cluster refuses another with wire.CodeInvalid, which Acquire
// reports as ErrLimitMismatch (it checks name, limit and weight itself
// first, so that is the only invalid argument the cluster can still
// find). A grant's token is the revision of the command that granted it;
// owners granted by one command share it.
//
// # Determinism
//
// The rules read and write only through Store: no clock, no randomness,
// no map iteration. They check every user error before their first write,
// so a command fails whole or not at all, and makes at most one revision.
package locks
