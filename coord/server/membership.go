package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v3"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// Live membership changes: member.add, member.promote, member.remove.
//
// Every shard is one Raft group with the same members, so a change is one
// Raft configuration change per shard, made one shard at a time, plus a
// record in the member registry (shard 0, statemachine/members.go) that
// names the member, its node ID and its addresses, and says whether it is
// a learner or was removed (a tombstone: a removed node ID is never given
// again, Raft refuses it).
//
//   - add: the registry allocates the next node ID (member.add op: above
//     every ID Raft knows, removed ones too, and every record's), then
//     every shard adds the node as a non-voting learner (Dragonboat's
//     observer). The operator starts the member with
//     --initial-cluster-state existing --node-id ID; it joins every shard
//     as a learner and catches up by snapshot and log. Unless added with
//     Learner (member add --learner), the new member promotes itself once
//     it has published its addresses and caught up with every shard (a
//     linearizable read on each succeeded): catching up before voting is
//     the default, so adding a member never makes a quorum wait for one
//     that has nothing yet.
//   - promote: every shard adds the learner as a voter (Dragonboat keeps
//     its progress), then the registry clears its learner flag. Only a
//     started member is promoted.
//   - remove: refused for the last voter of a shard. The registry first
//     keeps a tombstone (the member applies it while it is still in shard
//     0, and so learns that it is removed, which a replica deleted from a
//     group may never hear); the leadership of every shard the member
//     leads moves (RequestLeaderTransfer, to this member when it votes
//     there); then every shard deletes the node. A member does not remove
//     itself (it could not learn the outcome once removed): it answers
//     CodeUnavailable, and clients move on to another member.
//
// Each step is idempotent, so a retried call (the methods are not
// exactly-once writes) redoes only what is left.
//
// The membership watch (runMembershipWatch, one goroutine) follows the
// member's own role: once its registry record is a tombstone, or
// Dragonboat unloaded a replica that applied its own removal, the member
// refuses every call with CodeMemberRemoved and logs why; once every
// replica is unloaded, or removedGrace after it last led a shard, it
// closes Removed() (coord serve then stops and exits non-zero); a joined learner promotes itself as above; once the
// member sees itself a voter in every shard it snapshots every shard and
// writes the voter mark in its data directory, so that a restart starts
// it as a voter (settleVoter).
//
// Leases: a lease is only expired by the leader's lessor, and a new leader
// gives every lease a full TTL before it may expire any, so moving
// leadership (remove) never expires a live lease.

// membershipWatchInterval is the pause between two looks at the member's
// own role.
var membershipWatchInterval = 200 * time.Millisecond

// leaderTransferWait bounds how long remove waits for a shard's leadership
// to move before it deletes the leader anyway (Raft then elects another).
var leaderTransferWait = 5 * time.Second

// leaderTransferRetry is how often remove and move-leader ask a shard
// again to transfer its leadership (a request can be dropped: a transfer
// already going on, an election).
const leaderTransferRetry = time.Second

// voterMarkFile, in the data directory, records that a member that
// joined as a learner is a voter in every shard.
const voterMarkFile = "voter"

func hasVoterMark(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, voterMarkFile))
	return err == nil
}

// Removed is closed once the member learned that it was removed from the
// cluster; it then refuses every call (CodeMemberRemoved).
func (s *Core) Removed() <-chan struct{} { return s.removedc }

// removedGrace is how long a member that saw its own tombstone in the
// registry keeps its Raft replicas running (refusing every call) after
// it last led a shard, before it stops, unless Dragonboat unloads them
// all first: the remove moves its leaderships, then deletes it, and the
// configuration changes may need its vote (a cluster of two).
// removedGraceMax bounds the whole wait.
var (
	removedGrace    = 3 * time.Second
	removedGraceMax = 20 * time.Second
)

// setRemoved makes the member refuse every call from now on.
func (s *Core) setRemoved(why string) {
	s.removedOnce.Do(func() {
		s.removedAt.Store(time.Now().UnixNano())
		s.removed.Store(true)
		s.log.Error("this member was removed from the cluster (coord member remove): it serves no more calls and stops; to bring this machine back, `coord member add` it again and start it with a new data directory", "reason", why)
	})
}

