package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/bench"
	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/server"
)

func benchCommand(e *cliEnv) *cli.Command {
	d := bench.DefaultConfig()
	return &cli.Command{
		Name:      "bench",
		Usage:     "Measure a coordination workload against Coord or etcd",
		ArgsUsage: "WORKLOAD",
		UsageText: `coord bench WORKLOAD [--clients N] [--conns N] [--duration D | --total N] [--rate R]
            [--keys N] [--value-size B] [--target coord|etcd] [--report FILE.html|.svg] ...

Workloads:
` + bench.WorkloadHelp() + `
Without --endpoints (or COORD_ENDPOINTS) it starts a local three-member Coord
cluster inside this process, in a temporary directory (fsync on), runs the
workload, stops the cluster and removes the directory. --target etcd runs the
same workload through etcd's Go client and its concurrency/recipes packages
against --endpoints. Prints throughput, errors and an HDR latency summary
(p50, p90, p99, p99.9, max); -w json prints one JSON object. On a terminal a
progress line shows while it runs; Ctrl-C ends the run early and still
reports it.

   coord bench put
   coord bench lock --clients 64 --duration 30s --report lock.html
   coord bench get --target etcd --endpoints 127.0.0.1:2379 -w json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "target", Usage: "`SYSTEM` to measure: coord or etcd", Value: "coord"},
			&cli.IntFlag{Name: "clients", Usage: "concurrent workers `N`", Value: d.Clients},
			&cli.IntFlag{Name: "conns", Usage: "client connections `N` the workers share (connection i to endpoint i mod the endpoints' number, with failover for Coord)", Value: d.Conns},
			&cli.BoolFlag{Name: "etcd-round-robin", Usage: "--target etcd: give each clientv3 client every endpoint, so that it balances each call over a connection to every member (--conns × endpoints connections); default: each client connects to one endpoint, as Coord's do"},
			&cli.DurationFlag{Name: "duration", Usage: "run for `DURATION`", Value: d.Duration},
			&cli.Int64Flag{Name: "total", Usage: "run `N` operations (then --duration only caps the run if given)"},
			&cli.Float64Flag{Name: "rate", Usage: "open loop: start `R` operations per second in all (0: closed loop)"},
			&cli.IntFlag{Name: "keys", Usage: "distinct keys or names `N`", DefaultText: "per workload: put 100000, get 10000, txn/lock/elect 1000, watch 100"},
			&cli.IntFlag{Name: "value-size", Usage: "value size in `BYTES`", Value: d.ValueSize},
			&cli.IntFlag{Name: "watchers", Usage: "watch: number of watchers `W`", Value: d.Watchers},
			&cli.IntFlag{Name: "sessions", Usage: "lease: number of leases `S` kept alive", Value: d.Sessions},
			&cli.IntFlag{Name: "limit", Usage: "semaphore: number of permits `N`", DefaultText: "a quarter of --clients"},
			&cli.DurationFlag{Name: "ttl", Usage: "TTL of sessions and leases", Value: d.TTL},
			&cli.DurationFlag{Name: "op-timeout", Usage: "`DURATION` allowed for one operation", Value: d.OpTimeout},
			&cli.StringFlag{Name: "prefix", Usage: "`PREFIX` of every key and name the bench uses", Value: d.Prefix},
			&cli.StringFlag{Name: "report", Usage: "write an HTML or SVG report with latency plots to `FILE` (.html or .svg)"},
			&cli.IntFlag{Name: "shards", Usage: "local cluster: number of shards `N`", DefaultText: "the server's default"},
			&cli.BoolFlag{Name: "enable-pprof", Usage: "local cluster: serve /debug/pprof on the members' HTTP ports (printed at start)"},
			&cli.StringFlag{Name: "server-pids", Usage: "comma-separated `PIDS` of the server processes whose CPU time and memory to report"},
			&cli.BoolFlag{Name: "cluster-log", Usage: "local cluster: show the members' warnings and errors on stderr"},
			&cli.BoolFlag{Name: "no-progress", Usage: "no progress line, even on a terminal"},
			&cli.StringFlag{Name: "cpu-profile", Usage: "write the load generator's own CPU profile (pprof) of the run to `FILE`"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "WORKLOAD")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			cfg, err := benchConfig(c, args[0])
			if err != nil {
				return err
			}
			if !c.Bool("no-progress") && isTerminal(e.stderr) {
				cfg.Progress = e.stderr
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runBench(ctx, c, e, cfg, format)
		},
	}
}

// benchConfig builds the run's configuration from the flags.
func benchConfig(c *cli.Context, workload string) (bench.Config, error) {
	cfg := bench.DefaultConfig()
	cfg.Workload = workload
	cfg.Clients = c.Int("clients")
	cfg.Conns = c.Int("conns")
	cfg.Duration = c.Duration("duration")
	cfg.Total = c.Int64("total")
	if cfg.Total > 0 && !c.IsSet("duration") {
		cfg.Duration = 0
	}
	cfg.Rate = c.Float64("rate")
	cfg.Keys = c.Int("keys")
	cfg.ValueSize = c.Int("value-size")
	cfg.Watchers = c.Int("watchers")
	cfg.Sessions = c.Int("sessions")
	cfg.Limit = c.Int("limit")
	cfg.TTL = c.Duration("ttl")
	cfg.OpTimeout = c.Duration("op-timeout")
	cfg.Prefix = c.String("prefix")
	if cfg.Conns > cfg.Clients && !c.IsSet("conns") {
		cfg.Conns = cfg.Clients
	}
	if s := c.String("server-pids"); s != "" {
		for _, f := range strings.Split(s, ",") {
			pid, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || pid <= 0 {
				return cfg, usageErrorf(c, "--server-pids: %q is not a process ID", f)
			}
			cfg.ServerPIDs = append(cfg.ServerPIDs, pid)
		}
	}
	if r := c.String("report"); r != "" {
		switch strings.ToLower(r[strings.LastIndexByte(r, '.')+1:]) {
		case "html", "htm", "svg":
		default:
			return cfg, usageErrorf(c, "--report %s: want a file name ending in .html or .svg", r)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErrorf(c, "%v", err)
	}
	return cfg, nil
}

// runBench picks the target (starting a local cluster when no endpoints
// are given), runs the workload and prints the result.
func runBench(ctx context.Context, c *cli.Context, e *cliEnv, cfg bench.Config, format string) error {
	root := rootContext(c)
	explicit := root.IsSet("endpoints")
	var eps []string
	if explicit {
		var err error
		if eps, err = endpoints(c); err != nil {
			return err
		}
	}
	tc, err := tlsConfig(c)
	if err != nil {
		return err
	}
	var target bench.Target
	local := false
	shards := 0
	switch c.String("target") {
	case "coord":
		// Refuse what this build cannot run before starting a cluster.
		if err := bench.Supports(bench.NewCoordTarget(coord.Config{}), cfg.Workload); err != nil {
			return err
		}
		if !explicit {
			pprofOn := c.Bool("enable-pprof")
			lc := server.LocalClusterConfig{Members: 3, Shards: c.Int("shards"), Configure: func(cfg *server.Config) { cfg.EnablePprof = pprofOn }}
			if c.Bool("cluster-log") {
				lc.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			if cfg.Progress != nil {
				fmt.Fprint(e.stderr, "starting a local three-member cluster…")
			}
			cl, err := server.StartLocalCluster(ctx, lc)
			if cfg.Progress != nil {
				fmt.Fprint(e.stderr, "\r\033[K")
			}
			if err != nil {
				return fmt.Errorf("local cluster: %w", err)
			}
			defer cl.Close()
			if pprofOn {
				for _, h := range cl.HTTPAddrs() {
					fmt.Fprintf(e.stderr, "pprof: http://%s/debug/pprof/\n", h)
				}
			}
			eps, local = cl.Endpoints(), true
			cfg.SelfIsServer = len(cfg.ServerPIDs) == 0
		}
		ccfg, err := clientConfig(c)
		if err != nil {
			return err
		}
		ccfg.Endpoints = eps
		target = bench.NewCoordTarget(ccfg)
	case "etcd":
		if !explicit {
			return usageErrorf(c, "--target etcd needs --endpoints (bench/compare.sh starts a local etcd cluster)")
		}
		target = &bench.EtcdTarget{Endpoints: eps, DialTimeout: c.Duration("dial-timeout"), TLS: tc, RoundRobin: c.Bool("etcd-round-robin")}
	default:
		return usageErrorf(c, "unknown --target %q (want coord or etcd)", c.String("target"))
	}
	if c.IsSet("shards") && (explicit || c.String("target") != "coord") {
		return usageErrorf(c, "--shards applies only to the local cluster (without --endpoints)")
	}

	if path := c.String("cpu-profile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, target, cfg)
	if err != nil {
		return err
	}
	res.Endpoints, res.LocalCluster = eps, local
	if local {
		shards = c.Int("shards")
		if shards == 0 {
			shards = server.DefaultShards
		}
		res.Shards = shards
	}
	if r := c.String("report"); r != "" {
		if err := bench.WriteReport(r, res); err != nil {
			return err
		}
	}
	if err := printBench(e.stdout, format, res); err != nil {
		return err
	}
	if res.Ops > 0 && res.Errors == res.Ops {
		return fmt.Errorf("every operation failed (%d), e.g.: %s", res.Errors, firstError(res))
	}
	return nil
}

func printBench(w io.Writer, format string, res *bench.Result) error {
	switch format {
	case formatJSON:
		return bench.WriteJSON(w, res)
	case formatTable:
		fmt.Fprintln(w, bench.Describe(res))
		var rows [][]string
		for _, r := range bench.SummaryRows(res) {
			rows = append(rows, []string{r[0], r[1]})
		}
		writeBorderedTable(w, []string{"WHAT", "VALUE"}, rows, nil)
		return nil
	default:
		return bench.WriteText(w, res)
	}
}

func firstError(res *bench.Result) string {
	var best string
	var n int64 = -1
	for m, k := range res.ErrorKinds {
		if k > n || k == n && m < best {
			best, n = m, k
		}
	}
	return best
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
