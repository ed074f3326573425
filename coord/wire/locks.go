package wire

// Locks and elections are first-class calls. Both are a FIFO of owners
// kept in the reserved keyspace under the name's hash tag (so one lock or
// election lives in one shard, with any user key tagged {NAME}): the
// first owner holds the lock or leads; each owner's key is attached to its
// session lease, so an owner whose lease expires leaves the queue, and the
// next owner is granted in the same applied command. Each grant gets a
// fencing token: the revision of the command that granted it, strictly
// increasing per lock across all holders.

// LockRequest acquires lock Name for the owner holding Lease (a lease of
// the lock's shard). Owner is free-form data shown by status. With Try the
// call fails at once with CodeLocked instead of queueing.
//
// A Lock that must wait is a write (with the client's sequence number)
// that queues the owner, then a wait: right after the write is applied the
// server sends an intermediate response (More) with the owner's Key and
// Token 0, and the final response once the owner holds the lock. From the
// intermediate response on, the write is done: a wait cut off (the
// connection broke, the member stopped, the server's cap on call duration
// was reached: CodeTimeout while the caller's deadline has not passed) is
// resumed with Resume set to the owner's Key and the same Name and Lease,
// sent as a read (no sequence number). A resumed wait writes nothing: it
// reads whether the owner key still exists and holds (linearizably), and
// waits from there; its place in the queue is kept. When the owner key is
// gone it fails: CodeLeaseNotFound if Lease is gone, else CodeCanceled.
// The server withdraws a waiter (unlocks its key) only when the caller
// gave up: a Cancel frame, or the caller's own deadline.
//
// With Shared the owner asks for the lock in shared (read) mode: it holds
// together with the other shared owners ahead of it, but never beside an
// exclusive one, and it queues behind an exclusive owner that waits
// (writer preference). Absent, the request is exclusive, as before. A
// Resume must repeat the Shared of the Lock it resumes.
type LockRequest struct {
	Name   string `msgpack:"n"`
	Lease  int64  `msgpack:"l"`
	Owner  []byte `msgpack:"o,omitempty"`
	Try    bool   `msgpack:"try,omitempty"`
	Resume []byte `msgpack:"r,omitempty"`
	Shared bool   `msgpack:"sh,omitempty"`
}

// LockResponse answers a LockRequest when the lock is held: Key is the
// owner's key (needed to unlock) and Token the fencing token. The
// intermediate response of a Lock that waits has Token 0.
type LockResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Key    []byte         `msgpack:"k"`
	Token  int64          `msgpack:"t"`
}

// UnlockRequest releases the lock held through Key, or removes Key from
// the queue if it is still waiting. The next waiter is granted in the same
// command. Lease proves ownership: it must be the lease Key is attached
// to (the one the Lock named), else CodeNotOwner and nothing changes.
type UnlockRequest struct {
	Name  string `msgpack:"n"`
	Key   []byte `msgpack:"k"`
	Lease int64  `msgpack:"l"`
}

// UnlockResponse answers an UnlockRequest.
type UnlockResponse struct {
	Header ResponseHeader `msgpack:"h"`
}

// LockStatusRequest asks about lock Name.
type LockStatusRequest struct {
	Name string `msgpack:"n"`
}

// LockStatusResponse describes a lock: its holder (if Held), the holder's
// fencing token, lease and the lease's remaining TTL in seconds, and the
// number of waiters behind it.
//
// Key, Owner, Token, Lease and LeaseTTL describe an exclusive holder
// only. A lock held shared has Held set, Readers the number of shared
// holders and those fields empty. Holders and Queue are set only for a
// lock that has a shared owner (holding or waiting): every holder (with
// its token; the exclusive one too) and the waiters in queue order, each
// with its mode, at most MaxStatusOwners (100) of each; Waiters still
// counts every waiter. A lock with exclusive owners only answers as it
// always did.
type LockStatusResponse struct {
	Header   ResponseHeader `msgpack:"h"`
	Held     bool           `msgpack:"held"`
	Key      []byte         `msgpack:"k,omitempty"`
	Owner    []byte         `msgpack:"o,omitempty"`
	Token    int64          `msgpack:"t,omitempty"`
	Lease    int64          `msgpack:"l,omitempty"`
	LeaseTTL int64          `msgpack:"ttl,omitempty"`
	Waiters  int64          `msgpack:"w"`
	Readers  int64          `msgpack:"rd,omitempty"`
	Holders  []LockOwner    `msgpack:"hs,omitempty"`
	Queue    []LockOwner    `msgpack:"q,omitempty"`
}

// LockOwner is one owner of a lock in a LockStatusResponse: a holder
// (with its fencing token) or a waiter (Token 0), in shared or exclusive
// mode. LeaseTTL is left to the caller, as for the holder's.
type LockOwner struct {
	Key      []byte `msgpack:"k"`
	Owner    []byte `msgpack:"o,omitempty"`
	Token    int64  `msgpack:"t,omitempty"`
	Lease    int64  `msgpack:"l"`
	LeaseTTL int64  `msgpack:"ttl,omitempty"`
	Shared   bool   `msgpack:"sh,omitempty"`
}

// CampaignRequest campaigns in election Name with Value for the owner of
// Lease; it returns once the caller leads. A campaign that waits behaves
// as a Lock that waits (see LockRequest): an intermediate response with
// the candidate's Key and Term 0 ends the write, and a cut-off wait is
// resumed with Resume set to that Key.
type CampaignRequest struct {
	Name   string `msgpack:"n"`
	Lease  int64  `msgpack:"l"`
	Value  []byte `msgpack:"v"`
	Resume []byte `msgpack:"r,omitempty"`
}

// LeaderResponse describes a leadership: the leader's key, value, lease
// and term (the revision at which it became leader, usable as a fencing
// token). It answers Campaign, Leader and each message of Observe.
type LeaderResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Key    []byte         `msgpack:"k,omitempty"`
	Value  []byte         `msgpack:"v,omitempty"`
	Term   int64          `msgpack:"t,omitempty"`
	Lease  int64          `msgpack:"l,omitempty"`
}

// ProclaimRequest changes the leader's value; Key must be the current
// leader's key (else CodeNotLeader) and Lease its lease (else
// CodeNotOwner).
type ProclaimRequest struct {
	Name  string `msgpack:"n"`
	Key   []byte `msgpack:"k"`
	Value []byte `msgpack:"v"`
	Lease int64  `msgpack:"l"`
}

// ResignRequest leaves election Name (leader or still campaigning); the
// next candidate leads from the same command on. Lease must be the lease
// of candidate Key (else CodeNotOwner, nothing changes); a Key that is no
// candidate (any more) is a success that changes nothing.
type ResignRequest struct {
	Name  string `msgpack:"n"`
	Key   []byte `msgpack:"k"`
	Lease int64  `msgpack:"l"`
}

// LeaderRequest asks who leads election Name (CodeNotFound if nobody).
// With Observe it opens a stream of LeaderResponse: the current leader if
// any, then every change of leader or value.
type LeaderRequest struct {
	Name    string `msgpack:"n"`
	Observe bool   `msgpack:"obs,omitempty"`
}

// CompareLockToken is a Compare target: lock Compare.Key (a lock name, not
// a key) compared on the fencing token of its current exclusive holder,
// with Compare.Version holding the token (0 when the lock is free or held
// shared: a shared holder's token fences nothing). "lock L =
// token T" lets a transaction fence a write by the store itself; the
// transaction's other keys must share the lock's shard (tag them {L}).
const CompareLockToken CompareTarget = 5
