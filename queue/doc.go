// Package queue is Coord's work queue with at-least-once delivery: the
// client handle (Queue) and the names of its key layout (rules.go: thin
// re-exports). Its rules inside the replicated state machine live in
// package queue/queuerules, which the state machine registers without
// linking this package.
//
// # Data flow
//
// Enqueue, Dequeue and Ack are routed to the shard of the queue's name
// (the hash tag of Prefix(name) is the name, also for the dead-letter
// queue NAME.dead) and proposed as one command each, carrying the
// client's exactly-once tag (client ID, sequence number): a retried
// Dequeue whose first answer was lost gets that same delivery back, it
// never takes a second item. Unless that delivery has ended meanwhile
// (the answer was lost for longer than the visibility timeout): the
// member checks its replica before it answers, never reports an ended
// delivery (wire.CodeNotFound instead), and Queue dequeues again. Package statemachine applies them by calling
// queuerules.ApplyEnqueue, ApplyDequeue and ApplyAck (registered in
// queuerules.Primitive) over a Store of that shard at the command's
// revision. Competing consumers each get a different item
// because the choice is made in the log.
//
// A Dequeue never waits: on an empty queue it answers wire.CodeEmpty
// without writing. Queue.Dequeue then waits with a call that writes
// nothing (wire.MethodQueueWait): the member parks it, one waiter woken
// per put under ReadyPrefix (an item became ready), in arrival order, and
// the client dequeues again with a new sequence number. So a consumer may
// wait for hours without holding back its client's acknowledgement
// watermark (the client's other writes are forgotten by the state machine
// as they finish), and a wait cut off (a broken connection, the member's
// call cap) is simply made again: it held nothing. Waiting never blocks
// the apply loop.
//
// # Receipts: only the consumer releases
//
// The member that proposes a Dequeue draws a random receipt (never 0) and
// stamps it into the command; the delivery's in-flight record keeps its
// ReceiptHash (SHA-256, so reading the reserved keyspace does not reveal
// it) and the answer carries the receipt, to the consumer only (and, for
// a retry, from the client's exactly-once record). Ack and Nack must
// present it: an ack without the receipt of the delivery in flight is
// wire.CodeNotOwner and changes nothing, whoever sends it and whatever it
// knows of the item's sequence number. A delivery that timed out and was
// handed on has a new receipt; its old one completes nothing (naming its
// delivery number, as Queue.Ack does, the ack is wire.CodeNotFound).
// In-flight records written by commands without a receipt (proposed before
// receipts existed, replayed from the log) have no hash and are completed
// by any ack, as they were then.
//
// The visibility timeout is time, and the state machine has none: it is
// enacted with a lease, exactly like session expiry. A Dequeue grants,
// inside the command, a new lease of VisibilitySeconds and attaches the
// item's in-flight key to it; the grant is reported in the batch's lease
// changes, so the leader's lessor times it and proposes its revoke when
// it expires. The consumer's marker is attached to the consumer's own
// (session) lease. When either lease is revoked, KeyDeleted (the
// primitive's Revoked hook) runs in the revoke's command and revision and
// returns the item. Leader detects, Raft enacts.
//
// # Keys
//
// Queue NAME lives under
//
//	Prefix(NAME)      = "\x00coord/queue/{NAME}/"
//	Prefix(NAME.dead) = "\x00coord/queue/{NAME}/dead/"
//
// (same hash tag, same shard: moving an item to the dead-letter queue is
// part of one command). Names are those of locks (1 to 256 bytes without
// '{' or '}'; '/' is allowed: "jobs/a" is a queue of its own, whose keys
// "{jobs/a}/..." never mix with queue jobs' "{jobs}/..." nor with its
// dead-letter queue's "{jobs}/dead/..."), or such a name + ".dead"
// ("jobs/a.dead", under "{jobs/a}/dead/"); a dead-letter queue has no
// dead-letter queue of its own. Under a queue's prefix, with seq the
// item's sequence number as 8 bytes big-endian:
//
//	m          meta record (Meta): Next, Fresh, Ready, InFlight, RetLow; no lease
//	r/[seq]    a ready item (Record.EncodeReady): deliveries so far, max
//	           deliveries, value; no lease
//	f/[seq]    an in-flight item (Record.EncodeInFlight): deliveries (this one
//	           included), max deliveries, consumer lease, visibility lease,
//	           the hash of the delivery's receipt, value; attached to the
//	           visibility lease
//	c/[seq]    the consumer's marker (empty); attached to the consumer's lease
//
// An item is ready (r/ only) or in flight (f/ and c/ together), never
// both. Sequence numbers start at 1, strictly increase in enqueue order
// and are never reused (Next is in the meta record, so it survives
// snapshots and a drained queue). An item keeps its seq for life, so an
// item that comes back sorts ahead of every later item: FIFO among
// deliveries.
//
// # Finding the head without scanning
//
// Deleted keys stay in the MVCC keyspace as tombstones until compaction,
// so "the first live key under r/" would walk the tombstones of every
// item taken since the last compaction. Instead the meta record keeps
// Fresh, the lowest sequence number never delivered: the ready items
// [Fresh, Next) are exactly the never-delivered ones, and they are
// contiguous (items leave r/ only by being dequeued, lowest first). Every
// other ready item was delivered and came back (Returned = Ready - (Next
// - Fresh) of them), and has a seq below Fresh, at least RetLow. So a
// Dequeue (and a Peek) is:
//
//   - Returned > 0: the first live key of [r/RetLow, r/Fresh) (a bounded
//     scan over the tombstones between two returned items);
//   - else Fresh < Next: the key r/Fresh (one Get);
//   - else the queue is empty.
//
// Len is the meta record's counts. Nothing is held in memory per item, so
// a queue of millions of items costs disk, not memory, and each
// operation a few point reads and writes whatever its length.
//
// # Rules
//
// Enqueue(values, max) puts r/Next.. for the values in order, in one
// revision, and answers their seqs. Dequeue(lease, visibility, receipt)
// checks the consumer's lease (of this shard: wire.CodeWrongShard;
// existing: wire.CodeLeaseNotFound) and the visibility (at least 1
// second), takes the head, deletes r/seq, grants the visibility lease,
// puts f/seq (with the receipt's hash) and c/seq, and answers the item
// with its delivery count and receipt. Ack(seq, deliveries, receipt)
// requires f/seq (in that delivery, unless 0: else wire.CodeNotFound) and
// its receipt (else wire.CodeNotOwner), deletes f/seq and c/seq and
// revokes the visibility lease; with Nack it returns the item at once. A returned item (nack,
// visibility lease revoked, consumer's lease revoked) goes back to r/seq
// with its deliveries, unless it has had all its max deliveries: then it
// is appended to NAME.dead as a new item (a new seq there, deliveries 0,
// no max). This is where max deliveries is enforced, in the command that
// ends the last allowed delivery, rather than at the next Dequeue: the
// outcome is the same (the item is never delivered a max+1st time) and a
// Dequeue never has to move items before answering CodeEmpty.
//
// # Worked example
//
// On a fresh shard (at revision 1), with consumer leases A and B of the
// shard of "jobs"; vN are the visibility leases the Dequeues grant, RN the
// receipts their members drew:
//
//	rev 2  Enqueue jobs [x y z] max 2   put r/1 r/2 r/3, m={Next 4, Fresh 1, Ready 3}
//	                                    → Seqs [1 2 3]
//	rev 3  Dequeue jobs, A, 30s, R1     grant v1 (TTL 30), delete r/1, put f/1 (lease v1,
//	                                    hash(R1)), put c/1 (lease A), m={4, 2, 2, InFlight 1}
//	                                    → {Seq 1, "x", Deliveries 1, Receipt R1}
//	rev 4  Dequeue jobs, B, 30s, R2     v2; r/2 → f/2 (v2), c/2 (B) → {2, "y", 1, R2}
//	       Ack jobs 2 (delivery 1, R1)  wire.CodeNotOwner: R1 is not item 2's receipt;
//	                                    nothing written
//	rev 5  Ack jobs 2 (delivery 1, R2)  delete f/2 c/2, revoke v2: done with y
//	rev 6  revoke v1 (30 s passed)      delete f/1 (v1's key); KeyDeleted: delete c/1,
//	                                    put r/1={deliveries 1}, m={4, 3, Ready 2, 0,
//	                                    RetLow 1}: x is back, ahead of z
//	rev 7  Dequeue jobs, B, 30s, R3     v3; r/1 → f/1, c/1 → {1, "x", 2, R3}
//	rev 8  revoke B (B crashed)         delete c/1 (B's key); KeyDeleted: delete f/1,
//	                                    revoke v3; x has had its 2 deliveries: put
//	                                    dead/r/1={x}, dead/m={Next 2, Fresh 1, Ready 1}
//	       Dequeue jobs.dead ...        → {1, "x", 1}, an ordinary queue
//	       Ack jobs 1 (delivery 2, R3)  wire.CodeNotFound: item 1 of queue "jobs" is
//	                                    not in flight (acked, or redelivered after
//	                                    its visibility timeout)
//
// # Determinism
//
// The rules read and write only through Store: no clock, no randomness
// (the receipt is drawn by the proposing member and stamped into the
// command, like time), no map iteration. They check every user error before their first write
// (the visibility lease is granted after the checks), so a command fails
// whole or not at all, and makes at most one revision.
package queue
