package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalClusterConfig configures a LocalCluster: N members in this process
// on loopback, as `coord dev`, the bench and the tests run them.
type LocalClusterConfig struct {
	// Members is the number of members (default 3), named n1, n2, ….
	Members int
	// Shards is the number of shards (0: DefaultShards).
	Shards int
	// Dir holds member NAME's data in Dir/NAME. "" makes a temporary
	// directory that Close removes; a given Dir is kept.
	Dir string
	// BasePort, when positive, puts member i (from 0) on fixed ports: clients
	// on BasePort+10*i, Raft on the next port, HTTP on the one after (as
	// `coord dev`). 0 picks free loopback ports for clients and Raft and
	// lets the kernel choose the HTTP port; StartLocalCluster then starts
	// again on fresh ports if another process took one meanwhile.
	BasePort int
	// EtcdPorts gives member i an etcd door (Config.ListenEtcd) on
	// loopback port EtcdPorts[i], or on a port the kernel picks where it
	// is 0; members past its end, and every member when it is nil, have
	// none (a test cluster's members would otherwise all want 2379).
	EtcdPorts []int
	// Logger receives every member's logs, each with a "member" attribute
	// (nil: discarded).
	Logger *slog.Logger
	// Configure, when set, changes each member's configuration after the
	// fields above are applied (cfg.Name tells which member it is). The
	// initial cluster is built afterwards from the members' names and
	// ListenPeer, unless Configure sets InitialCluster itself.
	Configure func(cfg *Config)
	// ReadyTimeout bounds StartLocalCluster's wait until every shard has a
	// leader (default 60 s).
	ReadyTimeout time.Duration
	// StopTimeout bounds each member's Stop in Stop, Restart and Close
	// (default 15 s): calls still in flight are then cut off.
	StopTimeout time.Duration
}

// Defaults of LocalClusterConfig.
const (
	DefaultLocalMembers      = 3
	DefaultLocalReadyTimeout = 60 * time.Second
	DefaultLocalStopTimeout  = 15 * time.Second
)

// localStartAttempts bounds StartLocalCluster's attempts on fresh ports.
const localStartAttempts = 5

// LocalCluster is a Coord cluster whose members run inside this process
// (on loopback): the one fixture behind `coord dev`, the bench's local
// cluster and the tests' clusters. Build it with StartLocalCluster, or
// NewLocalCluster then Start and WaitReady to act in between. Member i is
// numbered from 0 and named n(i+1). A LocalCluster is not safe for
// concurrent use; the members themselves are.
type LocalCluster struct {
	cc      LocalClusterConfig
	dir     string
	ownDir  bool
	fresh   []bool // member i's data dir did not exist when the cluster was made
	cfgs    []Config
	servers []*Server // nil while stopped
}

// NewLocalCluster makes the members' configurations (picking free ports
// unless BasePort is set) and the temporary data directory if Dir is "",
// and starts nothing. It does not validate the configurations: Start does
// (server.Start), or the caller first with Config.Validate.
func NewLocalCluster(cc LocalClusterConfig) (*LocalCluster, error) {
	if cc.Members <= 0 {
		cc.Members = DefaultLocalMembers
	}
	if cc.ReadyTimeout <= 0 {
		cc.ReadyTimeout = DefaultLocalReadyTimeout
	}
	if cc.StopTimeout <= 0 {
		cc.StopTimeout = DefaultLocalStopTimeout
	}
	n := cc.Members
	lc := &LocalCluster{cc: cc, dir: cc.Dir, fresh: make([]bool, n), servers: make([]*Server, n)}
	var addrs []string
	if cc.BasePort <= 0 {
		var err error
		if addrs, err = freeAddrs(2 * n); err != nil {
			return nil, fmt.Errorf("local cluster: picking free ports: %w", err)
		}
	}
	if lc.dir == "" {
		d, err := os.MkdirTemp("", "coord-cluster-")
		if err != nil {
			return nil, fmt.Errorf("local cluster: %w", err)
		}
		lc.dir, lc.ownDir = d, true
	}
	log := cc.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lc.cfgs = make([]Config, n)
	for i := range lc.cfgs {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(lc.dir, cfg.Name)
		if cc.BasePort > 0 {
			p := cc.BasePort + 10*i
			cfg.ListenClient, cfg.ListenPeer, cfg.ListenHTTP = loopback(p), loopback(p+1), loopback(p+2)
		} else {
			cfg.ListenClient, cfg.ListenPeer, cfg.ListenHTTP = addrs[2*i], addrs[2*i+1], "127.0.0.1:0"
		}
		if cc.Shards > 0 {
			cfg.Shards = cc.Shards
		}
		cfg.ListenEtcd = ""
		if i < len(cc.EtcdPorts) {
			cfg.ListenEtcd = loopback(cc.EtcdPorts[i])
		}
		cfg.InitialCluster = ""
		cfg.Logger = log.With("member", cfg.Name)
		if cc.Configure != nil {
			cc.Configure(&cfg)
		}
		if _, err := os.Stat(cfg.DataDir); errors.Is(err, os.ErrNotExist) {
			lc.fresh[i] = true
		}
		lc.cfgs[i] = cfg
	}
	initial := make([]string, n)
	for i, cfg := range lc.cfgs {
		initial[i] = cfg.Name + "=" + cfg.ListenPeer
	}
	for i := range lc.cfgs {
		if lc.cfgs[i].InitialCluster == "" {
			lc.cfgs[i].InitialCluster = strings.Join(initial, ",")
		}
	}
	return lc, nil
}

