// Package election is Coord's leader election: the client handle
// (Election, Leader, Observe) and the names of its key layout (rules.go:
// thin re-exports). Its rules inside the replicated state machine live in
// package election/electionrules, which the state machine registers
// without linking this package. The server waits for leadership with the waiting of
// package locks.
//
// An election is the FIFO queue of package locks (locks.FIFO) under its
// own root: a candidate is an owner whose data is its value, the leader is
// the holder, and the term is the fencing token: the revision at which
// the leader gained leadership, strictly increasing per election.
//
// # Keys
//
// The state of election NAME lives under
//
//	Prefix(NAME) = "\x00coord/elect/{NAME}/"
//
// in the shard of hash tag NAME (names as for locks, ValidateName):
//
//	o/[rev as 8 bytes big-endian]  a candidate, campaigning since revision rev;
//	                               value: its value; attached to its lease
//	h                              the leader record (LeaderKey): a locks.Holder with
//	                               the leader's candidate key, term, lease and value
//
// Every change of leader and every Proclaim puts the leader record, and
// the last candidate leaving deletes it: Observe watches that one key
// (DecodeLeader reads its value), on the member with the server's one
// await and on the client with its one reconnecting stream
// (coord.Client.ResumeStream), which reopens it on another member.
//
// # Worked example
//
// Leases A and B of the shard of "db"; cN is the candidate key
// "\x00coord/elect/{db}/o/" + 8 bytes N, h the leader record:
//
//	rev 3  Campaign db, lease A, "10.0.0.1"  put c3, put h={c3, term 3, A, "10.0.0.1"}
//	                                         → LeaderResponse{Key: c3, Term: 3}: A leads
//	rev 4  Campaign db, lease B, "10.0.0.2"  put c4 → {Key: c4, Term: 0}: B waits
//	rev 5  Proclaim db, c3, A, "10.0.0.9"    put c3="10.0.0.9", put h={c3, term 3, A, "10.0.0.9"}
//	       Proclaim db, c4, "x"              CodeNotLeader, nothing written
//	rev 6  revoke of lease A                 delete c3, put h={c4, term 6, B, "10.0.0.2"}: B leads
//	       Resign db, c4, lease A            CodeNotOwner, nothing written: c4 is B's
//	rev 7  Resign db, c4, lease B            delete c4, delete h: nobody leads
//	       Resign db, c4, lease B (again)    OK, nothing written: Resign is idempotent
//
// Resign and Proclaim must name the candidate's lease (else CodeNotOwner,
// nothing written): only the owner of a candidacy ends or changes it. A
// Campaign waits as a Lock does, resumable in its place (see package
// locks).
//
// Each Campaign queues a new candidate, also for a lease that already
// campaigns (it then waits behind itself); a candidate whose lease is
// revoked leaves, and if it led, the next one leads from the revoke.
//
// # Determinism
//
// As for locks: the rules read and write only through lockrules.Store, check
// every user error before their first write, and make at most one
// revision per command.
package election
