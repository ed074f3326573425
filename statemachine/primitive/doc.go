// Package primitive is the registry contract between Coord's replicated
// core (package statemachine) and its coordination primitives (locks,
// elections, queues, barriers, …): what a primitive registers, and the
// view of a shard its rules run over. It imports only coord/wire, so a
// primitive's rules package (for example locks/lockrules) depends on it
// and never on the state machine, the server or the client.
//
// # What a primitive registers
//
// A primitive's rules package exports one Primitive value: its key Root
// in the reserved keyspace, its replicated Ops (each a stable name
// persisted in the log, a decoder for its msgpack body, an apply function
// over a LeaseStore and where its response's header goes), its read-only
// Reads (status queries) and its Revoked hook. Package statemachine keeps
// one list of them (statemachine/primitives.go); adding a primitive is
// one rules package plus one line in that list.
//
// # Data flow
//
// A proposed command names its op and carries the op's request body
// (statemachine.Command). The state machine decodes the body with the
// op's Decode, runs Apply over a LeaseStore of the shard at the command's
// revision and fills the response's header (Header) with the revision the
// command made. A rule that returns a *wire.Error must not have written;
// the state machine treats a write followed by a user error as a bug. A
// lease revoke calls Revoked for every key under Root it deleted, so a
// primitive hands its instance on in the same command. A Read runs over
// a Reader of a replica at its current revision.
//
// NewOp and NewRead build an Op or a Read from typed functions
// (func(Store, *wire.LockRequest) (*wire.LockResponse, *wire.Error,
// error)), so a rules package writes no decoding or type switches.
//
// # Determinism
//
// Apply, Revoked and Read run inside (or beside) the replicated apply:
// they must use no clock, no randomness, no goroutines and no map
// iteration order, and read and write only through the Store they get.
// The package itself holds no state and starts no goroutine.
package primitive