// StartLocalCluster makes the cluster, starts every member and waits (at
// most ReadyTimeout, or until ctx ends) until every shard has a leader.
// On failure it stops what it started and removes what it made.
func StartLocalCluster(ctx context.Context, cc LocalClusterConfig) (*LocalCluster, error) {
	for attempt := 1; ; attempt++ {
		lc, err := NewLocalCluster(cc)
		if err != nil {
			return nil, err
		}
		if err = lc.Start(); err == nil {
			rctx, cancel := context.WithTimeout(ctx, lc.cc.ReadyTimeout)
			err = lc.WaitReady(rctx)
			cancel()
			if err == nil {
				return lc, nil
			}
			_ = lc.Close()
			return nil, err
		}
		// A free port may be taken by another process before its member
		// binds it: start again on fresh ports then.
		retry := cc.BasePort <= 0 && attempt < localStartAttempts && addrInUse(err) && lc.allFresh()
		_ = lc.Close()
		if !retry {
			return nil, err
		}
		lc.removeFresh()
	}
}

// Start starts every member that is not running, in order. A member that
// fails to start leaves the ones started before it running (Close stops
// them).
func (lc *LocalCluster) Start() error {
	for i := range lc.cfgs {
		if lc.servers[i] != nil {
			continue
		}
		if err := lc.start(i); err != nil {
			return err
		}
	}
	return nil
}

func (lc *LocalCluster) start(i int) error {
	s, err := Start(lc.cfgs[i])
	if err != nil {
		return fmt.Errorf("starting member %s: %w", lc.cfgs[i].Name, err)
	}
	lc.servers[i] = s
	return nil
}

// WaitReady waits until every shard has a leader that answers, as each
// running member sees it, or ctx ends.
func (lc *LocalCluster) WaitReady(ctx context.Context) error {
	for _, s := range lc.servers {
		if s == nil {
			continue
		}
		if err := s.WaitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Len is the number of members, running or not.
func (lc *LocalCluster) Len() int { return len(lc.cfgs) }

// Dir is the directory holding the members' data directories.
func (lc *LocalCluster) Dir() string { return lc.dir }

// Config returns member i's configuration (as it starts next).
func (lc *LocalCluster) Config(i int) Config { return lc.cfgs[i] }

// Configs returns every member's configuration.
func (lc *LocalCluster) Configs() []Config { return append([]Config(nil), lc.cfgs...) }

// Member returns member i, nil while it is stopped.
func (lc *LocalCluster) Member(i int) *Server { return lc.servers[i] }

// Members returns every member, nil for a stopped one.
func (lc *LocalCluster) Members() []*Server { return append([]*Server(nil), lc.servers...) }

// Endpoints lists every member's client address, stopped ones included
// (their configured address).
func (lc *LocalCluster) Endpoints() []string {
	eps := make([]string, len(lc.cfgs))
	for i, cfg := range lc.cfgs {
		eps[i] = cfg.ListenClient
		if s := lc.servers[i]; s != nil {
			eps[i] = s.ClientAddr()
		}
	}
	return eps
}

// EtcdEndpoints lists the running members' etcd door addresses ("" where
// disabled).
func (lc *LocalCluster) EtcdEndpoints() []string {
	var addrs []string
	for _, s := range lc.servers {
		if s != nil {
			addrs = append(addrs, s.EtcdAddr())
		}
	}
	return addrs
}

// HTTPAddrs lists the running members' HTTP addresses ("" where disabled).
func (lc *LocalCluster) HTTPAddrs() []string {
	var addrs []string
	for _, s := range lc.servers {
		if s != nil {
			addrs = append(addrs, s.HTTPAddr())
		}
	}
	return addrs
}

// Stop stops member i (waiting at most StopTimeout for calls in flight);
// its data stays. Stopping a stopped member does nothing.
func (lc *LocalCluster) Stop(i int) error {
	s := lc.servers[i]
	if s == nil {
		return nil
	}
	lc.servers[i] = nil
	ctx, cancel := context.WithTimeout(context.Background(), lc.cc.StopTimeout)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		return fmt.Errorf("stopping %s: %w", lc.cfgs[i].Name, err)
	}
	return nil
}

// Restart starts member i again on its data and addresses, stopping it
// first if it runs. Each change alters its configuration first, for this
// start and later ones. It does not wait for the member to be ready.
func (lc *LocalCluster) Restart(i int, change ...func(*Config)) error {
	if err := lc.Stop(i); err != nil {
		return err
	}
	for _, c := range change {
		c(&lc.cfgs[i])
	}
	return lc.start(i)
}

// Close stops every running member (in parallel) and removes the data
// directory if NewLocalCluster made it. It may be called more than once.
func (lc *LocalCluster) Close() error {
	errs := make([]error, len(lc.servers))
	var wg sync.WaitGroup
	for i, s := range lc.servers {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = lc.Stop(i)
		}()
	}
	wg.Wait()
	if lc.ownDir {
		if err := os.RemoveAll(lc.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// allFresh reports whether every member's data directory is new, so that
// removing them loses nothing.
func (lc *LocalCluster) allFresh() bool {
	for _, f := range lc.fresh {
		if !f {
			return false
		}
	}
	return true
}

// removeFresh removes the member data directories this cluster created
// in a caller's Dir (Close removes its own temporary directory).
func (lc *LocalCluster) removeFresh() {
	if lc.ownDir {
		return
	}
	for i, cfg := range lc.cfgs {
		if lc.fresh[i] {
			_ = os.RemoveAll(cfg.DataDir)
		}
	}
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago (all held open together, so they differ).
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}
