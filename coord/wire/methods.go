package wire

// Method names. A method's request and response bodies are the message
// types named beside it.
const (
	MethodPut     = "kv.put"     // PutRequest → PutResponse (write)
	MethodRange   = "kv.range"   // RangeRequest → RangeResponse
	MethodDelete  = "kv.delete"  // DeleteRangeRequest → DeleteRangeResponse (write)
	MethodTxn     = "kv.txn"     // TxnRequest → TxnResponse (write)
	MethodCompact = "kv.compact" // CompactRequest → CompactResponse (write)
	MethodStatus  = "status"     // StatusRequest → StatusResponse

	MethodLeaseGrant      = "lease.grant"     // LeaseGrantRequest → LeaseGrantResponse (write)
	MethodLeaseRevoke     = "lease.revoke"    // LeaseRevokeRequest → LeaseRevokeResponse (write)
	MethodLeaseKeepAlive  = "lease.keepalive" // LeaseKeepAliveRequest → LeaseKeepAliveResponse
	MethodLeaseTimeToLive = "lease.ttl"       // LeaseTimeToLiveRequest → LeaseTimeToLiveResponse
	MethodLeaseLeases     = "lease.list"      // LeaseLeasesRequest → LeaseLeasesResponse
	MethodWatch           = "watch"           // WatchRequest → stream of WatchResponse
)

// Methods of the primitives.
const (
	MethodLock       = "lock.lock"      // LockRequest → LockResponse (write; waits)
	MethodUnlock     = "lock.unlock"    // UnlockRequest → UnlockResponse (write)
	MethodLockStatus = "lock.status"    // LockStatusRequest → LockStatusResponse
	MethodCampaign   = "elect.campaign" // CampaignRequest → LeaderResponse (write; waits)
	MethodProclaim   = "elect.proclaim" // ProclaimRequest → LeaderResponse (write)
	MethodResign     = "elect.resign"   // ResignRequest → LeaderResponse (write)
	MethodLeader     = "elect.leader"   // LeaderRequest → LeaderResponse, or a stream of them with Observe
)

// Methods of queues and barriers.
const (
	MethodEnqueue   = "queue.enqueue" // EnqueueRequest → EnqueueResponse (write)
	MethodDequeue   = "queue.dequeue" // DequeueRequest → DequeueResponse (write)
	MethodAck       = "queue.ack"     // AckRequest → AckResponse (write)
	MethodQueueInfo = "queue.info"    // QueueInfoRequest → QueueInfoResponse
	MethodQueueWait = "queue.wait"    // QueueWaitRequest → QueueWaitResponse (waits)
	MethodBarrier   = "barrier"       // BarrierRequest → BarrierResponse (Wait, Enter and Leave wait)
)

// methods is every method above.
var methods = map[string]bool{
	MethodPut: true, MethodRange: true, MethodDelete: true, MethodTxn: true, MethodCompact: true, MethodStatus: true,
	MethodLeaseGrant: true, MethodLeaseRevoke: true, MethodLeaseKeepAlive: true, MethodLeaseTimeToLive: true,
	MethodLeaseLeases: true, MethodWatch: true,
	MethodLock: true, MethodUnlock: true, MethodLockStatus: true,
	MethodCampaign: true, MethodProclaim: true, MethodResign: true, MethodLeader: true,
	MethodEnqueue: true, MethodDequeue: true, MethodAck: true, MethodQueueInfo: true, MethodBarrier: true, MethodQueueWait: true,
}

// IsMethod reports whether name is a method of this protocol version.
func IsMethod(name string) bool { return methods[name] }
