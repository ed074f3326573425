// Package queuerules is the replicated rules of Coord's queue primitive:
// Enqueue, Dequeue, Ack, the info query and the return of an item whose
// consumer's or visibility lease is revoked (KeyDeleted); it grants and
// revokes visibility leases inside the command (primitive.LeaseStore). It
// imports only coord/wire, statemachine/primitive and
// statemachine/corruption (never the state machine, the server,
// Dragonboat or the client), so the state machine links it without
// linking package queue, the user-facing package that holds the client
// handle and documents the key layout with a worked example.
//
// # Data flow
//
// The package exports one primitive.Primitive (Primitive, in
// primitive.go): its operations under stable log names (the Op*
// constants), its read-only query, its Revoked hook and its key Root.
// Package statemachine registers it with one line (statemachine's
// primitives list). A proposed command names an op and carries the op's
// msgpack request; the state machine decodes it and calls the op's Apply
// function over a Store of the shard at the command's revision, then
// fills the response's header. A lease revoke calls Revoked for every key
// under Root that it deleted. The server reads status through the state
// machine's Query (Shard.Query), which runs the query over the replica's
// keyspace at its current revision.
//
// # Determinism
//
// The rules read and write only through the Store they get: no clock, no
// randomness, no goroutines, no map iteration. They check every user
// error before their first write, so a command fails whole or not at
// all, and a command makes at most one revision. The package starts no
// goroutine and holds no state.
package queuerules