// tombstoned reports (and marks) whether the registry holds this
// member's tombstone: what every call checks, so that a member refuses
// calls as soon as it applied its removal.
func (s *Core) tombstoned() bool {
	for _, r := range s.shards[memberShard].Members() {
		if r.Name == s.cfg.Name {
			if r.Removed && r.NodeID == s.self.NodeID {
				s.setRemoved("the member registry lists it as removed")
				return true
			}
			return false
		}
	}
	return false
}

// stopRemoved closes Removed(): the member's owner (coord serve) stops it.
func (s *Core) stopRemoved() {
	s.removedStop.Do(func() { close(s.removedc) })
}

// removedError is the answer of a removed member to every call.
func (s *Core) removedError() *wire.Error {
	return wire.Errorf(wire.CodeMemberRemoved, "member %s was removed from the cluster: use another member", s.cfg.Name)
}

// memberView is the membership as this member knows it, in node ID
// order: the initial cluster (of a member that created the cluster) and
// the member registry, removed members left out.
func (s *Core) memberView() []wire.MemberInfo {
	byName := map[string]wire.MemberInfo{}
	if !s.cfg.joining() {
		if ms, err := s.cfg.members(); err == nil {
			for _, m := range ms {
				byName[m.Name] = wire.MemberInfo{Name: m.Name, PeerAddr: m.PeerAddr, ID: m.NodeID}
			}
		}
	}
	for _, r := range s.shards[memberShard].Members() {
		if r.Removed {
			delete(byName, r.Name)
			continue
		}
		byName[r.Name] = wire.MemberInfo{Name: r.Name, PeerAddr: r.Peer, ID: r.NodeID,
			ClientAddr: r.Client, EtcdURL: r.Etcd, HTTPAddr: r.HTTP, Learner: r.Learner}
	}
	out := make([]wire.MemberInfo, 0, len(byName))
	for _, m := range byName {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// viewMember returns the member named name in the member view.
func (s *Core) viewMember(name string) (wire.MemberInfo, bool) {
	for _, m := range s.memberView() {
		if m.Name == name {
			return m, true
		}
	}
	return wire.MemberInfo{}, false
}

// raftMembership reads shard's Raft membership (linearizable).
func (s *Core) raftMembership(ctx context.Context, shard uint32) (*dragonboat.Membership, *wire.Error) {
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := attemptContext(ctx)
		m, err := s.nh.SyncGetClusterMembership(actx, clusterID(shard))
		cancel()
		if err == nil {
			return m, nil
		}
		if werr := s.retryOrFail(ctx, shard, err, &backoff); werr != nil {
			return nil, werr
		}
	}
}

// configChange runs one Raft configuration change on shard, retrying
// while the shard is busy (no leader, another change pending).
func (s *Core) configChange(ctx context.Context, shard uint32, what string, f func(ctx context.Context, cid uint64) error) *wire.Error {
	backoff := 5 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := f(actx, clusterID(shard))
		cancel()
		if err == nil {
			s.log.Info("membership changed", "shard", shard, "change", what)
			return nil
		}
		if errors.Is(err, dragonboat.ErrRejected) || errors.Is(err, dragonboat.ErrPendingConfigChangeExist) {
			// Another change is in flight: wait for it.
			err = dragonboat.ErrSystemBusy
		}
		if werr := s.retryOrFail(ctx, shard, err, &backoff); werr != nil {
			werr.Message = fmt.Sprintf("%s in shard %d: %s", what, shard, werr.Message)
			return werr
		}
	}
}

// memberResponse answers a membership change about m.
func (s *Core) memberResponse(m wire.MemberInfo) *wire.MemberResponse {
	return &wire.MemberResponse{Member: m, Members: s.memberView()}
}

// proposeMember proposes a registry op to shard 0.
func (s *Core) proposeMember(ctx context.Context, op string, req any) (*statemachine.MemberChangeResponse, *wire.Error) {
	r, werr := s.propose(ctx, memberShard, statemachine.NewCommand(op, req))
	if werr != nil {
		return nil, werr
	}
	var resp statemachine.MemberChangeResponse
	var h wire.ResponseHeader
	if werr := s.decodeResult(memberShard, r, &resp, &h); werr != nil {
		return nil, werr
	}
	return &resp, nil
}

