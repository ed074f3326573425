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
// a Client and use Call and Stream underneath. A Session's Deadline is
// conservative (the send time of its last acknowledged renewal + TTL −
// SessionMargin): Done closes by then whatever the network does, before
// the cluster can expire its leases.
//
// Writes are exactly-once: each carries the client's random ID and a
// sequence number, and AckBelow tells the cluster which results it may
// forget. A write retried after a timeout or a broken connection — on the
// same member or another — is answered with its first result instead of
// being applied again.
//
// Goroutines: per connection one reader (routes responses to calls) and
// one writer (batches frames into few writes); per Watch one loop that
// resumes after broken connections from the last delivered revision; per
// Session one keep-alive loop and one deadline timer; per KeepAlive
// channel one renewal loop.
package coord
