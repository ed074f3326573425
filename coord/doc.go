// Package coord is the Go client of Coord, a distributed coordination
// service.
//
// A Client talks to one member at a time over one multiplexed connection
// (see package wire) and moves to the next endpoint when a member is down,
// stopping or without quorum. Every call takes a context; errors wrap the
// exported sentinels (ErrCompacted, ErrTooLarge, ErrCrossShardTxn, …) for
// errors.Is.
//
// Key-value: Put, Get, Delete, Txn (If/Then/Else with Compare), Compact,
// Watch. Leases: Grant, Revoke, KeepAlive, TimeToLive, Leases. A Session
// holds one keep-alive loop and lazily one lease per shard it touches; the
// primitives (packages locks, election, queue, barrier) take a Session or
// a Client and use Call and Stream underneath.
//
// Writes are exactly-once: each carries the client's random ID and a
// sequence number, and AckBelow tells the cluster which results it may
// forget. A write retried after a timeout or a broken connection — on the
// same member or another — is answered with its first result instead of
// being applied again.
//
// Blocking calls of the primitives (Client.Wait: a Lock, a Campaign, a
// double barrier's Enter and Leave) are a write, finished as soon as the
// server says it is applied, then a wait that is resumed without a
// sequence number when it is cut off: a long wait neither holds back the
// acknowledgement watermark nor loses its place in a queue.
//
// Goroutines: per connection one reader (routes responses to calls) and
// one writer (batches frames into few writes); per Watch one loop that
// resumes after broken connections from the last delivered revision; per
// Session one keep-alive loop; per KeepAlive channel one renewal loop; per
// waiter given up, one short-lived withdrawal (Client.Wait).
package coord