func recordInfo(r statemachine.MemberRecord) wire.MemberInfo {
	return wire.MemberInfo{Name: r.Name, PeerAddr: r.Peer, ID: r.NodeID, ClientAddr: r.Client,
		EtcdURL: r.Etcd, HTTPAddr: r.HTTP, Learner: r.Learner}
}

// memberAdd answers wire.MethodMemberAdd.
func (s *Core) memberAdd(ctx context.Context, _ *Caller, req *wire.MemberAddRequest) (*wire.MemberResponse, *wire.Error) {
	if req.Name == "" || len(req.Name) > statemachine.MaxMemberField {
		return nil, wire.Errorf(wire.CodeInvalid, "a new member needs a name (at most %d bytes)", statemachine.MaxMemberField)
	}
	if _, _, err := net.SplitHostPort(req.PeerAddr); err != nil || len(req.PeerAddr) > statemachine.MaxMemberField {
		return nil, wire.Errorf(wire.CodeInvalid, "member %s: bad peer address %q (want HOST:PORT, the new member's --listen-peer)", req.Name, req.PeerAddr)
	}
	if werr := s.catchUp(ctx, memberShard); werr != nil {
		return nil, werr
	}
	// Members of the initial cluster that never published have no
	// record: check them here (the registry op checks the records).
	var added bool
	if r, ok := s.memberRecord(req.Name); ok && !r.Removed && r.Peer == req.PeerAddr && r.Learner {
		added = true // a retried add
	}
	for _, m := range s.memberView() {
		switch {
		case added:
		case m.Name == req.Name:
			return nil, wire.Errorf(wire.CodeAlreadyExists, "member %s exists (peer %s)", m.Name, m.PeerAddr)
		case m.PeerAddr == req.PeerAddr:
			return nil, wire.Errorf(wire.CodeAlreadyExists, "peer address %s is member %s's", m.PeerAddr, m.Name)
		}
	}
	// The new ID is above every node ID Raft knows of, removed ones too.
	minID := uint64(1)
	for _, m := range s.memberView() {
		minID = max(minID, m.ID+1)
	}
	for i := range s.shards {
		ms, werr := s.raftMembership(ctx, uint32(i))
		if werr != nil {
			return nil, werr
		}
		for _, set := range []map[uint64]string{ms.Nodes, ms.Observers, ms.Witnesses} {
			for id := range set {
				minID = max(minID, id+1)
			}
		}
		for id := range ms.Removed {
			minID = max(minID, id+1)
		}
	}
	resp, werr := s.proposeMember(ctx, statemachine.OpMemberAdd, &statemachine.MemberAdd{
		Name: req.Name, Peer: req.PeerAddr, StayLearner: req.Learner, MinNodeID: minID})
	if werr != nil {
		return nil, werr
	}
	rec := resp.Record
	for i := range s.shards {
		shard := uint32(i)
		ms, werr := s.raftMembership(ctx, shard)
		if werr != nil {
			return nil, werr
		}
		_, voter := ms.Nodes[rec.NodeID]
		_, learner := ms.Observers[rec.NodeID]
		if voter || learner {
			continue
		}
		werr = s.configChange(ctx, shard, fmt.Sprintf("add learner %s (node %d)", rec.Name, rec.NodeID), func(ctx context.Context, cid uint64) error {
			return s.nh.SyncRequestAddObserver(ctx, cid, rec.NodeID, rec.Peer, 0)
		})
		if werr != nil {
			return nil, werr
		}
	}
	s.log.Info("member added as a learner to every shard", "name", rec.Name, "node-id", rec.NodeID, "peer", rec.Peer, "stays-learner", rec.StayLearner)
	return s.memberResponse(recordInfo(rec)), nil
}

