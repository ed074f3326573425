package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
			cc := devClusterConfig(n, base, c.String("data-dir"), c.Int("shards"))
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
// members on fixed ports from basePort, their data in dir ("" for a
// temporary directory).
func devClusterConfig(n, basePort int, dir string, shards int) server.LocalClusterConfig {
	return server.LocalClusterConfig{
		Members: n, BasePort: basePort, Dir: dir, StopTimeout: stopTimeout,
		// The shard count as given: --shards 0 is refused, not the default.
		Configure: func(cfg *server.Config) { cfg.Shards = shards },
	}
}

// runDev starts the members, reports them, waits until ctx ends and stops them.
func runDev(ctx context.Context, out io.Writer, lc *server.LocalCluster) error {
	if err := lc.Start(); err != nil {
		_ = lc.Close()
		return err
	}
	for i, s := range lc.Members() {
		cfg := lc.Config(i)
		fmt.Fprintf(out, "%s client=%s peer=%s http=%s\n", cfg.Name, s.ClientAddr(), cfg.ListenPeer, s.HTTPAddr())
	}
	fmt.Fprintf(out, "export COORD_ENDPOINTS=%s\n", strings.Join(lc.Endpoints(), ","))

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
