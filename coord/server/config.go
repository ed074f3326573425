package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine"
)

// Config configures one member of a Coord cluster.
type Config struct {
	// Name identifies the member in the cluster; it must appear in
	// InitialCluster.
	Name string
	// DataDir holds the member's Raft log and state (created if missing).
	DataDir string
	// ListenClient is the address clients connect to.
	ListenClient string
	// ListenPeer is the address other members reach this member's Raft
	// transport at. It is remembered in DataDir and may not change later.
	ListenPeer string
	// BindPeer, when set, is the address the Raft transport listens on
	// while peers still dial ListenPeer (for a proxy in front of it).
	BindPeer string
	// ListenHTTP serves /metrics, /healthz, /readyz and /status; "" disables it.
	ListenHTTP string
	// EnablePprof adds Go's profiler under /debug/pprof/ on the HTTP port.
	EnablePprof bool
	// ListenEtcd serves etcd's v3 API (gRPC) and its JSON gateway on one
	// address (the etcd door, etcd.go); "" disables it. It speaks TLS
	// when the client port does, with the same settings.
	ListenEtcd string

	// TLSCertFile and TLSKeyFile, when set, make the client port speak TLS
	// (1.2 or later) with this certificate and key (PEM). The HTTP port
	// stays plain; the Raft transport has its own settings (PeerCertFile).
	TLSCertFile string
	TLSKeyFile  string
	// ClientCertAuth requires every client to present a certificate signed
	// by TrustedCAFile (mutual TLS).
	ClientCertAuth bool
	// TrustedCAFile is the CA bundle (PEM) client certificates are
	// verified against. Without ClientCertAuth a client certificate is
	// optional, but one that is presented must verify.
	TrustedCAFile string
	// PeerCertFile, PeerKeyFile and PeerTrustedCAFile, all three or none,
	// make the Raft transport speak mutual TLS (Dragonboat's MutualTLS):
	// the member presents this certificate (PEM, usable for both server
	// and client authentication, naming the host of every member's peer
	// address) and accepts and dials only members whose certificate
	// PeerTrustedCAFile signed. Members of one cluster all use it or none.
	PeerCertFile      string
	PeerKeyFile       string
	PeerTrustedCAFile string
	// InitialCluster lists every member as "name=peer-address,..." in the
	// same order on every member. Empty means a one-member cluster of
	// Name at ListenPeer.
	InitialCluster string
	// InitialClusterState is "new" (or ""): the member is one of
	// InitialCluster, which creates the cluster; or "existing": the
	// member joins a running cluster that `coord member add` told about
	// it, with NodeID the node ID the add assigned. It then starts as a
	// non-voting learner and catches up by snapshot and log. Once the
	// data directory exists, the state recorded in it counts.
	InitialClusterState string
	// NodeID is the member's Raft node ID with InitialClusterState
	// "existing" (from `coord member add`); 0 with "new", where members
	// are numbered by their position in InitialCluster.
	NodeID uint64
	// Shards is the number of Raft groups the keyspace is spread over. It
	// is fixed when the cluster is created.
	Shards int

	// Limits enforced on requests before they are proposed.
	MaxKeySize     int
	MaxValueSize   int
	MaxRequestSize int
	MaxTxnOps      int

	// Limits on what one client connection may hold (see README, "Limits").
	// MaxConnections bounds the client connections of the member: one
	// more is refused in the handshake (CodeUnavailable) and closed.
	MaxConnections int
	// IdleTimeout closes a connection that had no call in flight (no
	// waiting call, no stream) for that long; 0 keeps idle connections
	// open. The Go client redials on its next call.
	IdleTimeout time.Duration
	// RequestReadTimeout is the time a client has to send the rest of a
	// frame once its first byte arrived; a connection that stalls in the
	// middle of a frame is closed.
	RequestReadTimeout time.Duration
	// MaxWatchesPerConn bounds the watches and election observations
	// one connection may have open at once.
	MaxWatchesPerConn int
	// MaxInflightBytesPerConn bounds the bytes of the requests one
	// connection has in flight (calls started and not yet answered).
	MaxInflightBytesPerConn int
	// MaxLeaseTTL is the longest lease TTL granted; a longer one is
	// refused (CodeInvalid). Whole seconds, at most statemachine.MaxLeaseTTL.
	MaxLeaseTTL time.Duration
	// MaxKeepAliveLeases bounds the lease IDs of one keep-alive request.
	MaxKeepAliveLeases int
	// Limits on what one response carries (README, "Limits"). Every frame
	// a member sends fits what clients read (wire.MaxResponseFrameSize).
	// MaxResponseBytes is the page size of a range and of a watch message:
	// a Get over more is answered in pages the client follows, a watch
	// sends its events in several messages; one key-value (or event) over
	// it still goes alone. It also bounds the bytes a transaction's range
	// ops return together, and MaxTxnRangeKeys their keys (a txn over
	// either fails with CodeTooLarge: its reads are answered in one
	// message and stored for exactly-once, so they cannot be paged).
	MaxResponseBytes int
	MaxTxnRangeKeys  int

	// RTTMillisecond is the Raft tick (Dragonboat's RTTMillisecond).
	// Elections time out after ElectionRTT ticks.
	RTTMillisecond uint64
	ElectionRTT    uint64
	// SnapshotEntries is how many applied entries trigger a Raft snapshot
	// (for an on-disk state machine only metadata), after which the log is
	// compacted; members that fall further behind catch up by snapshot.
	SnapshotEntries uint64

	// KeyCache bounds, per shard, the in-memory index of keys' latest
	// versions that spares each write a Pebble lookup of the key's
	// previous version (statemachine.Config.LatestCacheKeys). 0 disables
	// it; it changes no result, so members may differ.
	KeyCache int
	// StoreBatchBytes bounds the Pebble batches in which a snapshot is
	// restored and history is compacted (statemachine.Config.MaxBatchBytes;
	// 0: its default, 8 MiB). It changes no result, so members may differ.
	StoreBatchBytes int
	// LogDBShards and ExecShards are Dragonboat's Expert.LogDB.Shards and
	// Expert.Engine.ExecShards: fixed when the data directory is created,
	// and ExecShards must divide LogDBShards evenly or the reverse.
	LogDBShards uint64
	ExecShards  uint64

	// DedupRetention is how long the state machine remembers an idle
	// client's exactly-once record (statemachine.Config.DedupRetention;
	// 0: the default, 10 minutes). A write first sent more than half of it
	// before its client's record began is answered "outcome unknown", not
	// applied; clients must stop retrying well within that (the Go client
	// stops after 1 minute). It must be the same on every member (the
	// members would otherwise diverge), and it assumes member clocks
	// within a few minutes of each other (see the README, "Exactly-once").
	DedupRetention time.Duration

	// AutoCompactionRetention, when positive, makes the leader of each
	// shard compact its history periodically, keeping at least this much
	// time of it (as etcd's periodic auto-compaction).
	AutoCompactionRetention time.Duration

	// BcryptCost is the bcrypt cost the member hashes new passwords with
	// (user add, user passwd): 0 is DefaultBcryptCost, at least
	// bcrypt.MinCost (4). Each step doubles the time of every password
	// check.
	BcryptCost int
	// AuthTokenTTL is how long a token from auth.authenticate is valid
	// (0: DefaultAuthTokenTTL). A token is valid only on the member that
	// issued it.
	AuthTokenTTL time.Duration

	// QuotaBackendBytes is the space quota of the member's store (its
	// state, not its Raft log): when the store grows past it, the member
	// raises a NOSPACE alarm in every shard, and the cluster refuses
	// writes that grow the store until an operator disarms it (quota.go).
	// 0 is DefaultQuotaBackendBytes (etcd's 2 GiB); negative: no quota.
	QuotaBackendBytes int64
	// QuotaCheckInterval is how often the member compares its store's
	// size with QuotaBackendBytes (0: DefaultQuotaCheckInterval).
	QuotaCheckInterval time.Duration

	// Logger receives the member's logs, Dragonboat's included (nil: slog.Default()).
	Logger *slog.Logger
	// RaftLogLevel is the level Dragonboat's own loggers log at (default warn).
	RaftLogLevel slog.Level
}

