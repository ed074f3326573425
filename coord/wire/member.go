package wire

// Membership changes (coord member add | promote | remove). Each changes
// the Raft membership of every shard and the member registry in shard 0;
// `coord member list` is the status call's Members.
const (
	MethodMemberAdd     = "member.add"
	MethodMemberPromote = "member.promote"
	MethodMemberRemove  = "member.remove"
	// MethodMemberMoveLeader moves the leadership of every shard to one
	// voting member (etcd's MoveLeader).
	MethodMemberMoveLeader = "member.move-leader"
)

// MemberAddRequest adds member Name, whose Raft transport listens on
// PeerAddr (host:port), to every shard as a non-voting learner. Unless
// Learner is set, the new member promotes itself to a voter once it has
// started and caught up with every shard; with Learner it stays a learner
// until a MemberPromoteRequest. The new member is started with
// `coord serve --initial-cluster-state existing --node-id ID`.
type MemberAddRequest struct {
	Name     string `msgpack:"n"`
	PeerAddr string `msgpack:"pa"`
	Learner  bool   `msgpack:"l,omitempty"`
}

// MemberPromoteRequest makes learner Name a voter in every shard.
type MemberPromoteRequest struct {
	Name string `msgpack:"n"`
}

// MemberRemoveRequest removes member Name from every shard, after moving
// the leadership of each shard it leads to another voter.
type MemberRemoveRequest struct {
	Name string `msgpack:"n"`
}

// MemberMoveLeaderRequest makes voter Name the leader of every shard: a
// Raft leadership transfer in each shard it does not lead, then a wait
// until it leads them all (CodeTimeout when one did not move before the
// call's deadline).
type MemberMoveLeaderRequest struct {
	Name string `msgpack:"n"`
}

// MemberResponse answers a membership change: the member changed (for an
// add: with its new Raft node ID) and the membership after the change.
type MemberResponse struct {
	Member  MemberInfo   `msgpack:"m"`
	Members []MemberInfo `msgpack:"ms"`
}
