package statemachine

import (
	"github.com/coord-io/coord/coord/wire"
)

// Command is the envelope of every proposal: who sent it, its place in the
// sender's sequence, and exactly one operation: its name (Op) and its
// msgpack-encoded request (Body).
//
// ClientID and Seq make retries exactly-once: a command whose (ClientID,
// Seq) was already applied is not applied again; its first result is
// returned instead. AckBelow tells the state machine that the client has
// received the results of all its sequence numbers below it, so those
// results may be forgotten. ClientID 0 disables de-duplication (used by
// server-internal proposals that are idempotent by construction); a
// command with a ClientID must have a Seq (from 1), else it is refused
// with wire.CodeInvalid.
//
// Time is the proposing member's wall clock when it proposed the command
// (Unix milliseconds, 0: none): the state machine's clock is the highest
// Time applied, and times the exactly-once records (Config.DedupRetention).
// Sent is when the client first sent this write (its first attempt), as
// the proposing member estimates it on its own clock: the time it received
// the request less the age the client reported (how long the client had
// been trying; a duration, so free of the offset between their clocks).
// A tagged command is applied only if Sent (when set) is recent enough
// that no record that may have applied it can have been dropped (see
// package doc, Exactly-once).
//
// Op is a stable name persisted in the log (as its number when it has
// one, opnumbers.go, else as the name): the core's (OpPut, OpDelete,
// OpTxn, OpCompact, OpLeaseGrant, OpLeaseRevoke, OpLeaseRenew,
// OpClusterIdentity, OpMemberPublish) or a registered primitive's (lockrules.OpLock, …).
// Body is the op's request, msgpack-encoded; a proposer that already has
// it encoded (a request's body as it came off the wire) sets it as is.
// NewCommand and Set instead take the decoded request, which
// EncodeCommand encodes straight into the command.
type Command struct {
	ClientID uint64
	Seq      uint64
	AckBelow uint64
	Time     int64
	Sent     int64
	Op       string
	Body     []byte

	// req is the decoded request: set by NewCommand or Set (and encoded by
	// EncodeCommand when Body is nil), or by DecodeCommand.
	req any
	// legacyOps is the number of operations a command of the legacy
	// format carried when it was not one (see legacy.go).
	legacyOps int
}

// Operations of the core, as named in the log: persisted in every
// command (and their numbers in opNumbers), never change them. The
// client-facing ones are the wire method names.
const (
	OpPut             = "kv.put"           // *wire.PutRequest → *wire.PutResponse
	OpDelete          = "kv.delete"        // *wire.DeleteRangeRequest → *wire.DeleteRangeResponse
	OpTxn             = "kv.txn"           // *wire.TxnRequest → *wire.TxnResponse
	OpCompact         = "kv.compact"       // *wire.CompactRequest → *wire.CompactResponse
	OpLeaseGrant      = "lease.grant"      // *LeaseGrant → *wire.LeaseGrantResponse
	OpLeaseRevoke     = "lease.revoke"     // *LeaseRevoke → *wire.LeaseRevokeResponse
	OpLeaseRenew      = "lease.renew"      // *LeaseRenew → *wire.LeaseKeepAliveResponse
	OpClusterIdentity = "cluster.identity" // *ClusterIdentity → uint64
	OpMemberPublish   = "member.publish"   // *MemberPublish → *MemberPublishResponse
)

// NewCommand returns a command (without exactly-once tag) that carries
// operation op with request req (a pointer to the op's request type),
// which EncodeCommand encodes as the body.
func NewCommand(op string, req any) *Command { return &Command{Op: op, req: req} }

// Set makes c carry operation op with request req (see NewCommand),
// replacing any operation and body it had.
func (c *Command) Set(op string, req any) {
	c.Op, c.Body, c.req, c.legacyOps = op, nil, req, 0
}

// Request returns the decoded request of a command that DecodeCommand
// returned (nil for an unknown op), or the request given to NewCommand or
// Set.
func (c *Command) Request() any { return c.req }

// LeaseGrant creates a lease of TTL seconds in the shard. The state
// machine assigns its ID (see wire.LeaseID). Result: *wire.LeaseGrantResponse.
type LeaseGrant struct {
	TTL int64 `msgpack:"ttl"`
	// Owner is the user that granted the lease (the server sets it from
	// the caller's authenticated user; "" for none): authorization lets
	// the owner revoke, renew and read a lease that has no keys.
	Owner string `msgpack:"o,omitempty"`
}

// LeaseRevoke deletes every key attached to lease ID, at one revision, and
// then the lease. Result: *wire.LeaseRevokeResponse.
//
// A client's revoke has Expire false and always applies. The leader's
// lessor sets Expire when it decides the lease has expired, with RenewSeq
// the lease's renewal count as the lessor last saw it (LeaseChange): the
// revoke then applies only if the lease has not been renewed since
// (RenewSeq still equal), and is otherwise ignored, returning an OK
// LeaseRevokeResponse and changing nothing. So a deposed leader's late
// revoke never kills a lease renewed through its successor.
type LeaseRevoke struct {
	ID       int64  `msgpack:"id"`
	Expire   bool   `msgpack:"x,omitempty"`
	RenewSeq uint64 `msgpack:"rs,omitempty"`
}

// LeaseRenew renews the listed leases (keep-alives coalesced by the
// server): each existing one has its RenewSeq incremented. Result:
// *wire.LeaseKeepAliveResponse, with TTL 0 for a lease that does not exist
// in the shard.
type LeaseRenew struct {
	IDs []int64 `msgpack:"ids"`
}

// Result is what applying one command produced. Code is wire.OK on
// success, in which case Data is the msgpack encoding of the operation's
// response (*wire.PutResponse, *wire.DeleteRangeResponse,
// *wire.TxnResponse, *wire.CompactResponse, *wire.LeaseGrantResponse,
// *wire.LeaseRevokeResponse, *wire.LeaseKeepAliveResponse,
// *wire.LockResponse (Lock), *wire.UnlockResponse (Unlock),
// *wire.LeaderResponse (Campaign, Proclaim, Resign), *wire.EnqueueResponse,
// *wire.DequeueResponse, *wire.AckResponse or *wire.BarrierResponse:
// the response of the op, core or registered primitive). Otherwise Data
// is the msgpack encoding of a *wire.Error. User errors are results, never
// Go errors: an error returned from Apply is a storage failure.
type Result struct {
	Code wire.Code
	Data []byte
}

// Entry is one committed log entry to apply.
type Entry struct {
	Index  uint64
	Cmd    []byte
	Result Result
	// Replayed is set when Result is not this entry's own: the command's
	// (client, sequence) was applied before and Result is the stored
	// result of that first apply (a retry). What the first apply handed
	// out may have ended since (a queue delivery); the proposer checks.
	Replayed bool
}