// Default limits and settings.
const (
	DefaultMaxKeySize     = 4 << 10
	DefaultMaxValueSize   = 1 << 20
	DefaultMaxRequestSize = 3 << 19 // 1.5 MiB
	DefaultMaxTxnOps      = 128

	DefaultMaxConnections          = 10_000
	DefaultIdleTimeout             = 5 * time.Minute
	DefaultRequestReadTimeout      = 10 * time.Second
	DefaultMaxWatchesPerConn       = 1024
	DefaultMaxInflightBytesPerConn = 64 << 20
	// DefaultMaxLeaseTTL is a day, as Consul bounds its sessions: a lease
	// left by a client that died is gone within a day at the latest.
	DefaultMaxLeaseTTL        = 24 * time.Hour
	DefaultMaxKeepAliveLeases = 10_000
	// DefaultMaxResponseBytes is half of what a client reads in one frame.
	DefaultMaxResponseBytes = 4 << 20
	DefaultMaxTxnRangeKeys  = 10000
	// minResponseBytes is the smallest MaxResponseBytes; responseSlack is
	// room left in a frame for what a page carries besides its key-values.
	minResponseBytes = 4 << 10
	responseSlack    = 64 << 10
	// DefaultBcryptCost is bcrypt's own default cost; DefaultAuthTokenTTL
	// etcd's simple-token TTL.
	DefaultBcryptCost   = 10
	DefaultAuthTokenTTL = 5 * time.Minute
	// DefaultShards is the default number of shards. On the 2-core
	// machines this project is measured on, one Raft group batches best
	// (see README, "Choosing the shard count"); raise it on more cores.
	DefaultShards = 1
	// DefaultQuotaBackendBytes is etcd's default backend quota, 2 GiB;
	// DefaultQuotaCheckInterval how often a member measures its store.
	DefaultQuotaBackendBytes  = 2 << 30
	DefaultQuotaCheckInterval = time.Second
	// DefaultListenEtcd is etcd's own client address: a plain etcdctl
	// finds a no-flag member there.
	DefaultListenEtcd = "127.0.0.1:2379"
)

