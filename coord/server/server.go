package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// Version is the server's version, reported by status.
var Version = "0.1.0-dev"

// Server is one running member: a Dragonboat NodeHost hosting every shard,
// the client RPC listener and the HTTP listener.
//
// Goroutines: one accept loop for clients; per client connection a reader
// (which owns the connection's call table) and a writer (which owns the
// socket's write side), plus one goroutine per call in flight; the HTTP
// server's own; Dragonboat's. Leader information arrives on Dragonboat's
// event goroutine and is stored atomically per shard.
type Server struct {
	cfg     Config
	log     *slog.Logger
	self    Member
	names   map[uint64]string // Raft node ID → member name
	store   *statemachine.Store
	shards  []*statemachine.Shard
	leaders []leaderInfo
	nh      *dragonboat.NodeHost
	session []*client.Session // one NoOP session per shard

	hub       *hub
	dequeuers *dequeuers
	lessor    *lessor
	renewers  []*renewer
	stopc     chan struct{} // closed when Stop begins
	bgWG      sync.WaitGroup

	ln       net.Listener
	httpLn   net.Listener
	httpSrv  *http.Server
	metrics  *metrics
	stopping atomic.Bool
	restores atomic.Int64 // shard states replaced by a snapshot since start
	stopOnce sync.Once
	stopErr  error

	connMu sync.Mutex
	conns  map[*serverConn]struct{}
	connWG sync.WaitGroup
}

// leaderInfo is the last leader and term Dragonboat reported for a shard.
type leaderInfo struct {
	v atomic.Pointer[raftio.LeaderInfo]
}

func clusterID(shard uint32) uint64 { return uint64(shard) + 1 }

// Start opens the member's data, joins its shards and starts serving. It
// returns once the listeners are open; WaitReady tells when every shard has
// a leader.
func Start(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	members, _ := cfg.members()
	s := &Server{cfg: cfg, log: log, names: map[uint64]string{}, conns: map[*serverConn]struct{}{},
		hub: newHub(cfg.Shards), lessor: newLessor(cfg.Shards, time.Now), stopc: make(chan struct{})}
	s.dequeuers = newDequeuers(s)
	for _, m := range members {
		s.names[m.NodeID] = m.Name
		if m.Name == cfg.Name {
			s.self = m
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
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
			s.closeAll()
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
	s.leaders = make([]leaderInfo, cfg.Shards)
	for i := 0; i < cfg.Shards; i++ {
		shard := uint32(i)
		s.shards = append(s.shards, store.Shard(shard))
		rc := config.Config{
			NodeID:             s.self.NodeID,
			ClusterID:          clusterID(shard),
			CheckQuorum:        true,
			ElectionRTT:        cfg.ElectionRTT,
			HeartbeatRTT:       2,
			SnapshotEntries:    cfg.SnapshotEntries,
			CompactionOverhead: cfg.SnapshotEntries / 2,
		}
		if err := rc.Validate(); err != nil {
			return nil, fmt.Errorf("shard %d raft config: %w", shard, err)
		}
		join := initial
		if nh.HasNodeInfo(rc.ClusterID, rc.NodeID) {
			join = map[uint64]dragonboat.Target{} // restart: membership is in the log
		}
		create := func(uint64, uint64) sm.IOnDiskStateMachine {
			return &diskSM{
				shard:   s.shards[shard],
				publish: func(evs []wire.Event) { s.hub.publish(shard, evs) },
				leases:  func(ch []statemachine.LeaseChange) { s.lessor.applied(shard, ch) },
				reload:  func(infos []statemachine.LeaseInfo) { s.lessor.reset(shard, infos) },
				restored: func() {
					s.restores.Add(1)
					s.log.Info("shard restored from a snapshot", "shard", shard, "applied-index", s.shards[shard].AppliedIndex())
					s.hub.restored(shard)
				},
			}
		}
		if err := nh.StartOnDiskCluster(join, false, create, rc); err != nil {
			return nil, fmt.Errorf("start shard %d: %w", shard, err)
		}
		s.session = append(s.session, nh.GetNoOPSession(rc.ClusterID))
		s.renewers = append(s.renewers, &renewer{s: s, shard: shard, reqs: make(chan *renewReq, 1024)})
	}
	for _, r := range s.renewers {
		s.goBackground(r.run)
	}
	s.goBackground(s.runLessor)
	s.goBackground(s.runClusterIdentity)
	if cfg.AutoCompactionRetention > 0 {
		s.goBackground(s.runCompactor)
	}

	tlsCfg, err := cfg.serverTLSConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.ListenClient)
	if err != nil {
		return nil, fmt.Errorf("listen-client: %w", err)
	}
	s.ln = ln
	if tlsCfg != nil {
		s.ln = &tlsListener{Listener: ln, cfg: tlsCfg, s: s}
	}
	if cfg.ListenHTTP != "" {
		hl, err := net.Listen("tcp", cfg.ListenHTTP)
		if err != nil {
			return nil, fmt.Errorf("listen-http: %w", err)
		}
		s.httpLn = hl
		s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = s.httpSrv.Serve(hl) }()
	}
	go s.acceptLoop()
	ok = true
	log.Info("coord member started", "name", cfg.Name, "client", s.ClientAddr(), "peer", cfg.ListenPeer,
		"http", s.HTTPAddr(), "shards", cfg.Shards, "members", len(members), "data-dir", cfg.DataDir,
		"client-tls", tlsCfg != nil, "client-cert-auth", cfg.ClientCertAuth)
	return s, nil
}

