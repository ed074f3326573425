package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord/server"
)

// stopTimeout bounds a clean shutdown after SIGINT/SIGTERM.
const stopTimeout = 15 * time.Second

// envName is the environment variable a serve flag is also read from:
// COORD_ and the flag name in upper snake case (--data-dir: COORD_DATA_DIR).
func envName(flag string) string {
	return "COORD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func envVars(flag string) []string { return []string{envName(flag)} }

func serveFlags() []cli.Flag {
	d := server.DefaultConfig()
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "member name, as in --initial-cluster", Value: d.Name, EnvVars: envVars("name")},
		&cli.StringFlag{Name: "data-dir", Usage: "directory of the member's Raft log and state", DefaultText: "./NAME.coord with --name, else ./" + strings.TrimPrefix(d.DataDir, "./"), EnvVars: envVars("data-dir")},
		&cli.StringFlag{Name: "listen-client", Usage: "address clients connect to", Value: d.ListenClient, EnvVars: envVars("listen-client")},
		&cli.StringFlag{Name: "listen-peer", Usage: "address of this member's Raft transport (fixed once the data dir exists)", Value: d.ListenPeer, EnvVars: envVars("listen-peer")},
		&cli.StringFlag{Name: "bind-peer", Usage: "address the Raft transport listens on when it differs from --listen-peer (a proxy or NAT in front of it); default: --listen-peer", EnvVars: envVars("bind-peer")},
		&cli.StringFlag{Name: "listen-http", Usage: "address of /metrics, /healthz, /readyz and /status (\"\" disables)", Value: d.ListenHTTP, EnvVars: envVars("listen-http")},
		&cli.StringFlag{Name: "listen-etcd", Usage: "address of the etcd door: etcd's v3 gRPC API and its JSON gateway, for etcd clients, etcdctl and curl (\"\" disables)", Value: d.ListenEtcd, EnvVars: envVars("listen-etcd")},
		&cli.StringFlag{Name: "initial-cluster", Usage: "every member as NAME=PEER_ADDR,... in the same order on every member", DefaultText: "NAME=LISTEN_PEER (one member)", EnvVars: envVars("initial-cluster")},
		&cli.StringFlag{Name: "initial-cluster-state", Usage: "new: create the cluster with --initial-cluster; existing: join a running cluster after coord member add (with the --node-id it printed; the member starts as a learner and catches up)", Value: server.ClusterStateNew, EnvVars: envVars("initial-cluster-state")},
		&cli.Uint64Flag{Name: "node-id", Usage: "Raft node ID that coord member add assigned (only with --initial-cluster-state existing)", EnvVars: envVars("node-id")},
		&cli.IntFlag{Name: "shards", Usage: "number of Raft groups the keyspace is spread over (fixed at creation)", Value: d.Shards, EnvVars: envVars("shards")},
		&cli.IntFlag{Name: "key-cache", Usage: "keys per shard whose latest version is kept in memory, sparing each write a disk lookup (about 150 bytes plus key and value, values up to 256 bytes; 0 disables)", Value: d.KeyCache, EnvVars: envVars("key-cache")},
		&cli.Uint64Flag{Name: "logdb-shards", Usage: "Raft log storage shards (fixed at creation; see README, \"Choosing the shard count\")", Value: d.LogDBShards, EnvVars: envVars("logdb-shards")},
		&cli.Uint64Flag{Name: "exec-shards", Usage: "Raft step/apply worker shards (fixed at creation; must divide --logdb-shards or be a multiple of it)", Value: d.ExecShards, EnvVars: envVars("exec-shards")},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", EnvVars: envVars("log-level")},
		&cli.StringFlag{Name: "log-format", Usage: "text or json", Value: "text", EnvVars: envVars("log-format")},
		&cli.IntFlag{Name: "max-key-size", Usage: "largest key in bytes", Value: d.MaxKeySize, EnvVars: envVars("max-key-size")},
		&cli.IntFlag{Name: "max-value-size", Usage: "largest value in bytes", Value: d.MaxValueSize, EnvVars: envVars("max-value-size")},
		&cli.IntFlag{Name: "max-request-size", Usage: "largest request in bytes", Value: d.MaxRequestSize, EnvVars: envVars("max-request-size")},
		&cli.IntFlag{Name: "max-txn-ops", Usage: "most operations in one transaction", Value: d.MaxTxnOps, EnvVars: envVars("max-txn-ops")},
		&cli.DurationFlag{Name: "dedup-retention", Usage: "how long an idle client's exactly-once record is kept; retries first sent more than half of it before are answered \"outcome unknown\" (same on every member)", Value: d.DedupRetention, EnvVars: envVars("dedup-retention")},
		&cli.IntFlag{Name: "max-connections", Usage: "most client connections; one more is refused with \"too many client connections\"", Value: d.MaxConnections, EnvVars: envVars("max-connections")},
		&cli.DurationFlag{Name: "idle-timeout", Usage: "close a client connection with no call in flight for this long (clients redial; 0 disables)", Value: d.IdleTimeout, EnvVars: envVars("idle-timeout")},
		&cli.DurationFlag{Name: "request-read-timeout", Usage: "time a client has to send the rest of a request once its first byte arrived", Value: d.RequestReadTimeout, EnvVars: envVars("request-read-timeout")},
		&cli.IntFlag{Name: "max-watches-per-connection", Usage: "most watches and election observations open on one connection", Value: d.MaxWatchesPerConn, EnvVars: envVars("max-watches-per-connection")},
		&cli.IntFlag{Name: "max-inflight-bytes-per-connection", Usage: "most bytes of requests in flight on one connection", Value: d.MaxInflightBytesPerConn, EnvVars: envVars("max-inflight-bytes-per-connection")},
		&cli.DurationFlag{Name: "max-lease-ttl", Usage: "longest lease TTL granted (whole seconds); a longer one is refused", Value: d.MaxLeaseTTL, EnvVars: envVars("max-lease-ttl")},
		&cli.IntFlag{Name: "max-keepalive-leases", Usage: "most lease IDs in one keep-alive request", Value: d.MaxKeepAliveLeases, EnvVars: envVars("max-keepalive-leases")},
		&cli.IntFlag{Name: "max-response-bytes", Usage: "page size in bytes of a range and of a watch message (a larger get is answered in pages the client follows; one key-value over it still goes alone); also bounds what a transaction's reads return", Value: d.MaxResponseBytes, EnvVars: envVars("max-response-bytes")},
		&cli.IntFlag{Name: "max-txn-range-keys", Usage: "most keys a transaction's reads return together", Value: d.MaxTxnRangeKeys, EnvVars: envVars("max-txn-range-keys")},
		&cli.Int64Flag{Name: "quota-backend-bytes", Usage: "space quota of the member's store in bytes: past it the member raises a NOSPACE alarm and the cluster refuses writes that grow the store until coord alarm disarm (see coord alarm --help); 0: etcd's default, 2 GiB; negative: no quota", Value: 0, DefaultText: "2147483648 (2 GiB)", EnvVars: envVars("quota-backend-bytes")},
		&cli.DurationFlag{Name: "auto-compaction-retention", Usage: "keep at least `DURATION` of history, compacting older revisions periodically (0 disables)", EnvVars: envVars("auto-compaction-retention")},
		&cli.BoolFlag{Name: "enable-pprof", Usage: "serve Go's profiler under /debug/pprof/ on the HTTP port", EnvVars: envVars("enable-pprof")},
		&cli.StringFlag{Name: "cert-file", Usage: "serve clients over TLS with this certificate `FILE` (PEM); needs --key-file", EnvVars: envVars("cert-file")},
		&cli.StringFlag{Name: "key-file", Usage: "private key `FILE` (PEM) of --cert-file", EnvVars: envVars("key-file")},
		&cli.BoolFlag{Name: "client-cert-auth", Usage: "require clients to present a certificate signed by --trusted-ca-file (mutual TLS); with auth enabled, a client that names no user is the user of its certificate's common name", EnvVars: envVars("client-cert-auth")},
		&cli.IntFlag{Name: "bcrypt-cost", Usage: "bcrypt cost of the password hashes this member makes (user add, user passwd); at least 4, each step doubles the time of a password check", Value: d.BcryptCost, EnvVars: envVars("bcrypt-cost")},
		&cli.DurationFlag{Name: "auth-token-ttl", Usage: "how long a token from authentication is valid; a token is valid only on the member that issued it", Value: d.AuthTokenTTL, EnvVars: envVars("auth-token-ttl")},
		&cli.StringFlag{Name: "trusted-ca-file", Usage: "CA bundle `FILE` (PEM) that client certificates are verified against", EnvVars: envVars("trusted-ca-file")},
		&cli.StringFlag{Name: "peer-cert-file", Usage: "Raft traffic between members over mutual TLS with this certificate `FILE` (PEM; for server and client use, naming every member's peer host); needs --peer-key-file and --peer-trusted-ca-file", EnvVars: envVars("peer-cert-file")},
		&cli.StringFlag{Name: "peer-key-file", Usage: "private key `FILE` (PEM) of --peer-cert-file", EnvVars: envVars("peer-key-file")},
		&cli.StringFlag{Name: "peer-trusted-ca-file", Usage: "CA bundle `FILE` (PEM) that other members' certificates are verified against; a member without a certificate it signed can neither join nor send Raft traffic", EnvVars: envVars("peer-trusted-ca-file")},
	}
}

