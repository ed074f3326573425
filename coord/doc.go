// Package coord is the Go client of Coord, a distributed coordination
// service.
//
// A Client talks to one member at a time over one multiplexed connection
// (see package wire) and moves to the next endpoint when a member is down,
// stopping, without quorum or at its connection limit; a connection the
// member closed as idle is redialed on the next call. Each time it
// connects it learns every member's client address from the cluster's
// member registry, and it forgets an endpoint whose member was removed
// (ErrMemberRemoved), so members may be replaced under it
// (Config.StaticEndpoints keeps it to Endpoints). Every call takes a
// context; errors wrap the exported sentinels (ErrCompacted, ErrTooLarge,
// ErrCrossShardTxn, …) for errors.Is.
//
// Key-value: Put, Get, Delete, Txn (If/Then/Else with Compare), Compact,
// Watch. Leases: Grant, Revoke, KeepAlive, TimeToLive, Leases. A Session
// holds one keep-alive loop and lazily one lease per shard it touches; the
// primitives (packages locks, election, queue, barrier) take a Session or
// a Client and use Call, Wait and ResumeStream underneath. A Session's Deadline is
// conservative (the send time of its last acknowledged renewal + TTL −
// SessionMargin): Done closes by then whatever the network does, before
// the cluster can expire its leases.
//
// Backups: Snapshot streams a backup of every shard from one member into
// an io.Writer, on a connection of its own read at the writer's pace (see
// `coord snapshot save`).
//
// Get returns whole ranges: when a member answers in pages (its response
// limit) Get follows them, each page at the first page's revisions. A
// watch delivers each revision whole even when the member sent it in
// fragments. A response larger than the client reads fails only its own
// call, with ErrTooLarge, and is not retried.
//
// Writes are exactly-once: each call the wire method table marks as a
// write (wire.Method.IsWrite) carries the client's random ID and a
// sequence number, and AckBelow tells the cluster which results it may
// forget. A write retried after a timeout or a broken connection — on the
// same member or another — is answered with its first result instead of
// being applied again. A write is retried for Config.RetryWindow (1 minute
// by default) after it was first sent, each retry carrying its age; past
// that it fails with ErrOutcomeUnknown, and the cluster itself answers
// "outcome unknown" to a retry older than it remembers clients (half of
// coord serve --dedup-retention), never applying it twice.
//
// Authentication: Config.Username with Password (or a Token from
// Authenticate) is presented in each connection's handshake; a cluster
// with auth enabled refuses the handshake of wrong credentials
// (ErrAuthFailed) and every call the user's roles do not allow
// (ErrPermissionDenied; nothing changes, nothing is revealed). Users,
// roles and permissions are managed as in etcd — UserAdd, UserGrantRole,
// RoleAdd, RoleGrantPermission (KeyPermission, RangePermission,
// PrefixPermission; a Kind other than kv covers names of locks,
// elections, queues, barriers or semaphores), AuthEnable, AuthDisable,
// AuthStatus — by the root user (a user holding role root) once auth is
// on; a name taken fails with ErrAlreadyExists, a missing one with
// ErrNotFound.
//
// A Client belongs to one cluster: it remembers the identity of the first
// cluster a member reports in the handshake and refuses a member of
// another one (a cluster replaced on the same addresses): calls fail with
// ErrClusterMismatch, and a watch ends with it rather than resume on the
// other cluster's unrelated revisions.
//
// Streams that outlive a connection — Watch and election.Observe — run
// on the one reconnecting stream (stream.go, Client.ResumeStream): it
// reopens a broken stream on whichever member answers, from where the
// caller says it was (the last delivered revision), with a backoff
// (20 ms doubling to 1 s, reset by each message), and stops when ctx
// ends, the client closes or the member fails the stream.
//
// Blocking calls of the primitives (Client.Wait: a Lock, a Campaign, a
// double barrier's Enter and Leave) are a write, finished as soon as the
// server says it is applied, then a wait that is resumed without a
// sequence number when it is cut off: a long wait neither holds back the
// acknowledgement watermark nor loses its place in a queue.
//
// Goroutines: per connection one reader (routes responses to calls) and
// one writer (batches frames into few writes); per Watch, and per
// election.Observe, one loop (ResumeStream) that resumes after broken
// connections from the last delivered revision; per
// Session one keep-alive loop and one deadline timer; per KeepAlive
// channel one renewal loop; per waiter given up, one short-lived
// withdrawal (Client.Wait).
package coord
