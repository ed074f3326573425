package electionrules

import (
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// Operation names of elections in the log: persisted in every command,
// never change them (they are the wire method names).
const (
	OpCampaign = "elect.campaign" // *wire.CampaignRequest → *wire.LeaderResponse
	OpProclaim = "elect.proclaim" // *wire.ProclaimRequest → *wire.LeaderResponse
	OpResign   = "elect.resign"   // *wire.ResignRequest → *wire.LeaderResponse
	OpLeader   = "elect.leader"   // query: *wire.LeaderRequest → *wire.LeaderResponse
)

func leaderHeader(r *wire.LeaderResponse) *wire.ResponseHeader { return &r.Header }

// Primitive is what elections register with the state machine: Campaign,
// Proclaim and Resign, the hand-off when a candidate's lease is revoked
// (OwnerDeleted) and the leader query (ReadLeader).
var Primitive = primitive.Primitive{
	Name: kind,
	Root: Root,
	Ops: []primitive.Op{
		primitive.NewOp(OpCampaign, ApplyCampaign, leaderHeader).Growing(),
		primitive.NewOp(OpProclaim, ApplyProclaim, leaderHeader).Growing(),
		primitive.NewOp(OpResign, ApplyResign, leaderHeader),
	},
	Reads: []primitive.Read{
		primitive.NewRead(OpLeader, func(r primitive.Reader, req *wire.LeaderRequest) (*wire.LeaderResponse, *wire.Error, error) {
			return ReadLeader(r, req.Name)
		}, leaderHeader),
	},
	Revoked: func(st primitive.LeaseStore, prev *wire.KeyValue) error { return OwnerDeleted(st, prev.Key) },
}
