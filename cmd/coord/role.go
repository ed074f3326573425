package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

func roleCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "role",
		Usage: "Add, delete, list and inspect roles; grant and revoke their permissions",
		UsageText: `coord role add|delete|get|list|grant-permission|revoke-permission ARGS... (see coord role COMMAND --help)

A role holds permissions: read, write or readwrite on a key, a range of
keys [KEY, RANGE_END) or a prefix of keys (--prefix) — or, with --kind,
on the names of one kind of primitive: lock (mutexes and read-write
locks), election, queue, barrier or semaphore. Users get roles with
coord user grant-role. Role root may do everything.

   coord role add app
   coord role grant-permission app readwrite /app/ --prefix
   coord role grant-permission app write jobs- --prefix --kind lock
   coord role get app
   coord role revoke-permission app jobs- --prefix --kind lock`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			roleNameCommand(env, "add", "Add a role (without permissions)", "Role %s created",
				func(ctx context.Context, cl *coord.Client, name string) error { return cl.RoleAdd(ctx, name) }),
			roleNameCommand(env, "delete", "Delete a role (and take it from its users)", "Role %s deleted",
				func(ctx context.Context, cl *coord.Client, name string) error { return cl.RoleDelete(ctx, name) }),
			roleGetCommand(env),
			roleListCommand(env),
			rolePermissionCommand(env, true),
			rolePermissionCommand(env, false),
		},
	}
}

func roleNameCommand(env *cliEnv, name, usage, done string, do func(context.Context, *coord.Client, string) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ROLE",
		UsageText: fmt.Sprintf("coord role %s ROLE", name),
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "ROLE")
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := do(ctx, cl, args[0]); err != nil {
					return err
				}
				return printDone(env.stdout, format, fmt.Sprintf(done, args[0]),
					jsonRoleDone{Role: args[0], Created: name == "add", Deleted: name == "delete"})
			})
		},
	}
}

func roleGetCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "Print the permissions of a role",
		ArgsUsage: "ROLE",
		UsageText: `coord role get ROLE [-w simple|json|table]

Prints the role's permissions as etcdctl does, by kind and type:
   Role app
   KV Read:
   	[/app/, /app0) (prefix /app/)
   KV Write:
   	[/app/, /app0) (prefix /app/)
   Lock Write:
   	[jobs-, jobs.) (prefix jobs-)
A single key is printed alone, a range as [KEY, RANGE_END).`,
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "ROLE")
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				perms, err := cl.RoleGet(ctx, args[0])
				if err != nil {
					return err
				}
				return printRole(env.stdout, format, args[0], perms)
			})
		},
	}
}

func roleListCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "Print every role, one a line",
		UsageText: "coord role list [-w simple|json|table]",
		Action: func(c *cli.Context) error {
			format, err := noArgsFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				roles, err := cl.RoleList(ctx)
				if err != nil {
					return err
				}
				return printNames(env.stdout, format, "roles", "ROLE", roles)
			})
		},
	}
}

// permissionFlags are the flags of grant-permission and revoke-permission.
func permissionFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "prefix", Usage: "KEY is a prefix: every key (or name) that starts with it"},
		&cli.StringFlag{Name: "kind", Usage: "what KEY names: `KIND` kv, lock, election, queue, barrier or semaphore", Value: wire.KindKV},
	}
}

func rolePermissionCommand(env *cliEnv, grant bool) *cli.Command {
	name, usage, argsUsage := "grant-permission", "Grant a permission to a role", "ROLE read|write|readwrite KEY [RANGE_END]"
	text := `coord role grant-permission ROLE read|write|readwrite KEY [RANGE_END] [--prefix] [--kind KIND]

Allows ROLE to read, write or both on KEY alone, on the range
[KEY, RANGE_END), or with --prefix on every key that starts with KEY.
With --kind lock, election, queue, barrier or semaphore the permission
covers names of that kind of primitive instead of keys (lock covers
mutexes and read-write locks): calls that change a primitive need write,
calls that only look at it need read.
Granting the same KEY, RANGE_END and kind again replaces the type.

   coord role grant-permission app readwrite /app/ --prefix
   coord role grant-permission app read /cfg/a /cfg/m
   coord role grant-permission app write jobs- --prefix --kind lock`
	if !grant {
		name, usage, argsUsage = "revoke-permission", "Revoke a permission from a role", "ROLE KEY [RANGE_END]"
		text = `coord role revoke-permission ROLE KEY [RANGE_END] [--prefix] [--kind KIND]

Removes the permission of ROLE on exactly KEY (or [KEY, RANGE_END), or
the prefix KEY with --prefix) of the kind, whatever its type.

   coord role revoke-permission app /app/ --prefix
   coord role revoke-permission app jobs- --prefix --kind lock`
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: argsUsage,
		UsageText: text,
		Flags:     permissionFlags(),
		Action: func(c *cli.Context) error {
			role, perm, format, err := parsePermission(c, grant)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if grant {
					err = cl.RoleGrantPermission(ctx, role, perm)
				} else {
					err = cl.RoleRevokePermission(ctx, role, perm)
				}
				if err != nil {
					return err
				}
				j := jsonRoleDone{Role: role}
				jp := jsonPermOf(perm)
				if grant {
					j.Granted = &jp
				} else {
					j.Revoked = &jp
				}
				return printDone(env.stdout, format, fmt.Sprintf("Role %s updated", role), j)
			})
		},
	}
}

// parsePermission reads the arguments and flags of grant-permission
// (ROLE TYPE KEY [RANGE_END]) or revoke-permission (ROLE KEY [RANGE_END]).
func parsePermission(c *cli.Context, grant bool) (string, coord.Permission, string, error) {
	var p coord.Permission
	what := "ROLE KEY [RANGE_END]"
	minArgs := 2
	if grant {
		what = "ROLE read|write|readwrite KEY [RANGE_END]"
		minArgs = 3
	}
	args, format, err := argsFormat(c, minArgs, minArgs+1, what)
	if err != nil {
		return "", p, "", err
	}
	role, rest := args[0], args[1:]
	if grant {
		switch rest[0] {
		case "read":
			p.Type = wire.PermRead
		case "write":
			p.Type = wire.PermWrite
		case "readwrite":
			p.Type = wire.PermReadWrite
		default:
			return "", p, "", usageErrorf(c, "unknown permission type %q (want read, write or readwrite)", rest[0])
		}
		rest = rest[1:]
	}
	kind := strings.ToLower(c.String("kind"))
	if !slices.Contains(wire.Kinds, kind) {
		return "", p, "", usageErrorf(c, "unknown --kind %q (want %s)", c.String("kind"), strings.Join(wire.Kinds, ", "))
	}
	p.Kind = kind
	p.Key = []byte(rest[0])
	switch {
	case c.Bool("prefix") && len(rest) > 1:
		return "", p, "", usageErrorf(c, "--prefix and RANGE_END cannot be used together")
	case c.Bool("prefix"):
		p.RangeEnd = wire.PrefixEnd(p.Key)
	case len(rest) > 1:
		if rest[1] <= rest[0] {
			return "", p, "", usageErrorf(c, "RANGE_END %q must be after KEY %q", rest[1], rest[0])
		}
		p.RangeEnd = []byte(rest[1])
	}
	return role, p, format, nil
}