// ClientAddr is the address clients connect to.
func (s *Server) ClientAddr() string {
	if s.ln == nil {
		return s.cfg.ListenClient
	}
	return s.ln.Addr().String()
}

// HTTPAddr is the address of the HTTP endpoints, "" if disabled.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// Name is the member's name.
func (s *Server) Name() string { return s.cfg.Name }

// LeaderUpdated implements Dragonboat's IRaftEventListener. It runs on
// Dragonboat's event goroutine and only stores the report.
func (s *Server) LeaderUpdated(info raftio.LeaderInfo) {
	shard := info.ClusterID - 1
	if shard < uint64(len(s.leaders)) {
		i := info
		prev := s.leaders[shard].v.Swap(&i)
		s.lessor.setLeader(uint32(shard), info.LeaderID == s.self.NodeID)
		if prev == nil || prev.LeaderID != info.LeaderID {
			s.log.Info("shard leader changed", "shard", shard, "leader", s.names[info.LeaderID], "term", info.Term)
		}
	}
}

// leader returns the member name leading shard ("" if unknown) and the term.
func (s *Server) leader(shard uint32) (string, uint64) {
	li := s.leaders[shard].v.Load()
	if li == nil {
		return "", 0
	}
	if li.LeaderID == 0 {
		return "", li.Term
	}
	return s.names[li.LeaderID], li.Term
}

// Ready reports whether every shard has a known leader and the member
// knows its cluster's identity.
func (s *Server) Ready() bool {
	if s.stopping.Load() || s.ClusterID() == 0 {
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
// succeeds on each, or ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
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
			if all {
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

// Stop stops accepting connections, fails the calls still in flight once
// ctx ends, and closes the Raft node and the store. It is safe to call
// more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		close(s.stopc)
		if s.ln != nil {
			s.ln.Close()
		}
		if s.httpSrv != nil {
			_ = s.httpSrv.Shutdown(ctx)
		}
		// Let calls in flight finish until ctx ends, then cut them off.
		done := make(chan struct{})
		go func() {
			s.connMu.Lock()
			for c := range s.conns {
				c.drain()
			}
			s.connMu.Unlock()
			s.connWG.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			s.connMu.Lock()
			for c := range s.conns {
				c.close()
			}
			s.connMu.Unlock()
			<-done
		}
		s.stopErr = s.closeAll()
		s.log.Info("coord member stopped", "name", s.cfg.Name)
	})
	return s.stopErr
}

// goBackground runs f until Stop closes stopc; Stop waits for it.
func (s *Server) goBackground(f func(stop <-chan struct{})) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f(s.stopc)
	}()
}

func (s *Server) closeAll() error {
	select {
	case <-s.stopc:
	default:
		close(s.stopc)
	}
	s.bgWG.Wait()
	if s.nh != nil {
		s.nh.Stop()
		s.nh = nil
	}
	var err error
	if s.store != nil {
		err = s.store.Close()
		s.store = nil
	}
	if s.ln != nil {
		s.ln.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
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