// DefaultConfig returns the configuration of `coord serve` with no flags:
// a one-member cluster on the loopback default ports.
func DefaultConfig() Config {
	return Config{
		Name:           "n1",
		DataDir:        "default.coord",
		ListenClient:   "127.0.0.1:7379",
		ListenPeer:     "127.0.0.1:7380",
		ListenHTTP:     "127.0.0.1:7381",
		ListenEtcd:     DefaultListenEtcd,
		Shards:         DefaultShards,
		MaxKeySize:     DefaultMaxKeySize,
		MaxValueSize:   DefaultMaxValueSize,
		MaxRequestSize: DefaultMaxRequestSize,
		MaxTxnOps:      DefaultMaxTxnOps,

		MaxConnections:          DefaultMaxConnections,
		IdleTimeout:             DefaultIdleTimeout,
		RequestReadTimeout:      DefaultRequestReadTimeout,
		MaxWatchesPerConn:       DefaultMaxWatchesPerConn,
		MaxInflightBytesPerConn: DefaultMaxInflightBytesPerConn,
		MaxLeaseTTL:             DefaultMaxLeaseTTL,
		MaxKeepAliveLeases:      DefaultMaxKeepAliveLeases,

		RTTMillisecond:  10,
		ElectionRTT:     20,
		SnapshotEntries: 10000,
		KeyCache:        statemachine.DefaultLatestCacheKeys,
		DedupRetention:  statemachine.DefaultDedupRetention,
		LogDBShards:     1,
		ExecShards:      1,
		RaftLogLevel:    slog.LevelWarn,

		MaxResponseBytes: DefaultMaxResponseBytes,
		MaxTxnRangeKeys:  DefaultMaxTxnRangeKeys,

		BcryptCost:   DefaultBcryptCost,
		AuthTokenTTL: DefaultAuthTokenTTL,
	}
}

// bcryptCost is BcryptCost with 0 as the default.
func (c Config) bcryptCost() int {
	if c.BcryptCost == 0 {
		return DefaultBcryptCost
	}
	return c.BcryptCost
}

// authTokenTTL is AuthTokenTTL with 0 as the default.
func (c Config) authTokenTTL() time.Duration {
	if c.AuthTokenTTL <= 0 {
		return DefaultAuthTokenTTL
	}
	return c.AuthTokenTTL
}

// Member is one entry of the initial cluster.
type Member struct {
	Name     string
	PeerAddr string
	NodeID   uint64 // Raft node ID: 1-based position in InitialCluster
}

// ParseInitialCluster parses "n1=host:port,n2=host:port".
func ParseInitialCluster(s string) ([]Member, error) {
	var ms []Member
	seenName := map[string]bool{}
	seenAddr := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("initial cluster: %q is not NAME=HOST:PORT", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("initial cluster: member %s: bad address %q: %v", name, addr, err)
		}
		if seenName[name] {
			return nil, fmt.Errorf("initial cluster: member name %q appears twice", name)
		}
		if seenAddr[addr] {
			return nil, fmt.Errorf("initial cluster: address %q appears twice", addr)
		}
		seenName[name], seenAddr[addr] = true, true
		ms = append(ms, Member{Name: name, PeerAddr: addr, NodeID: uint64(i + 1)})
	}
	if len(ms) == 0 {
		return nil, errors.New("initial cluster: no members")
	}
	return ms, nil
}

// Initial cluster states.
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// joining reports whether the member joins an existing cluster.
func (c Config) joining() bool { return c.InitialClusterState == ClusterStateExisting }

