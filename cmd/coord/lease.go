package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

func leaseCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "lease",
		Usage: "Grant, revoke, renew and inspect leases",
		UsageText: `coord lease grant|revoke|keepalive|ttl|list ARGS... (see coord lease COMMAND --help)

A lease expires TTL seconds after its last renewal and deletes the keys
attached to it (coord put KEY VALUE --lease ID). Lease IDs are printed and
taken in hex. A lease lives in one shard and holds only keys of that shard:
grant it with --key set to a key you will attach.

   id=$(coord lease grant 30 --key svc/a | cut -d' ' -f2)
   coord put svc/a up --lease $id
   coord lease keepalive $id`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			leaseGrantCommand(env),
			leaseRevokeCommand(env),
			leaseKeepAliveCommand(env),
			leaseTTLCommand(env),
			leaseListCommand(env),
		},
	}
}

// leaseIDArg reads the single lease ID argument of a lease subcommand.
func leaseIDArg(c *cli.Context) (int64, error) {
	args, err := argsBetween(c, 1, 1, "ID")
	if err != nil {
		return 0, err
	}
	id, err := parseLeaseArg(args[0])
	if err != nil {
		return 0, usageErrorf(c, "%v", err)
	}
	return id, nil
}

func leaseGrantCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "grant",
		Usage:     "Create a lease",
		ArgsUsage: "TTL",
		UsageText: `coord lease grant TTL [--key K]

Creates a lease that expires TTL after its last renewal and prints
"lease ID granted with TTL(Ns)". TTL is in seconds (30) or a duration
(30s, 2m), rounded up to whole seconds; the server may raise a very short
TTL to its minimum. --key puts the lease in the shard of K, so keys of that
shard (K, or keys with the same {hash tag}) can be attached to it.

   coord lease grant 30
   coord lease grant 1m --key 'svc/{web}/a'
   coord lease grant 10 -w json          # {"header":...,"id":N,"ttl":10}

Here --key is the routing key; the TLS client key (global --key) goes
before the command: coord --cert c.pem --key k.pem lease grant 30`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "grant in the shard of key `K` (keys of that shard can attach)"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "TTL")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			ttl, err := parseTTL(args[0])
			if err != nil {
				return usageErrorf(c, "%v", err)
			}
			var opts []coord.LeaseOption
			if c.IsSet("key") {
				opts = append(opts, coord.WithLeaseKey(c.String("key")))
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Grant(ctx, ttl, opts...)
				if err != nil {
					return err
				}
				return printLeaseGrant(env.stdout, format, resp)
			})
		},
	}
}

func leaseRevokeCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "Revoke a lease, deleting its keys",
		ArgsUsage: "ID",
		UsageText: `coord lease revoke ID

Ends the lease now and deletes every key attached to it, at one revision.

   coord lease revoke 694d77aa9e38260f`,
		Action: func(c *cli.Context) error {
			id, err := leaseIDArg(c)
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Revoke(ctx, id)
				if err != nil {
					return leaseError(id, err)
				}
				return printLeaseRevoke(env.stdout, format, id, resp)
			})
		},
	}
}

// leaseError names the lease in a "not found" error.
func leaseError(id int64, err error) error {
	if errors.Is(err, coord.ErrLeaseNotFound) {
		return errLeaseNotFound(id)
	}
	return err
}

func errLeaseNotFound(id int64) error {
	return errors.New("lease " + leaseHex(id) + " not found (expired or revoked)")
}

func leaseKeepAliveCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "keepalive",
		Aliases:   []string{"keep-alive"},
		Usage:     "Renew a lease until interrupted",
		ArgsUsage: "ID",
		UsageText: `coord lease keepalive ID [--once]

Renews the lease every third of its TTL, printing
"lease ID keepalived with TTL(N)" for each renewal, until Ctrl-C (exit 0).
If the lease expires or is revoked it exits 1. --once renews once.

   coord lease keepalive 694d77aa9e38260f
   coord lease keepalive 694d77aa9e38260f --once`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "once", Usage: "renew once and exit"},
		},
		Action: func(c *cli.Context) error {
			id, err := leaseIDArg(c)
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			return withClient(c, func(cl *coord.Client) error {
				if c.Bool("once") {
					ctx, cancel := callContext(c)
					defer cancel()
					resp, err := cl.KeepAliveOnce(ctx, id)
					if err != nil {
						return keepAliveError(id, err)
					}
					ttl, _ := keepAliveTTL(resp, id)
					return printLeaseKeepAlive(env.stdout, format, id, ttl, resp)
				}
				ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
				defer stop()
				return keepAliveLoop(ctx, c, cl, env, format, id)
			})
		},
	}
}

// keepAliveLoop renews lease id until ctx ends (nil) or the lease is lost.
func keepAliveLoop(ctx context.Context, c *cli.Context, cl *coord.Client, env *cliEnv, format string, id int64) error {
	// The first renewal is bounded by --timeout, so an unreachable cluster
	// or a missing lease fails fast; KeepAlive then renews on its own.
	fctx, cancel := ctx, context.CancelFunc(func() {})
	if d := c.Duration("timeout"); d > 0 {
		fctx, cancel = context.WithTimeout(ctx, d)
	}
	_, err := cl.KeepAliveOnce(fctx, id)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return keepAliveError(id, err)
	}
	ch, err := cl.KeepAlive(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return keepAliveError(id, err)
	}
	for resp := range ch {
		ttl, ok := keepAliveTTL(resp, id)
		if ok && ttl <= 0 {
			return errLeaseLost(id)
		}
		if err := printLeaseKeepAlive(env.stdout, format, id, ttl, resp); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	// The channel closed on its own: ask once more to tell a lost lease
	// from an unreachable cluster.
	qctx, cancel := callContext(c)
	defer cancel()
	if _, err := cl.KeepAliveOnce(qctx, id); err != nil {
		return keepAliveError(id, err)
	}
	return errors.New("lease " + leaseHex(id) + ": keep-alive stopped (renewals failed for a whole TTL)")
}

func keepAliveError(id int64, err error) error {
	if errors.Is(err, coord.ErrLeaseNotFound) {
		return errLeaseLost(id)
	}
	return err
}

func leaseTTLCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "ttl",
		Aliases:   []string{"timetolive"},
		Usage:     "Show how long a lease has left",
		ArgsUsage: "ID",
		UsageText: `coord lease ttl ID [--keys]

Prints "lease ID granted with TTL(Ns), remaining(Ms)", and with --keys the
attached keys; "lease ID already expired" when it no longer exists.

   coord lease ttl 694d77aa9e38260f
   coord lease ttl 694d77aa9e38260f --keys -w json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "keys", Usage: "also list the keys attached to the lease"},
		},
		Action: func(c *cli.Context) error {
			id, err := leaseIDArg(c)
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			withKeys := c.Bool("keys")
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.TimeToLive(ctx, id, withKeys)
				if errors.Is(err, coord.ErrLeaseNotFound) {
					resp, err = &coord.LeaseTimeToLiveResponse{ID: id, TTL: -1}, nil
				}
				if err != nil {
					return err
				}
				return printLeaseTTL(env.stdout, format, id, resp, withKeys)
			})
		},
	}
}

func leaseListCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:    "list",
		Aliases: []string{"ls"},
		Usage:   "List the leases of every shard",
		UsageText: `coord lease list

Prints "found N leases", then one lease ID per line. With -w table it
prints ID SHARD TTL columns (TTL as granted).

   coord lease list
   coord lease list -w table`,
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Leases(ctx)
				if err != nil {
					return err
				}
				return printLeases(env.stdout, format, resp)
			})
		},
	}
}
