// Package barrier is Coord's barriers: a gate (Hold, Release, Wait) and a
// double barrier (Enter, Leave) of session-bound participants. Their rules
// run inside the replicated state machine, from package
// barrier/barrierrules, which the state machine registers without linking
// this package (rules.go re-exports the names of the key layout); the
// waiting is the server's, on its watch hub; Barrier and Double are the
// client handles.
//
// # Data flow
//
// A barrier request is routed to the shard of the barrier's name (the
// hash tag of Prefix(name) is the name) and, except Wait, proposed as one
// command; package statemachine applies it by calling
// barrierrules.ApplyBarrier (registered in barrierrules.Primitive) over a
// lockrules.Store of that shard. Nothing in the state machine blocks: the
// server reads the state (Shard.BarrierState: Held, Participants, Ready)
// and waits for the event that ends the wait, from the revision after the
// one it read:
//
//	Wait    while the gate is held: the delete of GateKey
//	Enter   until ready:            the put of ReadyKey (or the delete of its own key)
//	Leave   until all have left:    the delete of ReadyKey
//
// Enter and Leave that wait answer twice, as a Lock does (see package
// locks): right after their write (Enter with the participant key), which
// finishes the client's write, and when the wait is over. A wait cut off
// (connection, stopping member, the server's cap on one call) is resumed
// with BarrierRequest.Resume, writing nothing: a participant stays in. A
// participant whose caller gave up (cancel, deadline) during Enter is
// taken out again (Leave), by the member and by the client.
//
// # Keys
//
// Barrier NAME (1 to 256 bytes, no '{' or '}'; '/' is allowed, as in
// "jobs/b") lives under
//
//	Prefix(NAME) = "\x00coord/barrier/{NAME}/"
//
// in the shard of hash tag NAME, with
//
//	g             the gate: present while held (empty value, no lease)
//	r             the double barrier's ready record (value: the number of
//	              participants when it was put; no lease)
//	p/[rev]       a participant, who entered at revision rev (8 bytes
//	              big-endian); value: its Count in decimal; attached to its lease
//
// Invariant of the double barrier, at every revision: r exists from the
// command in which the participants reach the Count of an Enter until
// the command in which the last participant leaves (by Leave or by its
// lease's revoke).
//
// # Rules
//
// Hold puts g if absent, Release deletes it if present (both idempotent:
// nothing written when there is nothing to change), Wait writes nothing.
// Enter{Count ≥ 1, Lease of this shard} puts p/[rev] attached to Lease
// and, if the participants now number at least Count and r is absent,
// puts r in the same command. Leave{Key} deletes the participant key (a
// key that is not a live participant of the barrier is a no-op, not an
// error: a retried Leave, or one racing the lease's expiry, succeeds) and
// deletes r in the same command if no participant is left. When a lease
// is revoked (a crashed participant's session expires), the revoke
// deletes its participant keys and KeyDeleted applies the same rule in
// the same revision, so the others are never stuck in Leave. Every
// response carries the state after the command.
//
// Participants are counted by a range count over p/ (a barrier has few),
// which also walks the tombstones of participants gone since the last
// compaction. A double barrier is reusable once every participant of a
// round has left (r deleted); an Enter while r still exists finds it
// ready at once, as in ZooKeeper's recipe. All participants should pass
// the same Count: each Enter checks its own.
//
// # Worked example
//
// On a fresh shard (at revision 1), with leases A, B, C of the shard of
// "batch":
//
//	rev 2  Hold batch                    put g: Wait blocks
//	rev 3  Release batch                 delete g: every Wait returns
//	rev 4  Enter batch, Count 3, A       put p/4 (lease A) → {Key p/4, Participants 1}
//	rev 5  Enter batch, Count 3, B       put p/5 (lease B) → {p/5, 2}
//	rev 6  Enter batch, Count 3, C       put p/6 (lease C), put r="3"
//	                                     → {p/6, 3, Ready}: all three pass Enter
//	rev 7  Leave batch p/4               delete p/4 → {Participants 2, Ready}
//	rev 8  Leave batch p/5               delete p/5 → {1, Ready}: A and B wait in Leave
//	rev 9  revoke C (C crashed)          delete p/6, delete r: A and B pass Leave
//
// # Determinism
//
// The rules read and write only through lockrules.Store: no clock, no
// randomness, no map iteration; they check every user error before their
// first write and make at most one revision.
package barrier
