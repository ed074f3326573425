package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

func putCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "Put a key",
		ArgsUsage: "KEY [VALUE]",
		UsageText: `coord put KEY [VALUE] [--lease ID | --ttl DUR] [--prev-kv]

Sets KEY to VALUE and prints OK. Without VALUE the value is all of stdin,
byte for byte (a trailing newline is kept). A value that starts with "-"
goes after "--".

--lease attaches the key to a lease (hex ID from coord lease grant, granted
with --key in KEY's shard): the key is deleted when the lease ends. --ttl
grants a new lease of that TTL in KEY's shard and attaches the key, without
renewing it, so the key expires after DUR (seconds or a duration, 30s).

   coord put greeting hello
   coord put config < config.yaml
   coord put -- offset -1
   coord put greeting hi --prev-kv     # also prints the previous key and value
   coord put svc/a up --lease 694d77aa9e38260f
   coord put tmp/token abc --ttl 1m    # gone in a minute`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prev-kv", Usage: "print the previous key and value"},
			&cli.StringFlag{Name: "lease", Usage: "attach the key to lease `ID` (hex)"},
			&cli.StringFlag{Name: "ttl", Usage: "attach the key to a new lease of TTL `DUR` (not renewed)"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 2, "KEY [VALUE]")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if c.IsSet("lease") && c.IsSet("ttl") {
				return usageErrorf(c, "--lease and --ttl cannot be used together")
			}
			var leaseID, ttl int64
			if c.IsSet("lease") {
				if leaseID, err = parseLeaseArg(c.String("lease")); err != nil {
					return usageErrorf(c, "--lease: %v", err)
				}
			}
			if c.IsSet("ttl") {
				if ttl, err = parseTTL(c.String("ttl")); err != nil {
					return usageErrorf(c, "--ttl: %v", err)
				}
			}
			key := args[0]
			var value string
			if len(args) == 2 {
				value = args[1]
			} else {
				b, err := io.ReadAll(env.stdin)
				if err != nil {
					return fmt.Errorf("reading the value from stdin: %w", err)
				}
				value = string(b)
			}
			var opts []coord.OpOption
			if c.Bool("prev-kv") {
				opts = append(opts, coord.WithPrevKV())
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if ttl > 0 {
					g, err := cl.Grant(ctx, ttl, coord.WithLeaseKey(key))
					if err != nil {
						return fmt.Errorf("granting a lease for --ttl: %w", err)
					}
					leaseID = g.ID
				}
				if leaseID != 0 {
					opts = append(opts, coord.WithLease(leaseID))
				}
				resp, err := cl.Put(ctx, key, value, opts...)
				if err != nil {
					if ttl > 0 {
						// Do not leave the fresh lease behind; best effort.
						rctx, rcancel := callContext(c)
						_, _ = cl.Revoke(rctx, leaseID)
						rcancel()
					}
					return leaseError(leaseID, err)
				}
				withClusterID(&resp.Header, cl)
				return printPut(env.stdout, format, resp)
			})
		},
	}
}

func getCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "Get a key or a range of keys",
		ArgsUsage: "KEY [RANGE_END]",
		UsageText: `coord get KEY [RANGE_END] [--prefix|--from-key] [--limit N] [--rev R]
                 [--sort-by KEY|VERSION|CREATE|MODIFY|VALUE] [--order ASCEND|DESCEND]
                 [--keys-only] [--count-only] [--print-value-only] [--serializable]

Prints each key on a line, then its value on the next line. With RANGE_END
it reads the keys in [KEY, RANGE_END); --prefix reads every key starting
with KEY (--prefix '' reads all keys); --from-key every key >= KEY.
Keys without a {hash tag} are read from every shard and merged by key.

--sort-by and --order sort as etcdctl's (values in any case; --order
alone sorts by key, --sort-by alone ascends; ties stay in key order). As
etcd, the whole range is sorted, then --limit applies: any order other
than ascending keys reads the whole range (page by page, at one revision
per shard) into coord's memory before it prints the first --limit keys.
CREATE and MODIFY compare revisions, which with several shards are each
shard's own: use a {hash tag} to keep a range that is sorted so in one shard.

With -w json it prints one object in etcdctl's shape: header (cluster_id,
member_id, revision, raft_term, then Coord's shard and member), kvs (key
and value base64), more and count; zero fields are left out, as etcdctl
leaves them out.
With -w table it prints KEY VALUE CREATE MOD VERSION LEASE columns.

   coord get greeting
   coord get app/ --prefix --keys-only
   coord get a c                        # keys in [a, c)
   coord get greeting --rev 4 -w json
   coord get app/ --prefix --sort-by MODIFY --order DESCEND --limit 5   # last 5 written`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prefix", Usage: "get every key with prefix KEY"},
			&cli.BoolFlag{Name: "from-key", Usage: "get every key >= KEY"},
			&cli.Int64Flag{Name: "limit", Usage: "return at most `N` keys (0: no limit)"},
			&cli.Int64Flag{Name: "rev", Usage: "read at revision `R` (0: the current revision)"},
			&cli.StringFlag{Name: "sort-by", Usage: "sort by `TARGET`: KEY, VERSION, CREATE, MODIFY or VALUE"},
			&cli.StringFlag{Name: "order", Usage: "sort `ORDER`: ASCEND or DESCEND"},
			&cli.BoolFlag{Name: "keys-only", Usage: "print only the keys"},
			&cli.BoolFlag{Name: "count-only", Usage: "print only the number of keys"},
			&cli.BoolFlag{Name: "print-value-only", Usage: "print only the values (simple output)"},
			&cli.BoolFlag{Name: "serializable", Usage: "read the local replica without a quorum round (may be stale)"},
		},
		Action: func(c *cli.Context) error {
			args, format, err := rangeArgs(c)
			if err != nil {
				return err
			}
			view := getView{keysOnly: c.Bool("keys-only"), countOnly: c.Bool("count-only"), printValueOnly: c.Bool("print-value-only")}
			if view.keysOnly && view.printValueOnly {
				return usageErrorf(c, "--keys-only and --print-value-only cannot be used together")
			}
			if c.Int64("limit") < 0 || c.Int64("rev") < 0 {
				return usageErrorf(c, "--limit and --rev must not be negative")
			}
			order, err := parseGetSort(c.String("sort-by"), c.String("order"))
			if err != nil {
				return usageErrorf(c, "%v", err)
			}
			opts := rangeOptions(c, args)
			limit := c.Int64("limit")
			if limit > 0 && (order.native() || view.countOnly) {
				opts = append(opts, coord.WithLimit(limit))
			}
			if r := c.Int64("rev"); r > 0 {
				opts = append(opts, coord.WithRev(r))
			}
			if view.keysOnly && order.target != "VALUE" {
				opts = append(opts, coord.WithKeysOnly())
			}
			if view.countOnly {
				opts = append(opts, coord.WithCountOnly())
			}
			if c.Bool("serializable") {
				opts = append(opts, coord.WithSerializable())
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Get(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				if !view.countOnly {
					order.apply(resp, limit)
				}
				if view.keysOnly {
					for _, kv := range resp.Kvs {
						kv.Value = nil // read to sort by
					}
				}
				withClusterID(&resp.Header, cl)
				return printGet(env.stdout, format, resp, view)
			})
		},
	}
}

