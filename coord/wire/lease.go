package wire

// Lease IDs encode their shard: the top 16 bits hold shard+1, the low 48
// bits a counter the shard's state machine assigns. LeaseShard decodes it.
const leaseShardShift = 48

// LeaseID composes a lease ID from its shard and its per-shard number.
func LeaseID(shard uint32, n uint64) int64 {
	return int64((uint64(shard)+1)<<leaseShardShift | n&(1<<leaseShardShift-1))
}

// LeaseShard returns the shard a lease lives in, and false for an ID that
// names no shard (0, negative, or no shard bits).
func LeaseShard(id int64) (uint32, bool) {
	if id <= 0 {
		return 0, false
	}
	s := uint64(id) >> leaseShardShift
	if s == 0 {
		return 0, false
	}
	return uint32(s - 1), true
}

// LeaseGrantRequest creates a lease of TTL seconds. The lease lives in the
// shard of RoutingKey (any key; its hash tag decides) or, when RoutingKey
// is empty, in Shard.
type LeaseGrantRequest struct {
	TTL        int64  `msgpack:"ttl"`
	RoutingKey []byte `msgpack:"rk,omitempty"`
	Shard      uint32 `msgpack:"s,omitempty"`
}

// LeaseGrantResponse answers a LeaseGrantRequest.
type LeaseGrantResponse struct {
	Header ResponseHeader `msgpack:"h"`
	ID     int64          `msgpack:"id"`
	TTL    int64          `msgpack:"ttl"`
}

// LeaseRevokeRequest revokes a lease, deleting every key attached to it at
// one revision.
type LeaseRevokeRequest struct {
	ID int64 `msgpack:"id"`
}

// LeaseRevokeResponse answers a LeaseRevokeRequest.
type LeaseRevokeResponse struct {
	Header ResponseHeader `msgpack:"h"`
}

// LeaseKeepAliveRequest renews leases: each gets a full TTL again. A
// keep-alive stream sends one of these per renewal.
type LeaseKeepAliveRequest struct {
	IDs []int64 `msgpack:"ids"`
}

// LeaseKeepAliveResponse answers one renewal: TTL is the granted TTL of
// each lease in IDs order, or 0 for a lease that no longer exists. For a
// renewal of one lease, ID and TTL also name it and its TTL, as etcd's
// keep-alive response does.
type LeaseKeepAliveResponse struct {
	Header ResponseHeader `msgpack:"h"`
	IDs    []int64        `msgpack:"ids"`
	TTLs   []int64        `msgpack:"ttls"`
	ID     int64          `msgpack:"id,omitempty"`
	TTL    int64          `msgpack:"ttl,omitempty"`
}

// LeaseTimeToLiveRequest asks how long a lease has left.
type LeaseTimeToLiveRequest struct {
	ID   int64 `msgpack:"id"`
	Keys bool  `msgpack:"keys,omitempty"`
}

// LeaseTimeToLiveResponse answers a LeaseTimeToLiveRequest. TTL is the
// remaining time in seconds as the member sees it (-1 if the lease does not
// exist), GrantedTTL the TTL it was granted with.
type LeaseTimeToLiveResponse struct {
	Header     ResponseHeader `msgpack:"h"`
	ID         int64          `msgpack:"id"`
	TTL        int64          `msgpack:"ttl"`
	GrantedTTL int64          `msgpack:"gttl"`
	Keys       [][]byte       `msgpack:"keys,omitempty"`
}

// LeaseLeasesRequest lists every lease of every shard.
type LeaseLeasesRequest struct{}

// LeaseStatus is one lease in a listing.
type LeaseStatus struct {
	ID  int64 `msgpack:"id"`
	TTL int64 `msgpack:"ttl"` // granted TTL in seconds
}

// LeaseLeasesResponse answers a LeaseLeasesRequest.
type LeaseLeasesResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Leases []LeaseStatus  `msgpack:"leases"`
}
