package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// envKey is where newApp keeps the cliEnv in the App's Metadata, for the
// helpers that only get a *cli.Context (newClient).
const envKey = "coord.env"

// envOf returns the cliEnv of the app running c.
func envOf(c *cli.Context) *cliEnv {
	if app := rootContext(c).App; app != nil {
		if env, ok := app.Metadata[envKey].(*cliEnv); ok {
			return env
		}
	}
	return &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
}

// terminalPrompt returns a function that asks for a password on the
// terminal stdin is, without echo (prompt on stderr); nil when stdin is
// not a terminal.
func terminalPrompt(stdin io.Reader, stderr io.Writer) func(prompt string) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(b), nil
	}
}

// login is the user and password of the global flags, once resolved.
type login struct {
	user, password string
}

// credentials returns the user and password of the global flags --user
// NAME[:PASSWORD] (COORD_USER) and --password (COORD_PASSWORD), as
// etcdctl reads them: with --password, --user is the name alone; without
// it, the name ends at the first colon and the password follows. A user
// without a password is asked for one on a terminal ("Password: ");
// elsewhere it is a usage error. No user: no credentials.
func credentials(c *cli.Context) (user, password string, err error) {
	env := envOf(c)
	if env.login != nil {
		return env.login.user, env.login.password, nil
	}
	g := rootContext(c)
	user = g.String("user")
	passwordSet := g.IsSet("password")
	password = g.String("password")
	switch {
	case user == "" && passwordSet && password != "":
		return "", "", usageErrorf(c, "--password (or COORD_PASSWORD) is set but no --user (or COORD_USER) names the user")
	case user == "":
		return "", "", nil
	case !passwordSet:
		name, pw, ok := strings.Cut(user, ":")
		switch {
		case ok && name == "":
			return "", "", usageErrorf(c, "--user %q: the user name is empty (want NAME[:PASSWORD])", user)
		case ok:
			user, password = name, pw
		case env.readPassword != nil:
			if password, err = env.readPassword("Password: "); err != nil {
				return "", "", err
			}
		default:
			return "", "", usageErrorf(c, "--user %s has no password and stdin is not a terminal to ask for it: give --password (or COORD_PASSWORD), or --user %s:PASSWORD", user, user)
		}
	}
	env.login = &login{user: user, password: password}
	return user, password, nil
}

// newPassword is the new password of user name for user add and user
// passwd: --new-user-password if given; else asked twice on a terminal
// (both must match); else one line read from stdin.
func newPassword(c *cli.Context, env *cliEnv, name string) (string, error) {
	if c.IsSet("new-user-password") {
		p := c.String("new-user-password")
		if p == "" {
			return "", usageErrorf(c, "--new-user-password is empty")
		}
		return p, nil
	}
	if env.readPassword != nil {
		p, err := env.readPassword(fmt.Sprintf("Password of %s: ", name))
		if err != nil {
			return "", err
		}
		if p == "" {
			return "", usageErrorf(c, "the password of %s is empty", name)
		}
		again, err := env.readPassword(fmt.Sprintf("Type password of %s again for confirmation: ", name))
		if err != nil {
			return "", err
		}
		if again != p {
			return "", usageErrorf(c, "the two passwords of %s do not match", name)
		}
		return p, nil
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password of %s from stdin: %w", name, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageErrorf(c, "no password for %s: give --new-user-password, or the password as one line on stdin", name)
	}
	return line, nil
}

// ---- coord auth ----

func authCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "auth",
		Usage: "Turn authentication on or off, or show whether it is on",
		UsageText: `coord auth enable | disable | status

While authentication is off every call is allowed. Once it is on, every
call must name a user (global --user NAME[:PASSWORD] and --password, or
COORD_USER and COORD_PASSWORD) and is allowed only what the user's roles
allow; user root (holding role root) may do everything. auth enable needs
user root; it creates role root and grants it to root if needed.

   coord user add root
   coord auth enable
   coord --user root auth status
   coord --user root:secret auth disable`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			{
				Name:      "enable",
				Usage:     "Turn authentication on (user root must exist)",
				UsageText: "coord auth enable",
				Action: func(c *cli.Context) error {
					format, err := noArgsFormat(c)
					if err != nil {
						return err
					}
					return withCall(c, func(ctx context.Context, cl *coord.Client) error {
						if err := authEnable(ctx, cl); err != nil {
							return err
						}
						return printDone(env.stdout, format, "Authentication Enabled", jsonAuthStatus{Enabled: true})
					})
				},
			},
			{
				Name:      "disable",
				Usage:     "Turn authentication off (as root)",
				UsageText: "coord --user root auth disable",
				Action: func(c *cli.Context) error {
					format, err := noArgsFormat(c)
					if err != nil {
						return err
					}
					return withCall(c, func(ctx context.Context, cl *coord.Client) error {
						if err := cl.AuthDisable(ctx); err != nil {
							return err
						}
						return printDone(env.stdout, format, "Authentication Disabled", jsonAuthStatus{Enabled: false})
					})
				},
			},
			{
				Name:      "status",
				Usage:     "Print whether authentication is on and the auth revision",
				UsageText: "coord auth status [-w simple|json]",
				Action: func(c *cli.Context) error {
					format, err := noArgsFormat(c)
					if err != nil {
						return err
					}
					return withCall(c, func(ctx context.Context, cl *coord.Client) error {
						on, rev, err := cl.AuthStatus(ctx)
						if err != nil {
							return err
						}
						return printAuthStatus(env.stdout, format, on, rev)
					})
				},
			},
		},
	}
}

// errNoRootUser is why auth enable fails when there is no user root.
var errNoRootUser = errors.New("auth enable needs user root: create it first (coord user add root)")

// authEnable turns auth on as etcdctl does: when it fails because user
// root lacks role root, it creates role root if needed, grants it to
// root, and tries once more. Without user root it fails saying so.
func authEnable(ctx context.Context, cl *coord.Client) error {
	err := cl.AuthEnable(ctx)
	if err == nil || !mayLackRoot(err) {
		return err
	}
	roles, gerr := cl.UserGet(ctx, wire.RootUser)
	switch {
	case errors.Is(gerr, coord.ErrNotFound):
		return errNoRootUser
	case gerr != nil:
		return err
	}
	for _, r := range roles {
		if r == wire.RootRole {
			return err // root is fine: the refusal is about something else
		}
	}
	if rerr := cl.RoleAdd(ctx, wire.RootRole); rerr != nil && !errors.Is(rerr, coord.ErrAlreadyExists) {
		return rerr
	}
	if gerr := cl.UserGrantRole(ctx, wire.RootUser, wire.RootRole); gerr != nil {
		return gerr
	}
	return cl.AuthEnable(ctx)
}

// mayLackRoot reports whether an auth enable refusal may be about user
// root or role root (rather than about the caller or the cluster).
func mayLackRoot(err error) bool {
	return errors.Is(err, coord.ErrInvalid) || errors.Is(err, coord.ErrNotFound) ||
		errors.Is(err, coord.ErrUnknown)
}

// printDone prints msg (etcdctl's confirmation, "User alice created"), or
// j as JSON with -w json.
func printDone(w io.Writer, format, msg string, j any) error {
	if format == formatJSON {
		return writeJSON(w, j)
	}
	fmt.Fprintln(w, msg)
	return nil
}

// noArgsFormat checks that c has no arguments and returns its -w format.
func noArgsFormat(c *cli.Context) (string, error) {
	if err := noArgs(c); err != nil {
		return "", err
	}
	return outputFormat(c)
}

// argsFormat checks c's number of arguments and returns them and its -w
// format.
func argsFormat(c *cli.Context, minArgs, maxArgs int, what string) ([]string, string, error) {
	args, err := argsBetween(c, minArgs, maxArgs, what)
	if err != nil {
		return nil, "", err
	}
	format, err := outputFormat(c)
	return args, format, err
}
