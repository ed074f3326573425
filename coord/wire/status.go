package wire

// StatusRequest asks one member for its view of every shard.
type StatusRequest struct{}

// ShardStatus is one member's view of one shard.
type ShardStatus struct {
	Shard           uint32 `msgpack:"s"`
	Leader          string `msgpack:"l,omitempty"` // member name of the leader, "" if none known
	IsLeader        bool   `msgpack:"il,omitempty"`
	Term            uint64 `msgpack:"t"`
	AppliedIndex    uint64 `msgpack:"ai"`
	Revision        int64  `msgpack:"r"`
	CompactRevision int64  `msgpack:"cr"`
}

// StatusResponse is one member's status.
type StatusResponse struct {
	Member     string        `msgpack:"m"`
	ClientAddr string        `msgpack:"ca"`
	PeerAddr   string        `msgpack:"pa"`
	Version    string        `msgpack:"v"`
	DBSize     int64         `msgpack:"db"`
	Shards     []ShardStatus `msgpack:"sh"`
	// Members is the cluster's membership as this member knows it, in
	// Raft node ID order (absent from servers before it was added).
	Members []MemberInfo `msgpack:"ms,omitempty"`
	// Alarms are the alarms raised in the cluster, as this member's
	// replicas know them; QuotaBytes is the member's backend quota
	// (--quota-backend-bytes; 0 from servers before it, -1: none).
	Alarms     []Alarm `msgpack:"al,omitempty"`
	QuotaBytes int64   `msgpack:"q,omitempty"`
}

// MemberInfo is one member of the cluster. The addresses of its doors
// are those it published to the cluster's member registry ("" until it
// has, for a door it does not serve, and from servers before the
// registry): ClientAddr the native client door (host:port), EtcdURL the
// etcd door's URL (scheme://host:port), HTTPAddr the HTTP door
// (host:port); ID is its Raft node ID.
type MemberInfo struct {
	Name       string `msgpack:"n"`
	PeerAddr   string `msgpack:"pa"`
	ID         uint64 `msgpack:"id,omitempty"`
	ClientAddr string `msgpack:"ca,omitempty"`
	EtcdURL    string `msgpack:"eu,omitempty"`
	HTTPAddr   string `msgpack:"ha,omitempty"`
	// Learner: a non-voting member (added, catching up or kept a
	// learner until promoted).
	Learner bool `msgpack:"l,omitempty"`
}

// Started reports whether the member has started and published its
// addresses (a member added but not started yet has none).
func (m *MemberInfo) Started() bool { return m.ClientAddr != "" }
