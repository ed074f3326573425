package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

func userCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "Add, delete, list and inspect users; set passwords; grant and revoke roles",
		UsageText: `coord user add|delete|get|list|passwd|grant-role|revoke-role ARGS... (see coord user COMMAND --help)

Users authenticate with a password (global --user NAME[:PASSWORD]) and may
do what their roles allow (coord role). While authentication is on, only
root (a user holding role root) manages users.

   coord user add alice                      # asks for the password twice
   coord user add alice --new-user-password s3cret
   coord user grant-role alice app
   coord user get alice
   coord user passwd alice
   coord user revoke-role alice app
   coord user delete alice`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			userAddCommand(env),
			userNameCommand(env, "delete", "Delete a user", "User %s deleted",
				func(ctx context.Context, cl *coord.Client, name string) error { return cl.UserDelete(ctx, name) }),
			userGetCommand(env),
			userListCommand(env),
			userPasswdCommand(env),
			userRoleCommand(env, "grant-role", "Grant a role to a user", "Role %[2]s is granted to user %[1]s",
				func(ctx context.Context, cl *coord.Client, user, role string) error {
					return cl.UserGrantRole(ctx, user, role)
				}),
			userRoleCommand(env, "revoke-role", "Revoke a role from a user", "Role %[2]s is revoked from user %[1]s",
				func(ctx context.Context, cl *coord.Client, user, role string) error {
					return cl.UserRevokeRole(ctx, user, role)
				}),
		},
	}
}

// newPasswordHelp describes where a new password comes from.
const newPasswordHelp = `The password is --new-user-password, or else asked twice on the terminal
(without echo), or else read as one line from stdin:
   printf '%s\n' "$PW" | coord user add alice`

func userAddCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "add",
		Usage:     "Add a user",
		ArgsUsage: "NAME",
		UsageText: `coord user add NAME [--new-user-password PASSWORD | --no-password]

Adds user NAME, without roles. ` + newPasswordHelp + `
With --no-password the user has no password and can only authenticate by
a client certificate whose common name is NAME (serve --client-cert-auth).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "new-user-password", Usage: "the new user's `PASSWORD` (else asked for, or read from stdin)"},
			&cli.BoolFlag{Name: "no-password", Usage: "a user without password (authenticates by client certificate only)"},
		},
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			name := args[0]
			noPassword := c.Bool("no-password")
			if noPassword && c.IsSet("new-user-password") {
				return usageErrorf(c, "--no-password and --new-user-password cannot be used together")
			}
			var password string
			if !noPassword {
				if password, err = newPassword(c, env, name); err != nil {
					return err
				}
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if noPassword {
					err = cl.UserAddNoPassword(ctx, name)
				} else {
					err = cl.UserAdd(ctx, name, password)
				}
				if err != nil {
					return err
				}
				return printDone(env.stdout, format, fmt.Sprintf("User %s created", name), jsonUserDone{User: name, Created: true})
			})
		},
	}
}

func userPasswdCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "passwd",
		Usage:     "Change the password of a user",
		ArgsUsage: "NAME",
		UsageText: `coord user passwd NAME [--new-user-password PASSWORD]

Sets the password of user NAME. ` + newPasswordHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "new-user-password", Usage: "the new `PASSWORD` (else asked for, or read from stdin)"},
		},
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			password, err := newPassword(c, env, args[0])
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := cl.UserChangePassword(ctx, args[0], password); err != nil {
					return err
				}
				return printDone(env.stdout, format, "Password updated", jsonUserDone{User: args[0], PasswordUpdated: true})
			})
		},
	}
}

// userNameCommand is a user command of one NAME that prints a
// confirmation (format: one %s, the name).
func userNameCommand(env *cliEnv, name, usage, done string, do func(context.Context, *coord.Client, string) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "NAME",
		UsageText: fmt.Sprintf("coord user %s NAME", name),
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := do(ctx, cl, args[0]); err != nil {
					return err
				}
				return printDone(env.stdout, format, fmt.Sprintf(done, args[0]), jsonUserDone{User: args[0], Deleted: true})
			})
		},
	}
}

// userRoleCommand is grant-role or revoke-role (done: %[1]s the user,
// %[2]s the role).
func userRoleCommand(env *cliEnv, name, usage, done string, do func(ctx context.Context, cl *coord.Client, user, role string) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "NAME ROLE",
		UsageText: fmt.Sprintf("coord user %s NAME ROLE", name),
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 2, 2, "NAME ROLE")
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := do(ctx, cl, args[0], args[1]); err != nil {
					return err
				}
				j := jsonUserDone{User: args[0], Granted: args[1]}
				if name == "revoke-role" {
					j = jsonUserDone{User: args[0], Revoked: args[1]}
				}
				return printDone(env.stdout, format, fmt.Sprintf(done, args[0], args[1]), j)
			})
		},
	}
}

func userGetCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "Print the roles of a user",
		ArgsUsage: "NAME",
		UsageText: `coord user get NAME [-w simple|json|table]

Prints "User: NAME" and "Roles: ROLE ..." (sorted).`,
		Action: func(c *cli.Context) error {
			args, format, err := argsFormat(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				roles, err := cl.UserGet(ctx, args[0])
				if err != nil {
					return err
				}
				return printUser(env.stdout, format, args[0], roles)
			})
		},
	}
}

func userListCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "Print every user, one a line",
		UsageText: "coord user list [-w simple|json|table]",
		Action: func(c *cli.Context) error {
			format, err := noArgsFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				users, err := cl.UserList(ctx)
				if err != nil {
					return err
				}
				return printNames(env.stdout, format, "users", "USER", users)
			})
		},
	}
}
