package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord/server"
)

// devReadyTimeout bounds the wait for a dev cluster to elect its leaders.
const devReadyTimeout = 60 * time.Second

func devCommand(e *cliEnv) *cli.Command {
	return &cli.Command{
		Name: "dev",
		// Global client flags do not apply to running members.
		CustomHelpTemplate: cli.CommandHelpTemplate,
		Usage:              "Run a local cluster in this process for trying things out",
		UsageText: `coord dev [--nodes 3] [--data-dir DIR] [--shards N] [--base-port 7379]

Starts NODES members on 127.0.0.1. Member i (from 1) listens for clients on
BASE+10*(i-1), for Raft on the next port and for HTTP on the one after:
n1 on 7379/7380/7381, n2 on 7389/7390/7391, n3 on 7399/7400/7401. So n1 is
on the default client address and a plain "coord put" works against it.
Each member also serves etcd clients (etcd's v3 API): n1 on 2379, n2 on
22379, n3 on 32379, as etcd's own local clusters, so a plain etcdctl works
against n1 (members past the sixth get a free port).
It prints the members, an "export COORD_ENDPOINTS=..." line, then "ready"
once every shard has a leader. Ctrl-C stops it; without --data-dir the data
lives in a temporary directory that is removed on exit.

   coord dev
   coord dev --nodes 1 --data-dir ./devdata`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Usage: "number of members `N`", Value: 3},
			&cli.StringFlag{Name: "data-dir", Usage: "keep the members' data in `DIR`/NAME", DefaultText: "a temporary directory removed on exit"},
			&cli.IntFlag{Name: "shards", Usage: "number of shards `N`", Value: server.DefaultConfig().Shards},
			&cli.IntFlag{Name: "base-port", Usage: "client `PORT` of the first member", Value: 7379},
			&cli.StringFlag{Name: "etcd-ports", Usage: "etcd door `PORTS` of the members, comma-separated (0: a free port; members past the list get a free port; \"\": no etcd door)", DefaultText: "2379,22379,32379,..."},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "warn"},
			&cli.StringFlag{Name: "log-format", Usage: "text or json", Value: "text"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			n := c.Int("nodes")
			if n < 1 || n > 9 {
				return usageErrorf(c, "--nodes must be between 1 and 9, got %d", n)
			}
			base := c.Int("base-port")
			if base < 1 || base+10*(n-1)+2 > 65535 {
				return usageErrorf(c, "--base-port %d leaves no room for %d members", base, n)
			}
			logger, level, err := newLogger(e.stderr, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return usageErrorf(c, "%v", err)
			}
			etcdPorts := devEtcdPorts(n)
			if c.IsSet("etcd-ports") {
				if etcdPorts, err = parseEtcdPorts(c.String("etcd-ports"), n); err != nil {
					return usageErrorf(c, "%v", err)
				}
			}
			cc := devClusterConfig(n, base, etcdPorts, c.String("data-dir"), c.Int("shards"))
			cc.Logger = logger
			devConfigure := cc.Configure
			cc.Configure = func(cfg *server.Config) {
				devConfigure(cfg)
				cfg.RaftLogLevel = raftLogLevel(level, cfg.RaftLogLevel)
			}
			// Without --data-dir the data lives in a temporary directory
			// that Close removes.
			lc, err := server.NewLocalCluster(cc)
			if err != nil {
				return err
			}
			for _, cfg := range lc.Configs() {
				if err := cfg.Validate(); err != nil {
					_ = lc.Close()
					return usageErrorf(c, "%v", err)
				}
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, e.stdout, lc)
		},
	}
}

// devClusterConfig returns the in-process cluster of `coord dev`: n
// members on fixed ports from basePort, etcd doors on etcdPorts (see
// server.LocalClusterConfig.EtcdPorts), their data in dir ("" for a
// temporary directory).
func devClusterConfig(n, basePort int, etcdPorts []int, dir string, shards int) server.LocalClusterConfig {
	return server.LocalClusterConfig{
		Members: n, BasePort: basePort, Dir: dir, StopTimeout: stopTimeout, EtcdPorts: etcdPorts,
		// The shard count as given: --shards 0 is refused, not the default.
		Configure: func(cfg *server.Config) { cfg.Shards = shards },
	}
}

// devEtcdPorts are the etcd ports of a dev cluster's n members: 2379,
// then 22379, 32379, … as etcd's own local clusters, a free port past
// the sixth member.
func devEtcdPorts(n int) []int {
	ports := make([]int, n)
	for i := range ports {
		switch p := (i+1)*10000 + 2379; {
		case i == 0:
			ports[i] = 2379
		case p <= 65535:
			ports[i] = p
		}
	}
	return ports
}

// parseEtcdPorts parses --etcd-ports for n members: "" is no etcd door,
// else a comma-separated list of ports (0: a free port), members past its
// end getting a free port.
func parseEtcdPorts(arg string, n int) ([]int, error) {
	if strings.TrimSpace(arg) == "" {
		return nil, nil
	}
	ports := make([]int, max(n, 0))
	for i, f := range strings.Split(arg, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("--etcd-ports: %q is not a port (0-65535)", f)
		}
		if i < n {
			ports[i] = p
		}
	}
	return ports, nil
}

// runDev starts the members, reports them, waits until ctx ends and stops them.
func runDev(ctx context.Context, out io.Writer, lc *server.LocalCluster) error {
	if err := lc.Start(); err != nil {
		_ = lc.Close()
		return err
	}
	for i, s := range lc.Members() {
		cfg := lc.Config(i)
		fmt.Fprintf(out, "%s client=%s peer=%s http=%s etcd=%s\n", cfg.Name, s.ClientAddr(), cfg.ListenPeer, s.HTTPAddr(), s.EtcdAddr())
	}
	fmt.Fprintf(out, "export COORD_ENDPOINTS=%s\n", strings.Join(lc.Endpoints(), ","))
	fmt.Fprintf(out, "export ETCDCTL_ENDPOINTS=%s\n", strings.Join(lc.EtcdEndpoints(), ","))

	rctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	readyErr := lc.WaitReady(rctx)
	cancel()
	switch {
	case ctx.Err() != nil:
		// Interrupted while starting: just stop.
	case readyErr != nil:
		err := lc.Close()
		return errors.Join(fmt.Errorf("cluster not ready after %s: %w", devReadyTimeout, readyErr), err)
	default:
		fmt.Fprintln(out, "ready")
		<-ctx.Done()
	}
	return lc.Close()
}
