// Package server is one Coord member: a Dragonboat NodeHost hosting every
// shard as an on-disk state machine, the client RPC listener and the HTTP
// listener (/healthz, /readyz, /status, /metrics, optional /debug/pprof).
//
// Data flow. A call arrives on a client connection (rpc.go), is checked
// against the limits and routed by hash tag (kv.go), and its command is
// proposed to the shard's Raft group (raft.go: attempts of a second,
// retried, since Dragonboat drops some proposals silently on leader
// change; retried writes are de-duplicated by the state machine). The one
// adapter (adapter.go) hands committed entries to statemachine.Shard and
// passes the applied batch's events to the watch hub and its lease changes
// to the lessor, without waiting on either. Reads go through ReadIndex
// (SyncRead + Lookup), or straight to the local replica when serializable.
//
// Waiting never blocks the apply loop: blocking calls (lock, campaign,
// barrier, watch, observe) propose, then wait on the hub for the event
// that satisfies them, starting at the revision the proposal returned; a
// waiter that falls behind catches up from the store (History). A
// consumer waiting for a queue item proposes nothing while it waits: its
// queue.wait call is parked on the dequeuers (dequeuers.go), and it then
// dequeues with a write of its own (queue.go).
//
// Time enters only through the lessor (lessor.go): each member tracks
// lease deadlines from the moment it applied a renewal; on the shards it
// leads it proposes revokes carrying the renewal count it saw, which the
// state machine ignores if the lease was renewed since. Keep-alives are
// coalesced per shard by one renewer each (lease.go).
//
// Goroutines and what they own: the accept loop; per connection a reader
// (owns the call table) and a writer (owns the socket's write side); one
// goroutine per call in flight (at most 4096 per connection); per shard a
// renewer; the lessor loop; the auto-compactor (when enabled); per watch
// one feeder per shard; per queue with blocked consumers one watcher
// (dequeuers.go). Dragonboat's own goroutines call LeaderUpdated and the
// adapter.
package server
