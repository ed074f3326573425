package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v3"
	"github.com/lni/dragonboat/v3/client"
	"github.com/lni/dragonboat/v3/config"
	"github.com/lni/dragonboat/v3/raftio"
	sm "github.com/lni/dragonboat/v3/statemachine"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// Core is a member's transport-neutral core: the Dragonboat NodeHost
// hosting every shard, propose and read with their retries, the watch
// hub, the lessor and the lease renewers, the auto-compactor, the
// cluster identity and the handler table. Doors (the msgpack listener,
// HTTP, next an etcd-compatible one) turn their transport's calls into
// Call; the core knows nothing of framing, sockets or TLS.
//
// Goroutines: per shard a renewer, the lessor loop, the auto-compactor
// (when enabled), the quota check (quota.go), the cluster-identity proposer, all stopped by
// beginStop and waited for by close; the calls' own goroutines are their
// doors'. Leader information arrives on Dragonboat's event goroutine
// (LeaderUpdated) and is stored atomically per shard.
type Core struct {
	cfg     Config
	log     *slog.Logger
	self    Member
	names   map[uint64]string // Raft node ID → member name
	store   *statemachine.Store
	shards  []*statemachine.Shard
	leaders []leaderInfo
	// readGates coalesce each shard's ReadIndex rounds (readgate.go).
	readGates []readGate
	rounds    trackedGoroutines // the read gates' rounds; close waits for them
	nh        *dragonboat.NodeHost
	session   []*client.Session // one NoOP session per shard

	hub       *hub
	dequeuers *dequeuers
	lessor    *lessor
	renewers  []*renewer
	stopc     chan struct{} // closed when the member begins to stop
	bgWG      sync.WaitGroup

	// clientAddr is the address of the member's client door, which
	// status reports; Start sets it before any door serves.
	clientAddr string

	// auth is the auth store of the member's shard-0 replica, tokens the
	// tokens it issued, authLimiter the failed attempts per remote host
	// (auth.go).
	auth        authCache
	tokens      tokenStore
	authLimiter authLimiter

	metrics  *metrics
	stopping atomic.Bool
	restores atomic.Int64 // shard states replaced by a snapshot since start

	publishes memberPublishes // member.publish proposals made (members.go)

	// Membership (membership.go): startedLearner says, per shard, whether
	// the member's replica was started as a learner (Dragonboat
	// observer); removed is set, and removedc closed, once the member
	// learns it was removed from the cluster; restarting marks the
	// shards the membership watch restarts on purpose.
	startedLearner []atomic.Bool
	removed        atomic.Bool
	removedAt      atomic.Int64 // Unix nanoseconds when removed was set
	removedOnce    sync.Once
	removedStop    sync.Once
	removedc       chan struct{}
	restarting     sync.Map // uint32 shard → true
}

// leaderInfo is the last leader and term Dragonboat reported for a shard.
type leaderInfo struct {
	v atomic.Pointer[raftio.LeaderInfo]
}

func clusterID(shard uint32) uint64 { return uint64(shard) + 1 }