// memberPromote answers wire.MethodMemberPromote.
func (s *Core) memberPromote(ctx context.Context, _ *Caller, req *wire.MemberPromoteRequest) (*wire.MemberResponse, *wire.Error) {
	if werr := s.catchUp(ctx, memberShard); werr != nil {
		return nil, werr
	}
	return s.promote(ctx, req.Name)
}

// promote makes learner name a voter in every shard.
func (s *Core) promote(ctx context.Context, name string) (*wire.MemberResponse, *wire.Error) {
	rec, ok := s.memberRecord(name)
	if !ok || rec.Removed {
		if m, ok := s.viewMember(name); ok && !m.Learner {
			return nil, wire.Errorf(wire.CodeNotLearner, "member %s is not a learner (it votes already)", name)
		}
		return nil, wire.Errorf(wire.CodeNotFound, "member %q not found", name)
	}
	if rec.Learner && rec.Client == "" {
		return nil, wire.Errorf(wire.CodeInvalid, "member %s has not started yet: start it (coord serve --initial-cluster-state existing --node-id %d) and let it catch up, then promote it", name, rec.NodeID)
	}
	changed := false
	for i := range s.shards {
		shard := uint32(i)
		ms, werr := s.raftMembership(ctx, shard)
		if werr != nil {
			return nil, werr
		}
		if _, learner := ms.Observers[rec.NodeID]; !learner {
			continue
		}
		werr = s.configChange(ctx, shard, fmt.Sprintf("promote %s (node %d) to voter", rec.Name, rec.NodeID), func(ctx context.Context, cid uint64) error {
			return s.nh.SyncRequestAddNode(ctx, cid, rec.NodeID, rec.Peer, 0)
		})
		if werr != nil {
			return nil, werr
		}
		changed = true
	}
	if !rec.Learner && !changed {
		return nil, wire.Errorf(wire.CodeNotLearner, "member %s is not a learner (it votes already)", name)
	}
	if rec.Learner {
		resp, werr := s.proposeMember(ctx, statemachine.OpMemberPromote, &statemachine.MemberPromote{Name: name})
		if werr != nil && werr.Code != wire.CodeNotLearner {
			return nil, werr
		}
		if resp != nil {
			rec = resp.Record
		}
	}
	rec.Learner = false
	s.log.Info("member promoted to voter in every shard", "name", rec.Name, "node-id", rec.NodeID)
	return s.memberResponse(recordInfo(rec)), nil
}

// memberRemove answers wire.MethodMemberRemove.
func (s *Core) memberRemove(ctx context.Context, _ *Caller, req *wire.MemberRemoveRequest) (*wire.MemberResponse, *wire.Error) {
	if werr := s.catchUp(ctx, memberShard); werr != nil {
		return nil, werr
	}
	target, ok := s.viewMember(req.Name)
	if !ok {
		// A tombstone whose Raft deletions did not all finish: go on.
		if r, found := s.memberRecord(req.Name); found && r.Removed {
			target = recordInfo(r)
		} else {
			return nil, wire.Errorf(wire.CodeNotFound, "member %q not found", req.Name)
		}
	}
	if req.Name == s.cfg.Name {
		return nil, wire.Errorf(wire.CodeUnavailable, "member %s does not remove itself: ask another member", req.Name)
	}
	id := target.ID
	// Refuse before changing anything: the last voter of a shard stays.
	present := make([]bool, len(s.shards))
	for i := range s.shards {
		ms, werr := s.raftMembership(ctx, uint32(i))
		if werr != nil {
			return nil, werr
		}
		_, voter := ms.Nodes[id]
		_, learner := ms.Observers[id]
		present[i] = voter || learner
		if voter && len(ms.Nodes) == 1 {
			return nil, wire.Errorf(wire.CodeInvalid, "member %s is the last voting member of shard %d: add and promote another member first", req.Name, i)
		}
	}
	if !slicesAny(present) {
		if r, found := s.memberRecord(req.Name); found && r.Removed {
			return nil, wire.Errorf(wire.CodeNotFound, "member %q was removed already", req.Name)
		}
	}
	// The tombstone first, while the member still takes part in shard
	// 0: it learns from it that it is removed (a replica deleted from a
	// group may never hear of it), refuses calls from then on and stops
	// once deleted everywhere (runMembershipWatch).
	if _, werr := s.proposeMember(ctx, statemachine.OpMemberRemove, &statemachine.MemberRemove{Name: req.Name, NodeID: id, Peer: target.PeerAddr}); werr != nil && werr.Code != wire.CodeNotFound {
		return nil, werr
	}
	for i := range s.shards {
		if present[i] {
			s.moveLeadership(ctx, uint32(i), id)
		}
	}
	for i := len(s.shards) - 1; i >= 0; i-- {
		if !present[i] {
			continue
		}
		werr := s.configChange(ctx, uint32(i), fmt.Sprintf("remove %s (node %d)", req.Name, id), func(ctx context.Context, cid uint64) error {
			return s.nh.SyncRequestDeleteNode(ctx, cid, id, 0)
		})
		if werr != nil {
			return nil, werr
		}
	}
	s.log.Info("member removed from every shard", "name", req.Name, "node-id", id)
	return s.memberResponse(target), nil
}

