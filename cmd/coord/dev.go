package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
			dir := c.String("data-dir")
			if dir == "" {
				tmp, err := os.MkdirTemp("", "coord-dev-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			cfgs := devConfigs(n, base, dir, c.Int("shards"))
			for i := range cfgs {
				cfgs[i].Logger = logger.With("member", cfgs[i].Name)
				cfgs[i].RaftLogLevel = raftLogLevel(level, cfgs[i].RaftLogLevel)
				if err := cfgs[i].Validate(); err != nil {
					return usageErrorf(c, "%v", err)
				}
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDev(ctx, e.stdout, cfgs)
		},
	}
}

// devConfigs returns the configurations of an n-member local cluster.
func devConfigs(n, basePort int, dir string, shards int) []server.Config {
	addr := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("n%d=%s", i+1, addr(basePort+10*i+1)))
	}
	cfgs := make([]server.Config, n)
	for i := range cfgs {
		p := basePort + 10*i
		cfg := server.DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(dir, cfg.Name)
		cfg.ListenClient, cfg.ListenPeer, cfg.ListenHTTP = addr(p), addr(p+1), addr(p+2)
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.Shards = shards
		cfgs[i] = cfg
	}
	return cfgs
}

// runDev starts the members, reports them, waits until ctx ends and stops them.
func runDev(ctx context.Context, out io.Writer, cfgs []server.Config) error {
	var servers []*server.Server
	stopAll := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		errs := make([]error, len(servers))
		var wg sync.WaitGroup
		for i, s := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Stop(sctx); err != nil {
					errs[i] = fmt.Errorf("stopping %s: %w", cfgs[i].Name, err)
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	for _, cfg := range cfgs {
		s, err := server.Start(cfg)
		if err != nil {
			_ = stopAll()
			return fmt.Errorf("starting member %s: %w", cfg.Name, err)
		}
		servers = append(servers, s)
	}
	var eps []string
	for i, s := range servers {
		fmt.Fprintf(out, "%s client=%s peer=%s http=%s\n", cfgs[i].Name, s.ClientAddr(), cfgs[i].ListenPeer, s.HTTPAddr())
		eps = append(eps, s.ClientAddr())
	}
	fmt.Fprintf(out, "export COORD_ENDPOINTS=%s\n", strings.Join(eps, ","))

	rctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	var readyErr error
	for _, s := range servers {
		if readyErr = s.WaitReady(rctx); readyErr != nil {
			break
		}
	}
	cancel()
	switch {
	case ctx.Err() != nil:
		// Interrupted while starting: just stop.
	case readyErr != nil:
		err := stopAll()
		return errors.Join(fmt.Errorf("cluster not ready after %s: %w", devReadyTimeout, readyErr), err)
	default:
		fmt.Fprintln(out, "ready")
		<-ctx.Done()
	}
	return stopAll()
}
