package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"time"

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

	// TLSCertFile and TLSKeyFile, when set, make the client port speak TLS
	// (1.2 or later) with this certificate and key (PEM). The HTTP port
	// and the Raft transport stay plain.
	TLSCertFile string
	TLSKeyFile  string
	// ClientCertAuth requires every client to present a certificate signed
	// by TrustedCAFile (mutual TLS).
	ClientCertAuth bool
	// TrustedCAFile is the CA bundle (PEM) client certificates are
	// verified against. Without ClientCertAuth a client certificate is
	// optional, but one that is presented must verify.
	TrustedCAFile string
	// InitialCluster lists every member as "name=peer-address,..." in the
	// same order on every member. Empty means a one-member cluster of
	// Name at ListenPeer.
	InitialCluster string
	// Shards is the number of Raft groups the keyspace is spread over. It
	// is fixed when the cluster is created.
	Shards int

	// Limits enforced on requests before they are proposed.
	MaxKeySize     int
	MaxValueSize   int
	MaxRequestSize int
	MaxTxnOps      int

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

	// AutoCompactionRetention, when positive, makes the leader of each
	// shard compact its history periodically, keeping at least this much
	// time of it (as etcd's periodic auto-compaction).
	AutoCompactionRetention time.Duration

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
	// DefaultShards is the default number of shards. On the 2-core
	// machines this project is measured on, one Raft group batches best
	// (see README, "Choosing the shard count"); raise it on more cores.
	DefaultShards = 1
)

// DefaultConfig returns the configuration of `coord serve` with no flags:
// a one-member cluster on the loopback default ports.
func DefaultConfig() Config {
	return Config{
		Name:            "n1",
		DataDir:         "default.coord",
		ListenClient:    "127.0.0.1:7379",
		ListenPeer:      "127.0.0.1:7380",
		ListenHTTP:      "127.0.0.1:7381",
		Shards:          DefaultShards,
		MaxKeySize:      DefaultMaxKeySize,
		MaxValueSize:    DefaultMaxValueSize,
		MaxRequestSize:  DefaultMaxRequestSize,
		MaxTxnOps:       DefaultMaxTxnOps,
		RTTMillisecond:  10,
		ElectionRTT:     20,
		SnapshotEntries: 10000,
		KeyCache:        statemachine.DefaultLatestCacheKeys,
		LogDBShards:     1,
		ExecShards:      1,
		RaftLogLevel:    slog.LevelWarn,
	}
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

// members returns the parsed initial cluster (or the one-member default).
func (c Config) members() ([]Member, error) {
	if strings.TrimSpace(c.InitialCluster) == "" {
		return []Member{{Name: c.Name, PeerAddr: c.ListenPeer, NodeID: 1}}, nil
	}
	return ParseInitialCluster(c.InitialCluster)
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
	if c.Shards < 1 || c.Shards > 1024 {
		errs = append(errs, fmt.Errorf("shards must be between 1 and 1024, got %d", c.Shards))
	}
	if c.MaxKeySize < 1 || c.MaxValueSize < 1 || c.MaxTxnOps < 1 {
		errs = append(errs, errors.New("max key size, max value size and max txn ops must be positive"))
	}
	if c.MaxRequestSize < c.MaxKeySize+c.MaxValueSize {
		errs = append(errs, fmt.Errorf("max request size (%d) must be at least max key size + max value size (%d)", c.MaxRequestSize, c.MaxKeySize+c.MaxValueSize))
	}
	if c.RTTMillisecond < 1 || c.RTTMillisecond > 1000 {
		errs = append(errs, fmt.Errorf("rtt must be between 1 and 1000 ms, got %d", c.RTTMillisecond))
	}
	if c.SnapshotEntries < 10 {
		errs = append(errs, fmt.Errorf("snapshot entries must be at least 10, got %d", c.SnapshotEntries))
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
	errs = append(errs, c.validateTLS()...)
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