// members returns the parsed initial cluster (or the one-member default).
// A joining member's own entry has the node ID it was given; the node IDs
// of the others are meaningless then (positions in a list that need not
// be the one the cluster was created with).
func (c Config) members() ([]Member, error) {
	if strings.TrimSpace(c.InitialCluster) == "" {
		id := uint64(1)
		if c.joining() {
			id = c.NodeID
		}
		return []Member{{Name: c.Name, PeerAddr: c.ListenPeer, NodeID: id}}, nil
	}
	ms, err := ParseInitialCluster(c.InitialCluster)
	if err != nil || !c.joining() {
		return ms, err
	}
	for i := range ms {
		if ms[i].Name == c.Name {
			ms[i].NodeID = c.NodeID
		} else {
			ms[i].NodeID = 0
		}
	}
	return ms, nil
}

// Validate checks the configuration and explains what is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir must not be empty"))
	}
	for flag, addr := range map[string]string{"listen-client": c.ListenClient, "listen-peer": c.ListenPeer} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: bad address %q (want HOST:PORT)", flag, addr))
		}
	}
	if c.ListenHTTP != "" {
		if _, _, err := net.SplitHostPort(c.ListenHTTP); err != nil {
			errs = append(errs, fmt.Errorf("listen-http: bad address %q (want HOST:PORT)", c.ListenHTTP))
		}
	}
	if c.ListenEtcd != "" {
		if _, _, err := net.SplitHostPort(c.ListenEtcd); err != nil {
			errs = append(errs, fmt.Errorf("listen-etcd: bad address %q (want HOST:PORT, or \"\" to turn the etcd door off)", c.ListenEtcd))
		}
	}
	if c.Shards < 1 || c.Shards > 1024 {
		errs = append(errs, fmt.Errorf("shards must be between 1 and 1024, got %d", c.Shards))
	}
	if c.MaxKeySize < 1 || c.MaxValueSize < 1 || c.MaxTxnOps < 1 {
		errs = append(errs, errors.New("max key size, max value size and max txn ops must be positive"))
	}
	if c.MaxTxnOps > wire.MaxRequestItems {
		errs = append(errs, fmt.Errorf("max txn ops must be at most %d (the most elements of a request's array), got %d", wire.MaxRequestItems, c.MaxTxnOps))
	}
	if c.MaxRequestSize < c.MaxKeySize+c.MaxValueSize {
		errs = append(errs, fmt.Errorf("max request size (%d) must be at least max key size + max value size (%d)", c.MaxRequestSize, c.MaxKeySize+c.MaxValueSize))
	}
	if c.QuotaCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("quota check interval must not be negative (0: the default, %s), got %s", DefaultQuotaCheckInterval, c.QuotaCheckInterval))
	}
	errs = append(errs, c.validateConnLimits()...)
	errs = append(errs, c.validateResponseLimits()...)
	if c.RTTMillisecond < 1 || c.RTTMillisecond > 1000 {
		errs = append(errs, fmt.Errorf("rtt must be between 1 and 1000 ms, got %d", c.RTTMillisecond))
	}
	if c.SnapshotEntries < 10 {
		errs = append(errs, fmt.Errorf("snapshot entries must be at least 10, got %d", c.SnapshotEntries))
	}
	if c.DedupRetention != 0 && c.DedupRetention < time.Second {
		errs = append(errs, fmt.Errorf("dedup retention must be at least 1s (0: the default, %v), got %v", statemachine.DefaultDedupRetention, c.DedupRetention))
	}
	if c.StoreBatchBytes < 0 {
		errs = append(errs, fmt.Errorf("store batch bytes must not be negative (0 means the default), got %d", c.StoreBatchBytes))
	}
	if c.KeyCache < 0 {
		errs = append(errs, fmt.Errorf("key cache must not be negative (0 disables it), got %d", c.KeyCache))
	}
	if c.LogDBShards < 1 || c.ExecShards < 1 || c.LogDBShards > 64 || c.ExecShards > 64 ||
		(c.LogDBShards%c.ExecShards != 0 && c.ExecShards%c.LogDBShards != 0) {
		errs = append(errs, fmt.Errorf("logdb shards (%d) and exec shards (%d) must be 1-64 and one must divide the other", c.LogDBShards, c.ExecShards))
	}
	if c.ElectionRTT < 5 {
		errs = append(errs, fmt.Errorf("election rtt must be at least 5 ticks, got %d", c.ElectionRTT))
	}
	if c.BcryptCost != 0 && (c.BcryptCost < 4 || c.BcryptCost > 31) {
		errs = append(errs, fmt.Errorf("bcrypt cost must be between 4 and 31 (0: the default, %d), got %d", DefaultBcryptCost, c.BcryptCost))
	}
	if c.AuthTokenTTL < 0 {
		errs = append(errs, fmt.Errorf("auth token ttl must not be negative (0: the default, %v), got %v", DefaultAuthTokenTTL, c.AuthTokenTTL))
	}
	switch c.InitialClusterState {
	case "", ClusterStateNew:
		if c.NodeID != 0 {
			errs = append(errs, fmt.Errorf("node id %d is only for --initial-cluster-state existing (a new cluster numbers its members by their place in --initial-cluster)", c.NodeID))
		}
	case ClusterStateExisting:
		if c.NodeID == 0 {
			errs = append(errs, errors.New("initial cluster state existing needs the node id that `coord member add` printed (--node-id)"))
		}
	default:
		errs = append(errs, fmt.Errorf("initial cluster state must be new or existing, got %q", c.InitialClusterState))
	}
	errs = append(errs, c.validateTLS()...)
	errs = append(errs, c.validatePeerTLS()...)
	ms, err := c.members()
	if err != nil {
		errs = append(errs, err)
	} else {
		found := false
		for _, m := range ms {
			if m.Name == c.Name {
				found = true
				if m.PeerAddr != c.ListenPeer {
					errs = append(errs, fmt.Errorf("member %s is at %s in the initial cluster but listen-peer is %s", c.Name, m.PeerAddr, c.ListenPeer))
				}
			}
		}
		if !found {
			names := make([]string, 0, len(ms))
			for _, m := range ms {
				names = append(names, m.Name)
			}
			sort.Strings(names)
			errs = append(errs, fmt.Errorf("name %q is not in the initial cluster (%s)", c.Name, strings.Join(names, ", ")))
		}
	}
	return errors.Join(errs...)
}