// newCore opens the member's data, joins its shards and starts the
// core's goroutines. cfg is valid.
func newCore(cfg Config, log *slog.Logger) (*Core, error) {
	members, _ := cfg.members()
	s := &Core{cfg: cfg, log: log, names: map[uint64]string{}, clientAddr: cfg.ListenClient,
		hub: newHub(cfg.Shards), lessor: newLessor(cfg.Shards, time.Now), stopc: make(chan struct{}),
		removedc: make(chan struct{})}
	s.dequeuers = newDequeuers(s)
	for _, m := range members {
		if m.NodeID != 0 {
			s.names[m.NodeID] = m.Name
		}
		if m.Name == cfg.Name {
			s.self = m
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	restored, err := checkRestored(cfg)
	if err != nil {
		return nil, err
	}
	routeRaftLogs(log, cfg.RaftLogLevel)

	store, err := statemachine.OpenStore(filepath.Join(cfg.DataDir, "state"), smConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	s.store = store
	s.metrics = newMetrics(s)

	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()

	expert := config.GetDefaultExpertConfig()
	// One LogDB shard and one exec shard: measured on two cores to give
	// the most throughput with several groups (see DRAGONBOAT.md). Both
	// are fixed when the data directory is created.
	expert.LogDB = config.GetDefaultLogDBConfig()
	expert.LogDB.Shards = cfg.LogDBShards
	expert.Engine.ExecShards = cfg.ExecShards
	nhc := config.NodeHostConfig{
		NodeHostDir:       filepath.Join(cfg.DataDir, "raft"),
		WALDir:            filepath.Join(cfg.DataDir, "raft"),
		RTTMillisecond:    cfg.RTTMillisecond,
		RaftAddress:       cfg.ListenPeer,
		ListenAddress:     cfg.BindPeer,
		RaftEventListener: s,
		EnableMetrics:     true,
		Expert:            expert,
		// Peer mutual TLS: Dragonboat's transport requires and verifies
		// the other end's certificate both ways.
		MutualTLS: cfg.peerTLSEnabled(),
		CAFile:    cfg.PeerTrustedCAFile,
		CertFile:  cfg.PeerCertFile,
		KeyFile:   cfg.PeerKeyFile,
	}
	if err := nhc.Validate(); err != nil {
		return nil, fmt.Errorf("raft config: %w", err)
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	s.nh = nh

	initial := map[uint64]dragonboat.Target{}
	for _, m := range members {
		initial[m.NodeID] = m.PeerAddr
	}
	// A member that joins a running cluster (member add) starts every
	// shard as a non-voting learner (Dragonboat's observer) with no
	// initial members: it learns the membership and the state from the
	// leader's snapshot and log. It restarts as a learner until it has
	// seen itself a voter in every shard (membership.go, voterMark).
	learner := cfg.joining() && !hasVoterMark(cfg.DataDir)
	s.leaders = make([]leaderInfo, cfg.Shards)
	s.readGates = make([]readGate, cfg.Shards)
	for i := range s.readGates {
		shard := uint32(i)
		s.readGates[i].round = func() error { return s.readIndexRound(shard) }
		s.readGates[i].goRound = s.rounds.Go
	}
	s.startedLearner = make([]atomic.Bool, cfg.Shards)
	for i := 0; i < cfg.Shards; i++ {
		s.shards = append(s.shards, store.Shard(uint32(i)))
	}
	for i := 0; i < cfg.Shards; i++ {
		shard := uint32(i)
		if err := s.startShard(shard, initial, learner); err != nil {
			return nil, err
		}
		s.session = append(s.session, nh.GetNoOPSession(clusterID(shard)))
		s.renewers = append(s.renewers, &renewer{s: s, shard: shard, reqs: make(chan *renewReq, 1024)})
	}
	for _, r := range s.renewers {
		s.goBackground(r.run)
	}
	s.goBackground(s.runLessor)
	s.goBackground(s.runClusterIdentity)
	s.goBackground(s.runQuota)
	if restored != nil && !restored.Compacted {
		s.goBackground(s.runRestoredCompaction(restored))
	}
	s.goBackground(s.runMembershipWatch)
	if cfg.AutoCompactionRetention > 0 {
		s.goBackground(s.runCompactor)
	}
	ok = true
	return s, nil
}

// raftConfig is the Raft configuration of the member's replica of shard.
func (s *Core) raftConfig(shard uint32, learner bool) config.Config {
	return config.Config{
		NodeID:             s.self.NodeID,
		ClusterID:          clusterID(shard),
		CheckQuorum:        true,
		ElectionRTT:        s.cfg.ElectionRTT,
		HeartbeatRTT:       2,
		SnapshotEntries:    s.cfg.SnapshotEntries,
		CompactionOverhead: s.cfg.SnapshotEntries / 2,
		IsObserver:         learner,
	}
}

// startShard starts the member's replica of shard on the NodeHost: with
// the initial members on a member's first start in a new cluster, as a
// joining learner on its first start in an existing one, from its own
// log on a restart.
func (s *Core) startShard(shard uint32, initial map[uint64]dragonboat.Target, learner bool) error {
	rc := s.raftConfig(shard, learner)
	if err := rc.Validate(); err != nil {
		return fmt.Errorf("shard %d raft config: %w", shard, err)
	}
	join := initial
	joining := false
	switch {
	case s.nh.HasNodeInfo(rc.ClusterID, rc.NodeID):
		join = map[uint64]dragonboat.Target{} // restart: membership is in the log
	case s.cfg.joining():
		join, joining = map[uint64]dragonboat.Target{}, true
	}
	create := func(uint64, uint64) sm.IOnDiskStateMachine {
		return &diskSM{
			shard: s.shards[shard],
			publish: func(evs []wire.Event) {
				if shard == wire.AuthShard && touchesAuth(evs) {
					s.auth.invalidate()
				}
				s.hub.publish(shard, evs)
			},
			leases: func(ch []statemachine.LeaseChange) { s.lessor.applied(shard, ch) },
			reload: func(infos []statemachine.LeaseInfo) { s.lessor.reset(shard, infos) },
			restored: func() {
				s.restores.Add(1)
				if shard == wire.AuthShard {
					s.auth.invalidate()
				}
				s.log.Info("shard restored from a snapshot", "shard", shard, "applied-index", s.shards[shard].AppliedIndex())
				s.hub.restored(shard)
			},
		}
	}
	if err := s.nh.StartOnDiskCluster(join, joining, create, rc); err != nil {
		if errors.Is(err, dragonboat.ErrNodeRemoved) {
			return fmt.Errorf("start shard %d: %w: this member was removed from the cluster (coord member remove); start it again only with a new data directory after `coord member add`", shard, err)
		}
		return fmt.Errorf("start shard %d: %w", shard, err)
	}
	s.startedLearner[shard].Store(learner)
	return nil
}

// Name is the member's name.
func (s *Core) Name() string { return s.cfg.Name }

// Shards is the number of shards of the cluster.
func (s *Core) Shards() int { return len(s.shards) }

// Stopping reports whether the member has begun to stop.
func (s *Core) Stopping() bool { return s.stopping.Load() }

// LeaderUpdated implements Dragonboat's IRaftEventListener. It runs on
// Dragonboat's event goroutine and only stores the report.
func (s *Core) LeaderUpdated(info raftio.LeaderInfo) {
	shard := info.ClusterID - 1
	if shard < uint64(len(s.leaders)) {
		i := info
		prev := s.leaders[shard].v.Swap(&i)
		s.lessor.setLeader(uint32(shard), info.LeaderID == s.self.NodeID)
		if prev == nil || prev.LeaderID != info.LeaderID {
			s.log.Info("shard leader changed", "shard", shard, "leader", s.nodeName(info.LeaderID), "term", info.Term)
		}
	}
}

// leader returns the member name leading shard ("" if unknown) and the term.
func (s *Core) leader(shard uint32) (string, uint64) {
	li := s.leaders[shard].v.Load()
	if li == nil {
		return "", 0
	}
	if li.LeaderID == 0 {
		return "", li.Term
	}
	return s.nodeName(li.LeaderID), li.Term
}

// nodeName is the name of the member of Raft node ID id: from the member
// registry, or the initial cluster; "" if unknown.
func (s *Core) nodeName(id uint64) string {
	if id == 0 {
		return ""
	}
	for _, r := range s.shards[memberShard].Members() {
		if r.NodeID == id {
			return r.Name
		}
	}
	return s.names[id]
}

// Ready reports whether every shard has a known leader and the member
// knows its cluster's identity.
func (s *Core) Ready() bool {
	if s.stopping.Load() || s.removed.Load() || s.ClusterID() == 0 {
		return false
	}
	for i := range s.shards {
		_, ok, err := s.nh.GetLeaderID(clusterID(uint32(i)))
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// WaitReady blocks until every shard has a leader and a linearizable read
// succeeds on each, and the member registry holds the member's record
// (members.go), or ctx ends.
func (s *Core) WaitReady(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if s.Ready() {
			all := true
			for i := range s.shards {
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				_, err := s.nh.SyncRead(rctx, clusterID(uint32(i)), &wire.RangeRequest{Key: []byte{0}, CountOnly: true})
				cancel()
				if err != nil {
					all = false
					break
				}
			}
			if all && s.published() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("member %s not ready: %w", s.cfg.Name, ctx.Err())
		case <-t.C:
		}
	}
}

// goBackground runs f until beginStop closes stopc; close waits for it.
func (s *Core) goBackground(f func(stop <-chan struct{})) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f(s.stopc)
	}()
}

// beginStop makes the member refuse new calls and ends its waits and
// streams (they answer that the member is stopping) and its background
// goroutines; the doors then drain their calls, and close closes the
// rest.
func (s *Core) beginStop() {
	s.stopping.Store(true)
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
}

// close stops the core: its background goroutines, the Raft node and the
// store. The doors are stopped before.
func (s *Core) close() error {
	s.beginStop()
	s.bgWG.Wait()
	s.rounds.Close()
	if s.nh != nil {
		s.nh.Stop()
		s.nh = nil
	}
	var err error
	if s.store != nil {
		err = s.store.Close()
		s.store = nil
	}
	return err
}

// smConfig is the state machine configuration of a member.
func smConfig(cfg Config) statemachine.Config {
	c := statemachine.DefaultConfig()
	c.LatestCacheKeys = cfg.KeyCache
	if cfg.DedupRetention > 0 {
		c.DedupRetention = cfg.DedupRetention
	}
	c.MaxBatchBytes = cfg.StoreBatchBytes
	return c
}