// rangeOptions returns the options for --prefix, --from-key or RANGE_END.
func rangeOptions(c *cli.Context, args []string) []coord.OpOption {
	switch {
	case c.Bool("prefix"):
		return []coord.OpOption{coord.WithPrefix()}
	case c.Bool("from-key"):
		return []coord.OpOption{coord.WithFromKey()}
	case len(args) == 2:
		return []coord.OpOption{coord.WithRange(args[1])}
	}
	return nil
}

func delCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "del",
		Aliases:   []string{"delete"},
		Usage:     "Delete a key or a range of keys",
		ArgsUsage: "KEY [RANGE_END]",
		UsageText: `coord del KEY [RANGE_END] [--prefix|--from-key] [--prev-kv]

Prints the number of keys deleted (then, with --prev-kv, each deleted key
and value). RANGE_END, --prefix and --from-key select a range as in get.

   coord del greeting
   coord del app/ --prefix
   coord del a c --prev-kv               # keys in [a, c)`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "prefix", Usage: "delete every key with prefix KEY"},
			&cli.BoolFlag{Name: "from-key", Usage: "delete every key >= KEY"},
			&cli.BoolFlag{Name: "prev-kv", Usage: "print the deleted keys and values"},
		},
		Action: func(c *cli.Context) error {
			args, format, err := rangeArgs(c)
			if err != nil {
				return err
			}
			opts := rangeOptions(c, args)
			if c.Bool("prev-kv") {
				opts = append(opts, coord.WithPrevKV())
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Delete(ctx, args[0], opts...)
				if err != nil {
					return err
				}
				withClusterID(&resp.Header, cl)
				return printDelete(env.stdout, format, resp)
			})
		},
	}
}

func compactCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "compact",
		Usage:     "Discard the history below a revision",
		ArgsUsage: "REV",
		UsageText: `coord compact REV [--shard S]

Discards old versions below revision REV; reads and watches below it then
fail with "revision compacted". REV must not be newer than the shard's
current revision ("required revision is a future revision") and must be
above its compact revision ("required revision has been compacted"):
either fails with exit 1 and discards nothing.

Each shard has its own revisions: without --shard every shard that has
reached REV and is not compacted that far is compacted at REV, the others
are left alone, and one line per shard says which (with one shard, etcd's
single line). It fails only if no shard was compacted.

   coord compact 1000
   coord compact 42 --shard 3`,
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "shard", Usage: "compact only shard `S`", Value: -1, DefaultText: "all"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "REV")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			rev, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || rev <= 0 {
				return usageErrorf(c, "REV must be a positive integer, got %q", args[0])
			}
			var opts []coord.CompactOption
			if c.IsSet("shard") {
				s := c.Int64("shard")
				if s < 0 || s > int64(^uint32(0)>>1) {
					return usageErrorf(c, "--shard must be a shard number >= 0")
				}
				opts = append(opts, coord.WithCompactShard(uint32(s)))
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Compact(ctx, rev, opts...)
				if err != nil {
					return err
				}
				return printCompact(env.stdout, format, rev, resp)
			})
		},
	}
}
