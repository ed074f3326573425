package wire

// Method names. A method's request and response bodies are the message
// types the method table (methodTable) names for it.
const (
	MethodPut     = "kv.put"
	MethodRange   = "kv.range"
	MethodDelete  = "kv.delete"
	MethodTxn     = "kv.txn"
	MethodCompact = "kv.compact"
	MethodStatus  = "status"

	MethodLeaseGrant      = "lease.grant"
	MethodLeaseRevoke     = "lease.revoke"
	MethodLeaseKeepAlive  = "lease.keepalive"
	MethodLeaseTimeToLive = "lease.ttl"
	MethodLeaseLeases     = "lease.list"
	MethodWatch           = "watch"
)

// Methods of the primitives.
const (
	MethodLock       = "lock.lock"
	MethodUnlock     = "lock.unlock"
	MethodLockStatus = "lock.status"
	MethodCampaign   = "elect.campaign"
	MethodProclaim   = "elect.proclaim"
	MethodResign     = "elect.resign"
	MethodLeader     = "elect.leader"
)

// Methods of queues and barriers.
const (
	MethodEnqueue   = "queue.enqueue"
	MethodDequeue   = "queue.dequeue"
	MethodAck       = "queue.ack"
	MethodQueueInfo = "queue.info"
	MethodQueueWait = "queue.wait"
	MethodBarrier   = "barrier"
)

// Method is what the protocol says about one method: the one place the
// client (which calls are tagged exactly-once), the server's doors (how
// long a call may run, which calls stream), its limits, metrics and
// dispatch read it from.
type Method struct {
	// Name is the method's name in a request frame (the Method*
	// constants).
	Name string
	// Write: the call is an exactly-once write. The client tags it with
	// its client ID and a sequence number and retries it with the same
	// tag; the cluster applies it at most once and answers a retry with
	// the first result. A request of a write method that only reads (a
	// resumed wait, a barrier's Wait) is sent untagged: see IsWrite.
	Write bool
	// Waits: the call may block until something happens in the cluster.
	// Without a deadline of its own it is not cut off by the server's cap
	// on call duration, unless it is Resumable.
	Waits bool
	// Resumable: the call waits in a way the client resumes when it is
	// cut off (see LockRequest): after its write is applied the server
	// sends one intermediate response (More) with the owner's key; the
	// call is always cut at the server's cap on call duration, answered
	// CodeTimeout without withdrawing the waiter.
	Resumable bool
	// Streams: the call answers a stream of messages (More), ended by a
	// final one, and counts against the server's bound on open streams
	// per connection (some requests only; see IsStream).
	Streams bool
	// NewRequest and NewResponse return a new, empty request and response
	// body: pointers to the method's message types. A streaming call's
	// messages are all responses.
	NewRequest, NewResponse func() any
}

// readOnly is implemented by the requests of a write method that may
// only read: such a request is sent without an exactly-once tag.
type readOnly interface{ readOnly() bool }

// oneShot is implemented by the requests of a streaming method that may
// ask for a single answer instead of a stream.
type oneShot interface{ oneShot() bool }

// IsWrite reports whether req, a request of m (a pointer to its type, as
// NewRequest returns), is an exactly-once write.
func (m *Method) IsWrite(req any) bool {
	if !m.Write {
		return false
	}
	r, ok := req.(readOnly)
	return !ok || !r.readOnly()
}

// IsStream reports whether req, a request of m, opens a stream.
func (m *Method) IsStream(req any) bool {
	if !m.Streams {
		return false
	}
	r, ok := req.(oneShot)
	return !ok || !r.oneShot()
}

// A resumed wait reads.
func (r *LockRequest) readOnly() bool             { return r.Resume != nil }
func (r *CampaignRequest) readOnly() bool         { return r.Resume != nil }
func (r *SemaphoreAcquireRequest) readOnly() bool { return r.Resume != nil }

// A gate's Wait reads, and so does a resumed wait of Enter or Leave.
func (r *BarrierRequest) readOnly() bool { return r.Op == BarrierWait || r.Resume }

// Without Observe the leader is answered once.
func (r *LeaderRequest) oneShot() bool { return !r.Observe }