// memberMoveLeader answers wire.MethodMemberMoveLeader: voter req.Name
// becomes the leader of every shard. Each shard it does not lead is asked
// to transfer its leadership to it (again every leaderTransferRetry while
// it has not moved), until it leads them all or ctx ends (CodeTimeout,
// naming the shards that did not move).
func (s *Core) memberMoveLeader(ctx context.Context, _ *Caller, req *wire.MemberMoveLeaderRequest) (*wire.MemberResponse, *wire.Error) {
	if werr := s.catchUp(ctx, memberShard); werr != nil {
		return nil, werr
	}
	target, ok := s.viewMember(req.Name)
	if !ok {
		return nil, wire.Errorf(wire.CodeNotFound, "member %q not found", req.Name)
	}
	for i := range s.shards {
		ms, werr := s.raftMembership(ctx, uint32(i))
		if werr != nil {
			return nil, werr
		}
		if _, voter := ms.Nodes[target.ID]; !voter {
			return nil, wire.Errorf(wire.CodeInvalid, "member %s does not vote in shard %d (a learner cannot lead): promote it first", req.Name, i)
		}
		if _, voter := ms.Nodes[s.self.NodeID]; !voter {
			// A learner's replica drops a transfer request (only voters
			// pass it on to the leader): the client asks another member.
			return nil, wire.Errorf(wire.CodeUnavailable, "member %s is a learner in shard %d and cannot ask for a leadership transfer: ask a voting member", s.cfg.Name, i)
		}
	}
	asked := make([]time.Time, len(s.shards))
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		var left []uint32
		for i := range s.shards {
			cid := clusterID(uint32(i))
			// Led by the target in Raft and in what this member reports
			// (status, member list: s.leaders, updated a little later).
			leader, ok, err := s.nh.GetLeaderID(cid)
			if li := s.leaders[i].v.Load(); err == nil && ok && leader == target.ID && li != nil && li.LeaderID == target.ID {
				continue
			}
			left = append(left, uint32(i))
			if (!ok || leader != target.ID) && time.Since(asked[i]) >= leaderTransferRetry {
				if err := s.nh.RequestLeaderTransfer(cid, target.ID); err != nil {
					s.log.Debug("leader transfer request failed", "shard", i, "to", req.Name, "err", err)
				}
				asked[i] = time.Now()
			}
		}
		if len(left) == 0 {
			s.log.Info("member leads every shard after move-leader", "name", req.Name)
			return s.memberResponse(target), nil
		}
		t.Reset(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return nil, wire.Errorf(wire.CodeCanceled, "call cancelled")
			}
			return nil, wire.Errorf(wire.CodeTimeout, "member %s does not lead shard(s) %v yet: the leadership transfer did not finish before the call's deadline", req.Name, left)
		case <-t.C:
		}
	}
}

func slicesAny(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}