func serveCommand(e *cliEnv) *cli.Command {
	return &cli.Command{
		Name: "serve",
		// Global client flags do not apply to running members.
		CustomHelpTemplate: cli.CommandHelpTemplate,
		Usage:              "Run a cluster member",
		UsageText: `coord serve [--name NAME] [--data-dir DIR] [--listen-client ADDR] [--listen-peer ADDR]
            [--listen-http ADDR] [--listen-etcd ADDR] [--initial-cluster N1=PEER,N2=PEER,...] [--shards N] ...

With no flags: a one-member cluster "n1" with clients on 127.0.0.1:7379,
Raft on 127.0.0.1:7380, HTTP on 127.0.0.1:7381, etcd clients (etcd's v3 API
and JSON gateway) on 127.0.0.1:2379 and data in ./default.coord.
Every flag can also come from the environment as COORD_<FLAG> (COORD_NAME,
COORD_DATA_DIR, COORD_LISTEN_CLIENT, ...). Stops cleanly on SIGINT/SIGTERM,
and with a non-zero exit once removed from the cluster (coord member remove).

A member added to a running cluster (coord member add NAME PEER prints its
flags) starts with --initial-cluster-state existing --node-id ID: it joins
every shard as a non-voting learner and catches up by snapshot and log.

TLS on the client port (the HTTP port stays plain): --cert-file and
--key-file; add --client-cert-auth --trusted-ca-file CA to require client
certificates (mutual TLS). Users, roles and permissions (coord user, coord
role, coord auth enable): passwords are hashed with --bcrypt-cost, tokens
last --auth-token-ttl on the member that issued them. Mutual TLS between members (Raft traffic):
--peer-cert-file, --peer-key-file and --peer-trusted-ca-file, on every
member or none.

   coord serve
   coord serve --cert-file server.pem --key-file server-key.pem \
       --client-cert-auth --trusted-ca-file ca.pem
   coord serve --peer-cert-file peer.pem --peer-key-file peer-key.pem \
       --peer-trusted-ca-file peer-ca.pem
   coord serve --name n1 --listen-client 10.0.0.1:7379 --listen-peer 10.0.0.1:7380 \
       --initial-cluster n1=10.0.0.1:7380,n2=10.0.0.2:7380,n3=10.0.0.3:7380`,
		Flags: serveFlags(),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			cfg, err := serveConfig(c, e.stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, cfg)
		},
	}
}

