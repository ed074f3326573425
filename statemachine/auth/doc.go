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
// The operations (Apply*, registered under the wire method names) apply
// only in shard wire.AuthShard. Each checks everything before its first
// write; a change bumps the auth revision once, an operation that changes
// nothing (enable when enabled, a role granted again) leaves it alone.
// User and role names are 1 to MaxNameLen bytes of printable UTF-8
// without spaces or ':'. A permission of kind kv is stored with Kind "".
// Root (user and role) can be neither deleted nor parted while auth is
// enabled. The reads (Read*) answer auth status, user and role get/list
// from a replica.
//
// Like every rule of the state machine, the rules use no clock,
// randomness or goroutines.
package auth
