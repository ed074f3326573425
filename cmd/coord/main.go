// Command coord is the single Coord binary: it runs members (serve, dev)
// and talks to a cluster (put, get, del, txn, compact, status, ...).
//
// Exit codes: 0 success, 1 the operation failed (one line on stderr), 2 a
// usage error (unknown flag, wrong number of arguments).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is the version printed by `coord version`; release builds set it
// with -ldflags "-X main.version=1.2.3".
var version = "0.1.0-dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	runGuardIfAsked()
	os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args (args[0] is the program name) and returns
// the process exit code. It never calls os.Exit, so tests can call it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdin, stdout, stderr)
}

// runContext is run with a context whose cancellation stops long-running
// commands (serve, dev) as SIGINT would.
func runContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	env := &cliEnv{stdin: stdin, stdout: stdout, stderr: stderr, readPassword: terminalPrompt(stdin, stderr)}
	return runEnv(ctx, env, args)
}

// runEnv is runContext with the environment given (tests set a fake
// terminal prompt).
func runEnv(ctx context.Context, env *cliEnv, args []string) int {
	app := newApp(env)
	err := app.RunContext(ctx, reorderArgs(app, args))
	return reportError(err, env.stderr)
}

// cliEnv is what commands read and write instead of the os globals.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// readPassword asks for a password without echo on the terminal;
	// nil when stdin is not a terminal.
	readPassword func(prompt string) (string, error)
	// login caches the credentials of the global flags (credentials).
	login *login
}

func newApp(env *cliEnv) *cli.App {
	app := &cli.App{
		Name:  "coord",
		Usage: "a distributed coordination service: KV, locks, elections, queues, barriers",
		UsageText: `coord [global flags] COMMAND [flags] [ARGS...]

Flags may stand before or after arguments, and global flags before or after
the command. Everything after "--" is passed through untouched.

   coord dev                           # a local 3-member cluster for trying things
   coord put greeting hello
   coord get greeting -w json
   coord --endpoints 10.0.0.1:7379,10.0.0.2:7379 get --prefix app/
   coord --user alice get --prefix /app/     # asks for alice's password`,
		Version:              version,
		HideVersion:          true,
		EnableBashCompletion: true,
		Writer:               env.stdout,
		ErrWriter:            env.stderr,
		Flags:                globalFlags(),
		Metadata:             map[string]any{envKey: env},
		Commands: []*cli.Command{
			serveCommand(env),
			devCommand(env),
			putCommand(env),
			getCommand(env),
			delCommand(env),
			txnCommand(env),
			watchCommand(env),
			leaseCommand(env),
			lockCommand(env),
			electCommand(env),
			queueCommand(env),
			barrierCommand(env),
			semaphoreCommand(env),
			compactCommand(env),
			statusCommand(env),
			endpointCommand(env),
			memberCommand(env),
			userCommand(env),
			roleCommand(env),
			authCommand(env),
			alarmCommand(env),
			defragCommand(env),
			snapshotCommand(env),
			benchCommand(env),
			versionCommand(env),
			helpCommand(),
		},
		// Help flags and the help command are made per App (below) rather
		// than urfave/cli's shared globals, so apps can run concurrently.
		HideHelp: true,
		// Errors are reported once, by run, with the right exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf(c, "unknown command %q", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	app.Flags = append(app.Flags, newHelpFlag())
	for _, cmd := range app.Commands {
		prepareCommand(cmd)
	}
	return app
}

// prepareCommand applies the settings every command shares.
func prepareCommand(cmd *cli.Command) {
	cmd.OnUsageError = onUsageError
	cmd.HideHelp = true
	cmd.Flags = append(cmd.Flags, newHelpFlag())
	if cmd.CustomHelpTemplate == "" && len(cmd.Subcommands) == 0 {
		cmd.CustomHelpTemplate = cli.CommandHelpTemplate + globalFlagsHelp
	}
	for _, sub := range cmd.Subcommands {
		prepareCommand(sub)
	}
}

// newHelpFlag is a fresh -h/--help flag. urfave/cli recognizes it by name.
func newHelpFlag() cli.Flag {
	return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

// helpCommand is `coord help [COMMAND]`.
func helpCommand() *cli.Command {
	return &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "Show the commands, or the help of one command",
		ArgsUsage: "[COMMAND]",
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 0, 1, "[COMMAND]")
			if err != nil {
				return err
			}
			if len(args) == 0 {
				return cli.ShowAppHelp(c)
			}
			return cli.ShowCommandHelp(c, args[0])
		},
	}
}

func versionCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "Print the version of coord",
		UsageText: "coord version",
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "coord version %s\n", version)
			return nil
		},
	}
}

// globalFlagsHelp ends every command's help.
const globalFlagsHelp = `
GLOBAL OPTIONS (before or after the command; see coord --help):
   --endpoints ADDRS [$COORD_ENDPOINTS]  --timeout DURATION  --dial-timeout DURATION
   -w, --write-out simple|json|table     --cacert FILE  --cert FILE  --key FILE
   --user NAME[:PASSWORD] [$COORD_USER]  --password PASSWORD [$COORD_PASSWORD]
`

// usageError is a mistake in the command line: exit code 2 and a hint.
type usageError struct {
	cmd string // "coord put"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(c *cli.Context, format string, args ...any) error {
	return &usageError{cmd: commandPath(c), msg: fmt.Sprintf(format, args...)}
}

func commandPath(c *cli.Context) string {
	if c != nil && c.Command != nil && c.Command.HelpName != "" {
		// The root command's HelpName is the app's name.
		return c.Command.HelpName
	}
	return "coord"
}

// onUsageError turns flag parsing errors into usage errors.
func onUsageError(c *cli.Context, err error, _ bool) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag: --" + strings.TrimLeft(name, "-")
	}
	return &usageError{cmd: commandPath(c), msg: msg}
}

// reportError writes err (if any) to stderr as one line and returns the
// exit code for it.
func reportError(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ce *commandExit
	if errors.As(err, &ce) {
		// A command run under lock acquire or elect campaign failed: its
		// status is ours, and it has said what went wrong itself.
		return ce.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Error: %s\n", oneLine(ue.msg))
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", ue.cmd)
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		// urfave/cli's own errors, e.g. `coord help nosuchcommand`.
		if msg := oneLine(ec.Error()); msg != "" {
			fmt.Fprintf(stderr, "Error: %s\n", msg)
		}
		if ec.ExitCode() == 0 {
			return exitOK
		}
		return exitUsage
	}
	fmt.Fprintf(stderr, "Error: %s\n", describeError(err))
	return exitError
}

// oneLine folds a possibly multi-line message into one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

// noArgs is a usage error when the command got positional arguments.
func noArgs(c *cli.Context) error {
	if c.Args().Present() {
		return usageErrorf(c, "unexpected argument %q", c.Args().First())
	}
	return nil
}

// argsBetween checks the number of positional arguments.
// groupAction is the Action of a command that only groups subcommands:
// help without arguments, a usage error naming the subcommands for an
// unknown one.
func groupAction(c *cli.Context) error {
	if !c.Args().Present() {
		return cli.ShowSubcommandHelp(c)
	}
	var names []string
	for _, sub := range c.Command.Subcommands {
		if sub.Name != "help" {
			names = append(names, sub.Name)
		}
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	return usageErrorf(c, "unknown %s command %q (want %s)", c.Command.Name, c.Args().First(), want)
}

func argsBetween(c *cli.Context, minArgs, maxArgs int, what string) ([]string, error) {
	args := c.Args().Slice()
	switch {
	case len(args) < minArgs:
		return nil, usageErrorf(c, "missing argument: %s", what)
	case len(args) > maxArgs:
		return nil, usageErrorf(c, "too many arguments: unexpected %q (usage: %s)", args[maxArgs], what)
	}
	return args, nil
}