// serveConfig builds the server configuration from the serve flags.
func serveConfig(c *cli.Context, logTo io.Writer) (server.Config, error) {
	cfg := server.DefaultConfig()
	cfg.Name = c.String("name")
	cfg.DataDir = c.String("data-dir")
	if cfg.DataDir == "" {
		if c.IsSet("name") {
			cfg.DataDir = cfg.Name + ".coord"
		} else {
			cfg.DataDir = server.DefaultConfig().DataDir
		}
	}
	cfg.ListenClient = c.String("listen-client")
	cfg.ListenPeer = c.String("listen-peer")
	cfg.ListenHTTP = c.String("listen-http")
	cfg.ListenEtcd = c.String("listen-etcd")
	cfg.BindPeer = c.String("bind-peer")
	cfg.InitialCluster = c.String("initial-cluster")
	cfg.InitialClusterState = c.String("initial-cluster-state")
	cfg.NodeID = c.Uint64("node-id")
	cfg.Shards = c.Int("shards")
	cfg.KeyCache = c.Int("key-cache")
	cfg.LogDBShards = c.Uint64("logdb-shards")
	cfg.ExecShards = c.Uint64("exec-shards")
	cfg.MaxKeySize = c.Int("max-key-size")
	cfg.MaxValueSize = c.Int("max-value-size")
	cfg.MaxRequestSize = c.Int("max-request-size")
	cfg.MaxTxnOps = c.Int("max-txn-ops")
	cfg.MaxConnections = c.Int("max-connections")
	cfg.IdleTimeout = c.Duration("idle-timeout")
	cfg.RequestReadTimeout = c.Duration("request-read-timeout")
	cfg.MaxWatchesPerConn = c.Int("max-watches-per-connection")
	cfg.MaxInflightBytesPerConn = c.Int("max-inflight-bytes-per-connection")
	cfg.MaxLeaseTTL = c.Duration("max-lease-ttl")
	cfg.MaxKeepAliveLeases = c.Int("max-keepalive-leases")
	cfg.MaxResponseBytes = c.Int("max-response-bytes")
	cfg.MaxTxnRangeKeys = c.Int("max-txn-range-keys")
	cfg.EnablePprof = c.Bool("enable-pprof")
	cfg.AutoCompactionRetention = c.Duration("auto-compaction-retention")
	cfg.QuotaBackendBytes = c.Int64("quota-backend-bytes")
	cfg.DedupRetention = c.Duration("dedup-retention")
	cfg.TLSCertFile = c.String("cert-file")
	cfg.TLSKeyFile = c.String("key-file")
	cfg.ClientCertAuth = c.Bool("client-cert-auth")
	cfg.BcryptCost = c.Int("bcrypt-cost")
	cfg.AuthTokenTTL = c.Duration("auth-token-ttl")
	cfg.TrustedCAFile = c.String("trusted-ca-file")
	cfg.PeerCertFile = c.String("peer-cert-file")
	cfg.PeerKeyFile = c.String("peer-key-file")
	cfg.PeerTrustedCAFile = c.String("peer-trusted-ca-file")
	logger, level, err := newLogger(logTo, c.String("log-level"), c.String("log-format"))
	if err != nil {
		return cfg, usageErrorf(c, "%v", err)
	}
	cfg.Logger = logger.With("member", cfg.Name)
	cfg.RaftLogLevel = raftLogLevel(level, cfg.RaftLogLevel)
	if err := cfg.Validate(); err != nil {
		return cfg, usageErrorf(c, "%v", err)
	}
	return cfg, nil
}

