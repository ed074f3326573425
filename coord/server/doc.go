// Package server is one Coord member: a Dragonboat NodeHost hosting every
// shard as an on-disk state machine, the client RPC listener and the HTTP
// listener (/healthz, /readyz, /status, /metrics, optional /debug/pprof).
//
// Member core and doors. A member is a transport-neutral core (Core,
// core.go) and the doors that serve it. The core holds the NodeHost and
// the shards, propose and read with their retries (raft.go), the watch
// hub (watch.go), the lessor and renewers (lessor.go, lease.go), the
// auto-compactor, the space quota and its alarms (quota.go), the cluster
// identity, the one server-side wait (await) and the handler table; it knows nothing of framing, sockets or TLS.
// Its entry point is Core.Call(ctx, caller, method, decode, sender). The
// msgpack door (rpcDoor: rpc.go, tls.go) owns the client listener, the
// accept loop, framing, the handshake with the cluster-identity check,
// the per-connection limits and the idle timeout, and turns each request
// frame into a Call; the HTTP door (httpDoor, http.go) only calls the
// core's methods (Ready, Stopping, status, its metrics registry). The etcd
// door (etcdDoor: etcd.go, etcd_*.go) serves etcd's v3 gRPC API and JSON
// gateway on Config.ListenEtcd; it builds a Caller per call (connection,
// user from etcd's token metadata) and turns each etcd request into
// Core.Calls of the core's methods (etcd_call.go), touching no handler
// and no other door. Each etcd service is one file registered in
// etcdServices.
// Server (server.go) is wiring: Start builds the core, then the doors,
// and starts them; Stop makes the core refuse new calls and end its
// waits, stops the doors (draining their calls until its ctx ends), then
// closes the core.
//
// Dispatch (dispatch.go). A door turns its transport's calls into one
// shape: it fills a Caller (client ID, connection, the write's
// exactly-once tag, when it arrived) and hands the method, a decoder of
// the body and a Sender (intermediate messages) to Core.Call. Call is one
// generic function over the handler table (handlers), keyed by wire
// method, whose entries are typed by the wire method table: unary
// handlers (ctx, *Caller, *Req) → (*Resp, error), and streaming ones
// (watch, observe, and the resumable waits' one intermediate message)
// that also get a Stream[Resp] and return their final message. Every call
// passes there: the member gate (stopping, cluster identity), decoding,
// admit (the hook for rules on every call: today the bound on streams per
// connection; authorization goes there), the handler, and metrics. The
// door keeps what is its transport's: frame and connection limits,
// deadlines and cancellation (it ends a call's context with one of the
// causes in dispatch.go), encoding.
//
// Data flow. A call arrives on a client connection (rpc.go), is checked
// against the limits and routed by hash tag (kv.go), and its command is
// proposed to the shard's Raft group (raft.go: attempts of a second,
// retried, since Dragonboat drops some proposals silently on leader
// change; retried writes are de-duplicated by the state machine). The one
// adapter (adapter.go) hands committed entries to statemachine.Shard and
// passes the applied batch's events to the watch hub and its lease changes
// to the lessor, without waiting on either. Reads go through ReadIndex
// rounds that the reads of a shard share, one in flight at a time as
// etcd's read loop (readgate.go), then to the local replica; serializable
// reads straight to it.
//
// Responses are bounded (Config.MaxResponseBytes): a range answers a page
// and the key to go on from, and its continuation reads each shard at the
// first page's revision; a fan-out merges the shards' pages up to the
// lowest key where one of them was cut. A watch reads history from the
// store a window of revisions at a time (sized to keep each read near a
// few pages) and sends its events in messages of at most that many bytes,
// a revision larger than one in fragments. A transaction's reads, stored for exactly-once, are bounded
// in the state machine by limits the proposer stamps into the command. No
// frame larger than a client reads (wire.MaxResponseFrameSize) is sent:
// its call fails with CodeTooLarge instead.
//
// Waiting never blocks the apply loop: blocking calls (lock, campaign,
// barrier, observe) propose, then wait with the core's one await
// (await.go): on the calling goroutine, it subscribes to the watch hub,
// hands a predicate every event of a key or prefix from a start revision
// on (catching up from memory or the store, History, when it starts
// behind or falls behind), and ends when the predicate is satisfied, the
// history is compacted (the caller reads its state again, linearizably,
// and waits from after that read), the call's context ends or the member
// stops. A consumer waiting for a queue item proposes nothing while it
// waits: its queue.wait call is parked on the dequeuers (dequeuers.go),
// whose per-queue watcher runs the same await, and it then dequeues with
// a write of its own (queue.go).
//
// Lock, campaign and a double barrier's enter and leave are resumable
// (primitives.go): after their write the member sends an intermediate
// response with the owner key, and every wait, first or resumed (the
// request's Resume field, no write), reads linearizably whether the owner
// still exists and holds before it waits from after that read. The key
// that says "holds" is the primitive's: for a lock, lockrules.GrantKey
// (the holder record of an exclusive owner, the shared marker of a
// shared one, decoded by lockrules.DecodeGrant), so a reader queued
// behind a writer learns of its grant in the command that grants it. A call's
// context ends with a cause (rpc.go): the caller's Cancel or its own
// deadline withdraw the waiter; the connection closing, the member
// stopping or the cap on one call (maxCallTimeout, 5 minutes) do not,
// and the client resumes. A withdrawal is retried in the background until
// it is applied, the key or its lease is gone, or the member stops.
// A semaphore's acquire (semaphore.go) is resumable the same way and
// waits with the same awaitOwner; its owner key is its own holder record
// (its value gets a token when the owner is granted), watched alone.
//
// Time enters only through the lessor (lessor.go): each member tracks
// lease deadlines from the moment it applied a renewal; on the shards it
// leads it proposes revokes carrying the renewal count it saw, which the
// state machine ignores if the lease was renewed since. Keep-alives are
// coalesced per shard by one renewer each (lease.go).
//
// Limits (rpc.go, Config): the accept loop refuses connections past
// MaxConnections in the handshake (at most 64 being refused at once). Each
// connection's reader waits for a frame under IdleTimeout, closing the
// connection when it had no call in flight for that long, then reads the
// frame under RequestReadTimeout; the wire.FrameReader grows a frame's
// buffer as its bytes arrive. Each write to the client may wait 30 s. A request is refused when the connection's
// calls or request bytes in flight are at their bound, and (admit) when
// it opens a stream past the connection's bound on watches. Which calls
// wait uncapped, or are cut at maxCallTimeout, the wire method table
// says. Unknown method names share one metric label.
//
// Membership (membership.go): member.add, member.promote and
// member.remove change every shard's Raft membership, one shard at a
// time, and the member registry in shard 0 (new node IDs, learner
// flags, tombstones). A new member joins every shard as a learner
// (Config.InitialClusterState "existing", Config.NodeID) and promotes
// itself once caught up; a removed member learns it from its tombstone,
// refuses every call (CodeMemberRemoved) and closes Removed().
//
// Goroutines and what they own. Core: per shard a renewer (owns its
// batch of keep-alives); the lessor loop (owns the revokes it proposes,
// at most 256 at once, one goroutine each); the auto-compactor (when
// enabled); the quota check (quota.go: measures the store every
// QuotaCheckInterval and proposes the member's NOSPACE alarm; owns
// nothing); the cluster-identity proposer (identity.go, until shard 0
// holds one); the membership watch (membership.go: owns the member's
// view of its own role, and starts at most one self-promotion and one
// voter settling at a time); per queue with blocked consumers one watcher
// (dequeuers.go); per withdrawal of a waiter that gave up, one retry
// loop (owns nothing; ends when it succeeds or the member stops); per
// watch one feeder per shard (a wait runs on its call's goroutine).
// Dragonboat's own goroutines call LeaderUpdated and the adapter. The
// msgpack door: the accept loop; per connection a reader (owns the call
// table) and a writer (owns the socket's write side); one goroutine per
// call in flight (at most 4096 per connection), which runs Core.Call; up
// to 64 answering refused connections. The HTTP door and the etcd door:
// their http.Server's own (the etcd door's calls run Core.Call on them).
//
// TLS (tls.go). The client port's TLS is the msgpack door's: tlsListener
// wraps its accepted connections (Config.TLSCertFile, ClientCertAuth). The
// peer port's mutual TLS is Dragonboat's own: the core passes
// Config.PeerCertFile, PeerKeyFile and PeerTrustedCAFile to the NodeHost
// (MutualTLS), which verifies the other member's certificate on every Raft
// connection both ways. Config.Validate loads every file first (all three
// peer files or none, key matching certificate, CA parsing), so a bad one
// fails the start before Raft opens anything. A test cluster with peer TLS
// is a LocalCluster whose Configure sets the three files.
//
// Auth (auth.go, authz.go). The auth store (users, roles, permissions,
// the enabled flag) is keys under statemachine/auth.Root in shard 0
// (wire.AuthShard), changed by the auth methods' ops through Raft. The
// handlers of user add and passwd hash the password with bcrypt
// (Config.BcryptCost) and propose only the hash. Each member caches the
// store of its own shard-0 replica (authCache): an applied change under
// the root or a restore of shard 0 marks it stale and the next check
// loads it again (Shard.Read), so with auth off a call costs two atomic
// loads. A connection authenticates in its handshake (Hello.User with a
// password or a token; with ClientCertAuth and no user, the verified
// certificate's common name is the user); the user goes in Caller.User,
// the exactly-once client ID is bound to it (a hash of user and claimed
// ID), and each later call checks that the user still exists with the
// same password and that a token has not expired. Tokens (auth.authenticate)
// are random, last Config.AuthTokenTTL and are known only to the member
// that issued them (etcd's simple tokens): a client that moves to another
// member authenticates again. Failed attempts are rate-limited per remote
// host (and per connection for auth.authenticate) and logged with the
// user and remote address, never the password. admit authorizes every
// call (authz.go): one check per method, from the request alone (lease
// calls also read the lease's keys and owner from the local replica),
// before anything is proposed or read; the HTTP door serves /status and
// /debug/pprof to root only while auth is on.
//
// Backup and restore (snapshot.go). The snapshot call (wire.MethodSnapshot,
// and etcd's Maintenance.Snapshot through the etcd door) takes, shard by
// shard, a linearizable read barrier then a Pebble snapshot, and streams
// statemachine.WriteBackup's file in messages paced by the door's flow
// control. Restore builds a new member's data directory from such a file
// (state at applied index 0, no cluster identity or member registry, a
// restore marker); a restored member checks the marker's shard count and,
// on its first start, compacts each shard's Raft log behind a snapshot
// (one background goroutine, until done or the member stops).
//
// LocalCluster (local.go) runs N members inside one process on loopback
// ports (free ones, or fixed from a base port), their data in a given or
// temporary directory: the one in-process cluster behind `coord dev`, the
// bench's local cluster and the tests. It starts members in order, waits
// until every shard has a leader, stops and restarts single members and
// closes them all in parallel; it starts no goroutine of its own beyond
// those of Close.
package server
