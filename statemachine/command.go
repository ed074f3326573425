package statemachine

import (
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/coord/wire"
)

// Command is the envelope of every proposal: who sent it, its place in the
// sender's sequence, and exactly one operation.
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
type Command struct {
	ClientID uint64 `msgpack:"cid,omitempty"`
	Seq      uint64 `msgpack:"seq,omitempty"`
	AckBelow uint64 `msgpack:"ack,omitempty"`
	Time     int64  `msgpack:"t,omitempty"`
	Sent     int64  `msgpack:"snt,omitempty"`

	Put         *wire.PutRequest         `msgpack:"put,omitempty"`
	DeleteRange *wire.DeleteRangeRequest `msgpack:"del,omitempty"`
	Txn         *wire.TxnRequest         `msgpack:"txn,omitempty"`
	Compact     *wire.CompactRequest     `msgpack:"cmp,omitempty"`
	LeaseGrant  *LeaseGrant              `msgpack:"lg,omitempty"`
	LeaseRevoke *LeaseRevoke             `msgpack:"lr,omitempty"`
	LeaseRenew  *LeaseRenew              `msgpack:"lk,omitempty"`

	// Locks and elections (rules in packages locks and election).
	Lock     *wire.LockRequest     `msgpack:"lo,omitempty"`
	Unlock   *wire.UnlockRequest   `msgpack:"ul,omitempty"`
	Campaign *wire.CampaignRequest `msgpack:"ca,omitempty"`
	Proclaim *wire.ProclaimRequest `msgpack:"pc,omitempty"`
	Resign   *wire.ResignRequest   `msgpack:"rs,omitempty"`

	// Queues and barriers (rules in packages queue and barrier).
	Enqueue *wire.EnqueueRequest `msgpack:"eq,omitempty"`
	Dequeue *wire.DequeueRequest `msgpack:"dq,omitempty"`
	Ack     *wire.AckRequest     `msgpack:"ak,omitempty"`
	Barrier *wire.BarrierRequest `msgpack:"br,omitempty"`

	// The cluster's identity (cluster.go).
	ClusterIdentity *ClusterIdentity `msgpack:"cl,omitempty"`
}

// LeaseGrant creates a lease of TTL seconds in the shard. The state
// machine assigns its ID (see wire.LeaseID). Result: *wire.LeaseGrantResponse.
type LeaseGrant struct {
	TTL int64 `msgpack:"ttl"`
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

// EncodeCommand encodes a command for proposal.
func EncodeCommand(c *Command) ([]byte, error) {
	return msgpack.Marshal(c)
}

// DecodeCommand decodes a proposed command.
func DecodeCommand(b []byte) (*Command, error) {
	var c Command
	if err := msgpack.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Result is what applying one command produced. Code is wire.OK on
// success, in which case Data is the msgpack encoding of the operation's
// response (*wire.PutResponse, *wire.DeleteRangeResponse,
// *wire.TxnResponse, *wire.CompactResponse, *wire.LeaseGrantResponse,
// *wire.LeaseRevokeResponse, *wire.LeaseKeepAliveResponse,
// *wire.LockResponse (Lock), *wire.UnlockResponse (Unlock),
// *wire.LeaderResponse (Campaign, Proclaim, Resign), *wire.EnqueueResponse,
// *wire.DequeueResponse, *wire.AckResponse or *wire.BarrierResponse).
// Otherwise Data is the
// msgpack encoding of a *wire.Error. User errors are results, never Go
// errors: an error returned from Apply is a storage failure.
type Result struct {
	Code wire.Code
	Data []byte
}

// Entry is one committed log entry to apply.
type Entry struct {
	Index  uint64
	Cmd    []byte
	Result Result
}