// newLogger makes the slog logger of --log-level and --log-format.
func newLogger(w io.Writer, level, format string) (*slog.Logger, slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), l, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), l, nil
	default:
		return nil, 0, fmt.Errorf("unknown log format %q (want text or json)", format)
	}
}

// raftLogLevel is the level of Dragonboat's own (chatty) logs: the
// server's default unless --log-level debug asks for everything.
func raftLogLevel(level, dflt slog.Level) slog.Level {
	if level <= slog.LevelDebug {
		return level
	}
	return dflt
}

// serve runs one member until ctx ends, then stops it.
func serve(ctx context.Context, cfg server.Config) error {
	log := cfg.Logger
	srv, err := server.Start(cfg)
	if err != nil {
		return fmt.Errorf("starting member %s: %w", cfg.Name, err)
	}
	log.Info("member started", "client", srv.ClientAddr(), "peer", cfg.ListenPeer, "http", srv.HTTPAddr(), "data_dir", cfg.DataDir, "shards", cfg.Shards)
	go func() {
		if err := srv.WaitReady(ctx); err == nil {
			log.Info("member ready: every shard has a leader")
		}
	}()
	var removed bool
	select {
	case <-ctx.Done():
	case <-srv.Removed():
		removed = true
	}
	log.Info("stopping member")
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := srv.Stop(sctx); err != nil {
		return fmt.Errorf("stopping member %s: %w", cfg.Name, err)
	}
	if removed {
		return fmt.Errorf("member %s was removed from the cluster (coord member remove) and stopped; to run it again, `coord member add` it and start it with a new data directory", cfg.Name)
	}
	return nil
}
