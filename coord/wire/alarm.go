package wire

// Methods of alarms and maintenance.
const (
	// MethodAlarm lists, raises or disarms alarms (AlarmRequest.Action).
	MethodAlarm = "maintenance.alarm"
	// MethodDefrag compacts the answering member's store files.
	MethodDefrag = "maintenance.defrag"
	// MethodHash hashes the answering member's whole store.
	MethodHash = "maintenance.hash"
)

// AlarmType is the kind of an alarm, numbered as etcd's (pb.AlarmType).
type AlarmType uint8

// Alarm types. AlarmNone in a request means "any type".
const (
	AlarmNone AlarmType = 0
	// AlarmNoSpace: a member's store grew past its quota
	// (--quota-backend-bytes). While one is raised, every shard refuses
	// the writes that grow the store with CodeNoSpace.
	AlarmNoSpace AlarmType = 1
)

func (t AlarmType) String() string {
	switch t {
	case AlarmNone:
		return "NONE"
	case AlarmNoSpace:
		return "NOSPACE"
	}
	return "UNKNOWN"
}

// Alarm actions (AlarmRequest.Action), numbered as etcd's.
const (
	AlarmGet        uint8 = 0
	AlarmActivate   uint8 = 1
	AlarmDeactivate uint8 = 2
)

// Alarm is one raised alarm: its type and the member that raised it.
type Alarm struct {
	Member string    `msgpack:"m"`
	Type   AlarmType `msgpack:"t"`
}

// AlarmRequest lists the raised alarms (AlarmGet), raises one for
// Member (AlarmActivate; Type must not be AlarmNone), or disarms the
// alarms that match Member and Type (AlarmDeactivate; "" and AlarmNone
// match any). Raising and disarming are replicated to every shard.
type AlarmRequest struct {
	Action uint8     `msgpack:"a,omitempty"`
	Member string    `msgpack:"m,omitempty"`
	Type   AlarmType `msgpack:"t,omitempty"`
}

// AlarmResponse answers an AlarmRequest: the raised alarms (AlarmGet),
// the alarm raised (AlarmActivate) or the alarms disarmed
// (AlarmDeactivate), sorted by type then member.
type AlarmResponse struct {
	Header ResponseHeader `msgpack:"h"`
	Alarms []Alarm        `msgpack:"al,omitempty"`
}

// DefragRequest asks the answering member to compact its store's files.
type DefragRequest struct{}

// DefragResponse answers a DefragRequest: the member, its store's size
// on disk before and after (bytes), and how long it took.
type DefragResponse struct {
	Member     string `msgpack:"m"`
	SizeBefore int64  `msgpack:"b"`
	SizeAfter  int64  `msgpack:"a"`
	TookMicros int64  `msgpack:"us"`
}

// HashRequest asks the answering member for a hash of its whole store
// (etcd's Hash): every shard's persisted keys, values and records, as its
// replica holds them now. Members that applied the same log have the same
// hash; while writes go on, members differ (as etcd's do). For testing
// and checks, not a consistency proof.
type HashRequest struct{}

// HashResponse answers a HashRequest: the member, its hash of all shards
// (of the shards' hashes in shard order), each shard's hash, and each
// shard's applied revision when hashed.
type HashResponse struct {
	Member    string   `msgpack:"m"`
	Hash      uint64   `msgpack:"h"`
	Shards    []uint64 `msgpack:"s"`
	Revisions []int64  `msgpack:"r"`
}