// moveLeadership moves the leadership of shard away from node id if it
// has it: to this member when it votes there, else to the voter of the
// lowest ID. It waits up to leaderTransferWait (best effort: a removed
// leader steps down anyway).
func (s *Core) moveLeadership(ctx context.Context, shard uint32, id uint64) {
	cid := clusterID(shard)
	leader, ok, err := s.nh.GetLeaderID(cid)
	if err != nil || !ok || leader != id {
		return
	}
	ms, werr := s.raftMembership(ctx, shard)
	if werr != nil {
		return
	}
	to := uint64(0)
	if _, ok := ms.Nodes[s.self.NodeID]; ok && s.self.NodeID != id {
		to = s.self.NodeID
	} else {
		for n := range ms.Nodes {
			if n != id && (to == 0 || n < to) {
				to = n
			}
		}
	}
	if to == 0 {
		return
	}
	deadline := time.Now().Add(leaderTransferWait)
	var lastAsk time.Time
	for time.Now().Before(deadline) && ctx.Err() == nil {
		leader, ok, err := s.nh.GetLeaderID(cid)
		if err != nil {
			return
		}
		if ok && leader != id {
			s.log.Info("shard leadership moved off a member being removed", "shard", shard, "from", s.nodeName(id), "to", s.nodeName(leader))
			return
		}
		if time.Since(lastAsk) > leaderTransferRetry {
			if err := s.nh.RequestLeaderTransfer(cid, to); err != nil {
				s.log.Debug("leader transfer request failed", "shard", shard, "err", err)
			}
			lastAsk = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.log.Warn("the leadership of a shard did not move off the member being removed in time; removing it anyway (the shard elects another leader)", "shard", shard, "member", s.nodeName(id))
}

// runMembershipWatch follows the member's own role (see the top of the
// file) until the member stops.
func (s *Core) runMembershipWatch(stop <-chan struct{}) {
	t := time.NewTicker(membershipWatchInterval)
	defer t.Stop()
	var marked, promoting, settling atomic.Bool
	marked.Store(!s.cfg.joining() || hasVoterMark(s.cfg.DataDir))
	// sawLearner: the replica of a shard was seen a learner since start,
	// so a promotion since was applied live (the replica follows as a
	// voter) rather than replayed from a snapshot at start.
	sawLearner := make([]bool, len(s.shards))
	var lastLed time.Time // when this removed member last led a shard
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if s.stopping.Load() {
			continue
		}
		// The registry's tombstone, written before the Raft deletions
		// (memberRemove): this replica may never learn of its own
		// deletion (the leader stops talking to it).
		s.tombstoned()
		info := s.nh.GetNodeHostInfo(dragonboat.NodeHostInfoOption{SkipLogInfo: true})
		loaded := map[uint64]dragonboat.ClusterInfo{}
		for _, ci := range info.ClusterInfoList {
			loaded[ci.ClusterID] = ci
		}
		if s.removed.Load() {
			unloaded := 0
			for i := range s.shards {
				if _, ok := loaded[clusterID(uint32(i))]; !ok {
					unloaded++
				}
			}
			for i := range s.shards {
				if leader, ok, err := s.nh.GetLeaderID(clusterID(uint32(i))); err == nil && ok && leader == s.self.NodeID {
					lastLed = time.Now()
				}
			}
			since := time.Unix(0, s.removedAt.Load())
			if unloaded == len(s.shards) || time.Since(since) > removedGraceMax ||
				(time.Since(since) > removedGrace && time.Since(lastLed) > removedGrace) {
				s.stopRemoved()
				return
			}
			continue
		}
		allVoter, allLearner := true, true
		for i := range s.shards {
			shard := uint32(i)
			if _, r := s.restarting.Load(shard); r {
				allVoter, allLearner = false, false
				continue
			}
			ci, ok := loaded[clusterID(shard)]
			if !ok {
				// Dragonboat unloads a replica that applied its own
				// removal.
				s.setRemoved(fmt.Sprintf("shard %d applied the removal of this member", shard))
				allVoter, allLearner = false, false
				break
			}
			if ci.Pending {
				allVoter, allLearner = false, false
				continue
			}
			_, voter := ci.Nodes[s.self.NodeID]
			switch {
			case voter:
				allLearner = false
			case ci.IsObserver:
				allVoter = false
				sawLearner[i] = true
			default:
				allVoter, allLearner = false, false
			}
		}
		if allVoter && !marked.Load() && !settling.Load() {
			settling.Store(true)
			restart := make([]bool, len(s.shards))
			for i := range restart {
				restart[i] = s.startedLearner[i].Load() && !sawLearner[i]
			}
			s.goBackground(func(stop <-chan struct{}) {
				defer settling.Store(false)
				if s.settleVoter(stop, restart) {
					marked.Store(true)
				}
			})
		}
		if allLearner && !promoting.Load() && s.published() {
			if rec, ok := s.memberRecord(s.cfg.Name); ok && rec.Learner && !rec.StayLearner && !rec.Removed {
				promoting.Store(true)
				s.goBackground(func(stop <-chan struct{}) {
					defer promoting.Store(false)
					s.promoteSelf(stop)
				})
			}
		}
	}
}

// stopContext is a context that ends with stop or after d.
func stopContext(stop <-chan struct{}, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// promoteSelf promotes this joined learner once every shard is caught up.
func (s *Core) promoteSelf(stop <-chan struct{}) {
	ctx, cancel := stopContext(stop, time.Minute)
	defer cancel()
	for i := range s.shards {
		if werr := s.catchUp(ctx, uint32(i)); werr != nil {
			s.log.Info("learner not caught up yet; promoting later", "shard", i, "err", werr)
			return
		}
	}
	s.log.Info("caught up with every shard as a learner: promoting this member to voter")
	if _, werr := s.promote(ctx, s.cfg.Name); werr != nil && werr.Code != wire.CodeNotLearner {
		s.log.Warn("could not promote this member yet; retrying", "err", werr)
	}
}

// settleVoter runs once a member that joined as a learner is a voter in
// every shard. Dragonboat replays the log after the latest snapshot on a
// restart, with the replica's role as configured: a replica configured a
// voter panics replaying its own addition as a learner, one configured a
// learner stays a learner if its promotion is inside the snapshot. So
// every shard first takes a snapshot (metadata only for an on-disk state
// machine), which holds the promotion; then the voter mark makes the
// next starts voters; and a replica started as a learner that was not
// seen promoted live (restart[shard]) is restarted as a voter now.
// It reports whether the mark was written.
func (s *Core) settleVoter(stop <-chan struct{}, restart []bool) bool {
	ctx, cancel := stopContext(stop, time.Minute)
	defer cancel()
	for i := range s.shards {
		for {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := s.nh.SyncRequestSnapshot(actx, clusterID(uint32(i)), dragonboat.SnapshotOption{})
			acancel()
			if err == nil || errors.Is(err, dragonboat.ErrRejected) {
				// Rejected: the latest snapshot is at the applied index.
				break
			}
			if ctx.Err() != nil {
				s.log.Warn("could not snapshot a shard after this member's promotion; trying again later", "shard", i, "err", err)
				return false
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := os.WriteFile(filepath.Join(s.cfg.DataDir, voterMarkFile), []byte("this member votes in every shard\n"), 0o640); err != nil {
		s.log.Warn("could not write the voter mark", "err", err)
		return false
	}
	for i, r := range restart {
		if r {
			s.restartAsVoter(uint32(i))
		}
	}
	s.log.Info("this member votes in every shard")
	return true
}

// restartAsVoter restarts the replica of shard that was started as a
// learner and is a voter by now (promoted inside the snapshot it started
// from): Dragonboat keeps a replica started as an observer one.
func (s *Core) restartAsVoter(shard uint32) {
	s.restarting.Store(shard, true)
	defer s.restarting.Delete(shard)
	s.log.Info("this member's replica is a voter but was started as a learner: restarting it as a voter", "shard", shard)
	if err := s.nh.StopCluster(clusterID(shard)); err != nil {
		s.log.Warn("could not stop the replica to restart it", "shard", shard, "err", err)
		return
	}
	// Dragonboat unloads the stopped replica asynchronously.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := s.startShard(shard, nil, false)
		if err == nil {
			return
		}
		if !errors.Is(err, dragonboat.ErrClusterAlreadyExist) || time.Now().After(deadline) {
			s.log.Error("could not restart the replica as a voter", "shard", shard, "err", err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