func newOf[T any]() any { return new(T) }

// methodTable is every method of this protocol version.
var methodTable = []Method{
	{Name: MethodPut, Write: true, NewRequest: newOf[PutRequest], NewResponse: newOf[PutResponse]},
	{Name: MethodRange, NewRequest: newOf[RangeRequest], NewResponse: newOf[RangeResponse]},
	{Name: MethodDelete, Write: true, NewRequest: newOf[DeleteRangeRequest], NewResponse: newOf[DeleteRangeResponse]},
	{Name: MethodTxn, Write: true, NewRequest: newOf[TxnRequest], NewResponse: newOf[TxnResponse]},
	{Name: MethodCompact, Write: true, NewRequest: newOf[CompactRequest], NewResponse: newOf[CompactResponse]},
	{Name: MethodStatus, NewRequest: newOf[StatusRequest], NewResponse: newOf[StatusResponse]},

	{Name: MethodLeaseGrant, Write: true, NewRequest: newOf[LeaseGrantRequest], NewResponse: newOf[LeaseGrantResponse]},
	{Name: MethodLeaseRevoke, Write: true, NewRequest: newOf[LeaseRevokeRequest], NewResponse: newOf[LeaseRevokeResponse]},
	// A renewal writes, but is idempotent: it needs no exactly-once tag.
	{Name: MethodLeaseKeepAlive, NewRequest: newOf[LeaseKeepAliveRequest], NewResponse: newOf[LeaseKeepAliveResponse]},
	{Name: MethodLeaseTimeToLive, NewRequest: newOf[LeaseTimeToLiveRequest], NewResponse: newOf[LeaseTimeToLiveResponse]},
	{Name: MethodLeaseLeases, NewRequest: newOf[LeaseLeasesRequest], NewResponse: newOf[LeaseLeasesResponse]},
	{Name: MethodWatch, Waits: true, Streams: true, NewRequest: newOf[WatchRequest], NewResponse: newOf[WatchResponse]},

	{Name: MethodLock, Write: true, Waits: true, Resumable: true, NewRequest: newOf[LockRequest], NewResponse: newOf[LockResponse]},
	{Name: MethodUnlock, Write: true, NewRequest: newOf[UnlockRequest], NewResponse: newOf[UnlockResponse]},
	{Name: MethodLockStatus, NewRequest: newOf[LockStatusRequest], NewResponse: newOf[LockStatusResponse]},
	{Name: MethodCampaign, Write: true, Waits: true, Resumable: true, NewRequest: newOf[CampaignRequest], NewResponse: newOf[LeaderResponse]},
	{Name: MethodProclaim, Write: true, NewRequest: newOf[ProclaimRequest], NewResponse: newOf[LeaderResponse]},
	{Name: MethodResign, Write: true, NewRequest: newOf[ResignRequest], NewResponse: newOf[LeaderResponse]},
	// With Observe, a stream of the leader's changes.
	{Name: MethodLeader, Waits: true, Streams: true, NewRequest: newOf[LeaderRequest], NewResponse: newOf[LeaderResponse]},

	{Name: MethodEnqueue, Write: true, NewRequest: newOf[EnqueueRequest], NewResponse: newOf[EnqueueResponse]},
	// A retried dequeue answers the same delivery instead of taking a
	// second item (see DequeueRequest): it never waits itself, the client
	// waits with MethodQueueWait.
	{Name: MethodDequeue, Write: true, NewRequest: newOf[DequeueRequest], NewResponse: newOf[DequeueResponse]},
	{Name: MethodAck, Write: true, NewRequest: newOf[AckRequest], NewResponse: newOf[AckResponse]},
	{Name: MethodQueueInfo, NewRequest: newOf[QueueInfoRequest], NewResponse: newOf[QueueInfoResponse]},
	{Name: MethodQueueWait, Waits: true, NewRequest: newOf[QueueWaitRequest], NewResponse: newOf[QueueWaitResponse]},
	// Hold, Release, Enter and Leave write; Wait, Enter and Leave wait.
	{Name: MethodBarrier, Write: true, Waits: true, Resumable: true, NewRequest: newOf[BarrierRequest], NewResponse: newOf[BarrierResponse]},

	{Name: MethodSemAcquire, Write: true, Waits: true, Resumable: true, NewRequest: newOf[SemaphoreAcquireRequest], NewResponse: newOf[SemaphoreAcquireResponse]},
	{Name: MethodSemRelease, Write: true, NewRequest: newOf[SemaphoreReleaseRequest], NewResponse: newOf[SemaphoreReleaseResponse]},
	{Name: MethodSemStatus, NewRequest: newOf[SemaphoreStatusRequest], NewResponse: newOf[SemaphoreStatusResponse]},

	// Authentication answers a token; it changes nothing replicated.
	{Name: MethodAuthenticate, NewRequest: newOf[AuthenticateRequest], NewResponse: newOf[AuthenticateResponse]},
	{Name: MethodAuthEnable, Write: true, NewRequest: newOf[AuthRequest], NewResponse: newOf[AuthStatusResponse]},
	{Name: MethodAuthDisable, Write: true, NewRequest: newOf[AuthRequest], NewResponse: newOf[AuthStatusResponse]},
	{Name: MethodAuthStatus, NewRequest: newOf[AuthRequest], NewResponse: newOf[AuthStatusResponse]},
	{Name: MethodUserAdd, Write: true, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserDelete, Write: true, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserGet, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserList, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserPasswd, Write: true, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserGrantRole, Write: true, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodUserRevokeRole, Write: true, NewRequest: newOf[UserRequest], NewResponse: newOf[UserResponse]},
	{Name: MethodRoleAdd, Write: true, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},
	{Name: MethodRoleDelete, Write: true, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},
	{Name: MethodRoleGet, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},
	{Name: MethodRoleList, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},
	{Name: MethodRoleGrantPermission, Write: true, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},
	{Name: MethodRoleRevokePermission, Write: true, NewRequest: newOf[RoleRequest], NewResponse: newOf[RoleResponse]},

	// Raising and disarming an alarm are idempotent (set or remove a
	// record): no exactly-once tag. Defrag is the answering member's own.
	{Name: MethodAlarm, NewRequest: newOf[AlarmRequest], NewResponse: newOf[AlarmResponse]},
	{Name: MethodDefrag, NewRequest: newOf[DefragRequest], NewResponse: newOf[DefragResponse]},
	{Name: MethodHash, NewRequest: newOf[HashRequest], NewResponse: newOf[HashResponse]},
	// A backup streams for as long as the file takes to send: it is not
	// cut at the server's cap on call duration (Waits, not Resumable).
	{Name: MethodSnapshot, Waits: true, Streams: true, NewRequest: newOf[SnapshotRequest], NewResponse: newOf[SnapshotResponse]},
	// Membership changes are idempotent steps (Raft configuration changes
	// and registry records), not exactly-once writes: a retry redoes what
	// is left of them.
	{Name: MethodMemberAdd, NewRequest: newOf[MemberAddRequest], NewResponse: newOf[MemberResponse]},
	{Name: MethodMemberPromote, NewRequest: newOf[MemberPromoteRequest], NewResponse: newOf[MemberResponse]},
	{Name: MethodMemberRemove, NewRequest: newOf[MemberRemoveRequest], NewResponse: newOf[MemberResponse]},
	{Name: MethodMemberMoveLeader, NewRequest: newOf[MemberMoveLeaderRequest], NewResponse: newOf[MemberResponse]},
}

// methods indexes methodTable by name.
var methods = func() map[string]*Method {
	m := make(map[string]*Method, len(methodTable))
	for i := range methodTable {
		m[methodTable[i].Name] = &methodTable[i]
	}
	return m
}()

// LookupMethod returns what the protocol says about method name, and
// false for a name that is no method of this protocol version.
func LookupMethod(name string) (*Method, bool) {
	m, ok := methods[name]
	return m, ok
}

// Methods returns every method of this protocol version, in a fixed order.
func Methods() []Method { return append([]Method(nil), methodTable...) }

// IsMethod reports whether name is a method of this protocol version.
func IsMethod(name string) bool { _, ok := methods[name]; return ok }