// validateConnLimits checks the per-connection and lease limits.
func (c Config) validateConnLimits() []error {
	var errs []error
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("max connections must be at least 1, got %d", c.MaxConnections))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("idle timeout must not be negative (0 disables it), got %s", c.IdleTimeout))
	}
	if c.RequestReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("request read timeout must be positive, got %s", c.RequestReadTimeout))
	}
	if c.MaxWatchesPerConn < 1 {
		errs = append(errs, fmt.Errorf("max watches per connection must be at least 1, got %d", c.MaxWatchesPerConn))
	}
	if c.MaxInflightBytesPerConn < c.MaxRequestSize {
		errs = append(errs, fmt.Errorf("max in-flight bytes per connection (%d) must be at least max request size (%d)", c.MaxInflightBytesPerConn, c.MaxRequestSize))
	}
	if c.MaxLeaseTTL < time.Second || c.MaxLeaseTTL > statemachine.MaxLeaseTTL*time.Second || c.MaxLeaseTTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("max lease TTL must be whole seconds between 1s and %ds, got %s", int64(statemachine.MaxLeaseTTL), c.MaxLeaseTTL))
	}
	if c.MaxKeepAliveLeases < 1 {
		errs = append(errs, fmt.Errorf("max keep-alive leases must be at least 1, got %d", c.MaxKeepAliveLeases))
	}
	if c.MaxKeepAliveLeases > wire.MaxRequestItems {
		errs = append(errs, fmt.Errorf("max keep-alive leases must be at most %d (the most elements of a request's array), got %d", wire.MaxRequestItems, c.MaxKeepAliveLeases))
	}
	return errs
}

// validateResponseLimits checks that every response fits the frame clients
// read: a page of MaxResponseBytes, and a watch event that carries the
// largest key and value twice (with its previous version).
func (c Config) validateResponseLimits() []error {
	var errs []error
	frame := wire.MaxResponseFrameSize - responseSlack
	if c.MaxResponseBytes < minResponseBytes || c.MaxResponseBytes > frame {
		errs = append(errs, fmt.Errorf("max response bytes must be between %d and %d (clients read frames of up to %d bytes), got %d",
			minResponseBytes, frame, wire.MaxResponseFrameSize, c.MaxResponseBytes))
	}
	if c.MaxTxnRangeKeys < 1 {
		errs = append(errs, fmt.Errorf("max txn range keys must be positive, got %d", c.MaxTxnRangeKeys))
	}
	if event := 2 * (c.MaxKeySize + c.MaxValueSize); event > frame {
		errs = append(errs, fmt.Errorf("max key size + max value size (%d) must be at most %d: a watch event carries a key and value twice (with its previous version) and clients read frames of up to %d bytes",
			c.MaxKeySize+c.MaxValueSize, frame/2, wire.MaxResponseFrameSize))
	}
	return errs
}
