// Package auth is Coord's replicated auth store: users with bcrypt
// password hashes, roles, and permissions (read, write, readwrite) on
// keys, ranges and prefixes of the keyspace, or on names of one kind of
// primitive (lock, election, queue, barrier, semaphore), shaped as etcd's.
//
// The store is ordinary keys under the reserved prefix Root in shard
// wire.AuthShard, so it is replicated through Raft, carried by snapshots
// and restored with them like every other key; each change bumps the
// auth revision (RevKey). The package registers its operations with the
// state machine as a primitive (Primitive) and gives members Load, which
// reads the whole store into a State whose Allowed and IsRoot answer
// permission checks from memory.
//
// Passwords never enter the log: the member hashes a new password with
// bcrypt before it proposes the change (wire.UserRequest.PasswordHash);
// the rules here store the hash they are given and never see a password.
//
// Like every rule of the state machine, the rules use no clock,
// randomness or goroutines.
package auth
