package wire

// Counting semaphores are first-class calls. A semaphore is a limit (a
// number of permits) per name and a FIFO of owners kept in the reserved
// keyspace under the name's hash tag (one semaphore lives in one shard,
// with any user key tagged {NAME}). Each owner asks for a weight (a number
// of permits); owners are granted in arrival order while the weight at the
// head of the queue fits in the permits left, so a large request is not
// starved by later small ones. Each owner's key is attached to its session
// lease: an owner whose lease ends leaves, and the waiters that then fit
// are granted in the same applied command. Each grant gets a fencing
// token: the revision of the command that granted it.

// Methods of semaphores.
const (
	MethodSemAcquire = "semaphore.acquire" // SemaphoreAcquireRequest → SemaphoreAcquireResponse (write; waits)
	MethodSemRelease = "semaphore.release" // SemaphoreReleaseRequest → SemaphoreReleaseResponse (write)
	MethodSemStatus  = "semaphore.status"  // SemaphoreStatusRequest → SemaphoreStatusResponse
)

// SemaphoreAcquireRequest asks semaphore Name for Weight permits (0 means
// 1; at most Limit) for the owner holding Lease (a lease of the
// semaphore's shard). Limit (≥ 1) is the semaphore's number of permits:
// the first acquirer sets it, and while the semaphore has holders or
// waiters every acquire must give the same Limit (CodeInvalid naming both
// otherwise); once it is empty the next acquirer may set another. Owner is
// free-form data shown by status. With Try the call fails at once with
// CodeLocked, writing nothing, unless the permits are granted at once.
//
// An acquire that must wait is a write then a wait, as a Lock (see
// LockRequest): right after the write is applied the server sends an
// intermediate response (More) with the owner's Key and Token 0, and the
// final response once the owner is granted. A wait cut off is resumed
// with Resume set to the owner's Key and the same Name and Lease, sent as
// a read (no sequence number); it writes nothing and keeps the owner's
// place.
type SemaphoreAcquireRequest struct {
	Name   string `msgpack:"n"`
	Lease  int64  `msgpack:"l"`
	Limit  int64  `msgpack:"lim"`
	Weight int64  `msgpack:"w,omitempty"`
	Owner  []byte `msgpack:"o,omitempty"`
	Try    bool   `msgpack:"try,omitempty"`
	Resume []byte `msgpack:"r,omitempty"`
}

// SemaphoreAcquireResponse answers a SemaphoreAcquireRequest: Key is the
// owner's key (needed to release) and Token the fencing token of the
// grant, 0 while the owner waits (the intermediate response).
type SemaphoreAcquireResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Key    []byte         `msgpack:"k"`
	Token  int64          `msgpack:"t"`
}

// Granted reports whether the response grants the permits (Token != 0).
func (r *SemaphoreAcquireResponse) Granted() bool { return r.Token != 0 }

// SemaphoreReleaseRequest gives back the permits held through Key, or
// removes Key from the queue if it still waits. The waiters that then fit
// are granted in the same command. Lease proves ownership: it must be the
// lease Key is attached to, else CodeNotOwner and nothing changes; a Key
// that is not an owner (any more) is CodeNotHolder.
type SemaphoreReleaseRequest struct {
	Name  string `msgpack:"n"`
	Key   []byte `msgpack:"k"`
	Lease int64  `msgpack:"l"`
}

// SemaphoreReleaseResponse answers a SemaphoreReleaseRequest.
type SemaphoreReleaseResponse struct {
	Header ResponseHeader `msgpack:"h"`
}

// SemaphoreStatusRequest asks about semaphore Name.
type SemaphoreStatusRequest struct {
	Name string `msgpack:"n"`
}

// SemaphoreOwner is one owner of a semaphore in a status: its key, data,
// weight, lease and, for a holder, the token of its grant (0 for a
// waiter). LeaseTTL is the lease's remaining TTL in seconds, when the
// server fills it in.
type SemaphoreOwner struct {
	Key      []byte `msgpack:"k"`
	Owner    []byte `msgpack:"o,omitempty"`
	Weight   int64  `msgpack:"w"`
	Token    int64  `msgpack:"t,omitempty"`
	Lease    int64  `msgpack:"l"`
	LeaseTTL int64  `msgpack:"ttl,omitempty"`
}

// SemaphoreStatusResponse describes a semaphore: its Limit (0 when it has
// no owner: the next acquirer sets it), the permits Held (the sum of the
// holders' weights, at most Limit), the Holders and the Waiters, each in
// arrival order (Waiters[0] is granted next, once its weight fits).
type SemaphoreStatusResponse struct {
	Header  ResponseHeader   `msgpack:"h"`
	Limit   int64            `msgpack:"lim"`
	Held    int64            `msgpack:"held"`
	Holders []SemaphoreOwner `msgpack:"hs,omitempty"`
	Waiters []SemaphoreOwner `msgpack:"ws,omitempty"`
}
