// Package semaphorerules is the replicated rules of Coord's counting
// semaphore: a limit (a number of permits) per name, owners that ask for
// a weight (a number of permits) and are granted in arrival order, each
// attached to its session lease, and a fencing token per grant. It owns
// the semaphore's key layout, the grant rule, the lease-revoke hook and
// the status read; it imports only coord/wire and the lock rules' Store
// and Reader, so the state machine can register it without linking the
// client.
//
// # Data flow
//
// An acquire is routed to the shard of the semaphore's name (the hash tag
// of Prefix(name) is the name) and proposed as one command. The state
// machine applies it by calling ApplyAcquire over a Store of that shard at
// the command's revision: the owner is queued, and granted in the same
// command if it may be. If it was not, the server waits for the owner
// key's value to carry a token (DecodeOwner; a put of the key is the
// grant, a delete means the owner left): the grant happens in some later
// command, a release or the revoke of a lease, never in the waiting. A
// resumed wait first reads the owner (ReadOwner). ApplyRelease and the
// revoke hook OwnerDeleted take an owner away and grant the waiters that
// then fit. ReadStatus reads a semaphore at one revision.
//
// # Keys
//
// The state of semaphore NAME lives in the reserved keyspace, under
//
//	Prefix(NAME) = "\x00coord/semaphore/{NAME}/"
//
// so everything of one semaphore is in the shard of hash tag NAME,
// together with the user's keys tagged {NAME}. Names are 1 to 256 bytes
// without '{' or '}' and may contain '/', as lock names (ValidateName).
// Under the prefix:
//
//	o/[rev as 8 bytes big-endian]  an owner, queued by the command at revision rev;
//	                               attached to the owner's lease; value (Owner):
//	                               weight, token (0 while waiting), owner data
//	m                              the meta record (no lease): limit, permits held,
//	                               number of holders and of waiters, and Head, a
//	                               revision no waiter is below (Meta)
//
// Owner keys sort by arrival. A granted owner's key is put again with its
// token, so the key's ModRevision is the token, and a watch on it sees
// the grant.
//
// # The grant rule
//
// An acquire of weight w is granted at once when nobody waits and w fits
// in the permits left (Limit − Held); otherwise it waits at the tail.
// Whenever an owner leaves (release, or revoke of its lease), the waiters
// are granted from the head, in arrival order, while the head's weight
// fits in the permits left; the first that does not fit stops the grant,
// even when a later, smaller one would fit. So a large request is not
// starved by small ones: once it is at the head, nobody behind it is
// granted before it.
//
// The first acquirer sets the limit; while the semaphore has holders or
// waiters every acquire must give the same limit (wire.CodeInvalid naming
// both otherwise), and once the last owner left the meta record is gone
// and the next acquirer may set another. A weight is 1 to the limit (0 is
// read as 1); more is wire.CodeInvalid, not a wait that could never end.
// A Try that cannot be granted at once is wire.CodeLocked and writes
// nothing. A release of a key that is no owner (any more) is
// wire.CodeNotHolder; one whose Lease is not the key's lease is
// wire.CodeNotOwner; both write nothing. Each acquire queues a new owner,
// also for a lease that already holds permits.
//
// # Fencing tokens
//
// A grant's token is the revision of the command that granted it. A
// shard's revisions increase, so tokens never decrease in grant order,
// strictly increase from one granting command to the next, are never
// reused by a later command, and survive restarts and snapshots with no
// extra state. One command may grant several waiters (a holder of weight
// 3 leaving lets three of weight 1 in): they share its token, and the
// pair (token, owner key) is unique.
//
// # Worked example
//
// Leases A, B, C and D of the shard of "S"; oN is the owner key
// "\x00coord/semaphore/{S}/o/" + 8 bytes N, m the meta record written as
// {Limit, Held, Holders, Waiters, Head}, an owner value as {weight, token}:
//
//	rev 5  Acquire S limit 3 weight 2, lease A  put o5={2,5} (lease A), m={3,2,1,0,0}
//	                                            → {Key: o5, Token: 5}: A holds 2 of 3
//	rev 6  Acquire S limit 3 weight 2, lease B  put o6={2,0}, m={3,2,1,1,6} → Token 0: B waits
//	rev 7  Acquire S limit 3 weight 1, lease C  put o7={1,0}, m={3,2,1,2,6} → Token 0: C waits,
//	                                            though 1 permit is free: B is ahead
//	       Acquire S limit 5, lease D           nothing written; CodeInvalid: semaphore "S"
//	                                            has a limit of 3, not 5 ...
//	       Acquire S limit 3, Try, lease D      nothing written; CodeLocked
//	rev 8  revoke of lease A (A crashed)        delete o5; put o6={2,8}, o7={1,8},
//	                                            m={3,3,2,0,0}: B and C hold, token 8 both
//	rev 9  Release S o6, lease B                delete o6, m={3,1,1,0,0}
//	rev 10 Acquire S limit 3 weight 3, lease D  put o10={3,0}, m={3,1,1,1,10}: D waits
//	rev 11 Acquire S limit 3 weight 1, lease B  put o11={1,0}, m={3,1,1,2,10}: B waits
//	                                            behind D, though 2 permits are free
//	rev 12 Release S o10, lease D (D gives up)  delete o10; put o11={1,12}, m={3,2,2,0,0}
//	rev 13 Release S o7, lease C                delete o7, m={3,1,1,0,0}
//	rev 14 Release S o11, lease B               delete o11, delete m: S is empty, and the
//	                                            next acquire sets the limit again
//
// # Invariants
//
// At every revision, for every semaphore:
//
//   - the meta record exists exactly when an owner key does;
//   - every holder arrived before every waiter (owner keys sort as
//     holders, then waiters);
//   - Held is the sum of the holders' weights and Held ≤ Limit; Holders
//     and Waiters count the owner keys; no waiter is below Head, and no
//     holder at or above it;
//   - no waiter is left that fits: when anyone waits, the first waiter's
//     weight is more than Limit − Held;
//   - a holder's token is its key's ModRevision.
//
// A revoke deletes all the lease's keys first and then calls OwnerDeleted
// for each: between two of those calls the counts still include the
// deleted owners not handed on yet, and the invariants hold again after
// the last.
//
// # Determinism
//
// The rules read and write only through Store: no clock, no randomness,
// no map iteration. They check every user error before their first write,
// so a command fails whole or not at all, and makes at most one revision.
package semaphorerules
