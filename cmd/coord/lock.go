package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
)

// defaultSessionTTL is the --ttl of lock acquire and elect campaign: how
// long the lock or leadership outlives a coord that stopped renewing it.
const defaultSessionTTL = "10s"

func lockCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "Acquire distributed locks and inspect them",
		UsageText: `coord lock NAME [flags] [-- COMMAND [ARGS...]]   (etcdctl's form of lock acquire)
   coord lock acquire|status ARGS... (see coord lock COMMAND --help)

"coord lock NAME" is "coord lock acquire NAME", as etcdctl lock NAME. A
subcommand's name wins: a lock named "status" or "acquire" is taken with
"coord lock acquire status".

A lock is held through a session lease: if the holder stops renewing it
(crashed, partitioned) the lock is released after the TTL and the next
waiter, in arrival order, gets it. Each holder gets a fencing token,
strictly increasing per lock: pass it along with the writes the lock
protects so a stale holder's writes can be refused.

With --shared a lock is a read-write lock: shared holders (readers) hold
it together, an exclusive holder (a writer, without --shared) alone, and a
waiting writer blocks the readers that come after it, so writers are not
starved.

   coord lock backup -- ./backup.sh              # run while holding "backup"
   coord lock acquire backup -- ./backup.sh      # the same
   coord lock acquire cfg --shared -- ./read-config.sh
   coord lock status backup`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			lockAcquireCommand(env),
			lockStatusCommand(env),
		},
	}
}

// guardFlags are the flags lock acquire and elect campaign share.
func guardFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ttl", Usage: "session `TTL`: how long the hold outlives a coord that stopped renewing it (seconds or a duration)", Value: defaultSessionTTL},
		&cli.DurationFlag{Name: "kill-grace", Usage: "`DURATION` between SIGTERM and SIGKILL when the command must stop", Value: defaultKillGrace},
	}
}

// guardOptions are the parsed arguments of lock acquire and elect campaign.
type guardOptions struct {
	format string
	ttl    int64
	grace  time.Duration
	argv   []string // the command after "--"; nil: none
}

// parseGuard reads the positional arguments (want of them, named by what)
// and the shared flags of a passthrough command.
func parseGuard(c *cli.Context, want int, what string) ([]string, guardOptions, error) {
	var o guardOptions
	own, argv := splitPassthrough(c.Args().Slice())
	switch {
	case len(own) < want:
		return nil, o, usageErrorf(c, "missing argument: %s", what)
	case len(own) > want:
		return nil, o, usageErrorf(c, "too many arguments: unexpected %q (a command to run goes after \"--\": %s -- COMMAND [ARGS...])", own[want], what)
	case argv != nil && len(argv) == 0:
		return nil, o, usageErrorf(c, "missing command after \"--\"")
	}
	var err error
	if o.format, err = outputFormat(c); err != nil {
		return nil, o, err
	}
	if o.ttl, err = parseTTL(c.String("ttl")); err != nil {
		return nil, o, usageErrorf(c, "--ttl: %v", err)
	}
	if o.grace = c.Duration("kill-grace"); o.grace < 0 {
		return nil, o, usageErrorf(c, "--kill-grace must not be negative")
	}
	o.argv = argv
	return own, o, nil
}

// lockAcquireGlobalsHelp ends the help of commands whose own --timeout
// shadows the global one.
const lockAcquireGlobalsHelp = `
GLOBAL OPTIONS (see coord --help):
   --endpoints ADDRS [$COORD_ENDPOINTS]  --dial-timeout DURATION
   -w, --write-out simple|json|table     --cacert FILE  --cert FILE  --key FILE
   --timeout DURATION (per request) only before the command: coord --timeout 2s lock acquire ...
`

func lockAcquireCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "acquire",
		Usage:     "Acquire a lock and hold it, or run a command while holding it",
		ArgsUsage: "NAME [-- COMMAND [ARGS...]]",
		UsageText: `coord lock acquire NAME [--shared] [--ttl DUR] [--timeout DUR] [--kill-grace DUR] [-- COMMAND [ARGS...]]

Waits (in arrival order) until lock NAME is held, then:
  - without a command: prints "NAME TOKEN" and holds the lock until
    Ctrl-C or SIGTERM, then releases it (exit 0);
  - with a command: runs it with COORD_LOCK_NAME and COORD_LOCK_TOKEN (the
    fencing token) in its environment, releases the lock when it exits and
    exits with its status (128+N if signal N killed it).
The command never outlives the lock: if the session is lost it gets
SIGTERM, then SIGKILL after --kill-grace, and coord exits 1. Cut off from
the cluster, coord stops it in time all the same: SIGKILL when the last
acknowledged renewal was sent TTL - max(250ms, TTL/10) ago (before the
cluster can hand the lock on), SIGTERM min(--kill-grace, TTL/4) before.
If coord is killed the kernel kills the command too (Linux). Ctrl-C or SIGTERM to
coord is passed on to the command, which is waited for (then SIGKILLed
after --kill-grace). Ctrl-C while waiting gives up (exit 1).

With --shared the lock is taken in shared (read) mode: it is held together
with other --shared holders, never beside an exclusive holder, and waits
behind an exclusive acquire that waits (writers are not starved). The
command also gets COORD_LOCK_SHARED=1; its COORD_LOCK_TOKEN names its grant
but fences nothing (only an exclusive holder's token does).

Here --timeout is how long to wait for the lock (default: forever); the
global per-request --timeout goes before the command:
coord --timeout 2s lock acquire NAME --timeout 1m.

   coord lock acquire backup                    # prints "backup 1234", holds
   coord lock acquire backup -- ./backup.sh --full
   coord lock acquire cron/report --timeout 30s -- sh -c 'report --token $COORD_LOCK_TOKEN'
   coord lock acquire cfg --shared -- ./read-config.sh   # many readers at once`,
		Flags: append(guardFlags(),
			&cli.BoolFlag{Name: "shared", Usage: "take the lock in shared (read) mode, together with other --shared holders"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting for the lock after `DURATION` (0: wait forever)", DefaultText: "wait forever"},
		),
		CustomHelpTemplate: cli.CommandHelpTemplate + lockAcquireGlobalsHelp,
		Action: func(c *cli.Context) error {
			args, o, err := parseGuard(c, 1, "NAME")
			if err != nil {
				return err
			}
			wait, err := acquireWait(c, o)
			if err != nil {
				return err
			}
			return withClient(c, func(cl *coord.Client) error {
				return lockAcquire(c, env, cl, args[0], wait, c.Bool("shared"), o)
			})
		},
	}
}

// requestContext is the context of one request of a command whose own
// --timeout shadows the global one: the global --timeout from now. It
// does not end with the command's context, so releasing after an
// interrupt still works.
func requestContext(c *cli.Context) (context.Context, context.CancelFunc) {
	d := rootContext(c).Duration("timeout")
	if d <= 0 {
		d = 5 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

func lockAcquire(c *cli.Context, env *cliEnv, cl *coord.Client, name string, wait time.Duration, shared bool, o guardOptions) error {
	return guardedAcquire{
		kind: "lock", name: name, wait: wait,
		check: func() error { _, err := lockStatus(c, cl, name); return err },
		hold: func(s *coord.Session) guardedHold {
			opts := []locks.MutexOption{locks.WithOwner([]byte(ownerInfo(o.argv)))}
			if shared {
				opts = append(opts, locks.Shared())
			}
			m := locks.NewMutex(s, name, opts...)
			return guardedHold{
				acquire: m.Lock,
				release: m.Unlock,
				printHeld: func(w io.Writer, format string) error {
					return printLockHeld(w, format, name, m.Key(), m.Token())
				},
				env: func() []string {
					cmdEnv := []string{"COORD_LOCK_NAME=" + name, fmt.Sprintf("COORD_LOCK_TOKEN=%d", m.Token())}
					if shared {
						cmdEnv = append(cmdEnv, "COORD_LOCK_SHARED=1")
					}
					return cmdEnv
				},
			}
		},
		timedOut: func() error { return lockTimeoutError(c, cl, name) },
		refused:  func(err error) error { return lockError(name, err) },
	}.run(c, env, cl, o)
}

// lockStatus asks for the status of lock name within the global --timeout.
func lockStatus(c *cli.Context, cl *coord.Client, name string) (*wire.LockStatusResponse, error) {
	ctx, cancel := requestContext(c)
	defer cancel()
	st, err := locks.Status(ctx, cl, name)
	if err != nil {
		return nil, lockError(name, err)
	}
	return st, nil
}

// lockTimeoutError says who holds the lock we gave up waiting for.
func lockTimeoutError(c *cli.Context, cl *coord.Client, name string) error {
	msg := "timed out waiting for lock " + name
	switch st, err := lockStatus(c, cl, name); {
	case err == nil && st.Held && st.Readers > 0:
		msg += fmt.Sprintf(" (held shared by %d reader(s))", st.Readers)
	case err == nil && st.Held:
		msg += fmt.Sprintf(" (held by %s, token %d)", displayString(st.Owner), st.Token)
	}
	// Not wrapping coord.ErrTimeout: the advice to raise the per-request
	// --timeout would be wrong here.
	return errors.New(msg)
}

// lockError names the lock in an error of the server's.
func lockError(name string, err error) error {
	if errors.Is(err, coord.ErrInvalid) {
		return fmt.Errorf("lock %q: %w", name, err)
	}
	return err
}

func lockStatusCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "Show who holds a lock and how many wait for it",
		ArgsUsage: "NAME",
		UsageText: `coord lock status NAME

Prints "holder: OWNER", "token: T", "lease: ID", "ttl: Ns" (the holder's
lease time left) and "waiters: N"; "free" and "waiters: N" when nobody
holds the lock. OWNER is what the holder sent: coord lock acquire sends
"HOST pid PID" and the command it runs.

A lock with --shared owners (holding or waiting) prints "readers: N"
instead of the holder lines while readers hold it, then "holders:" and
"queue:" with one line per owner in queue order:
"  shared|exclusive [token T] lease ID ttl Ns: OWNER". The table has one
row per owner; JSON adds "readers", "holders" and "queue".

   coord lock status backup
   coord lock status backup -w json     # {"header":...,"name":...,"held":true,"owner":...,"token":N,...}
   coord lock status backup -w table`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				st, err := locks.Status(ctx, cl, name)
				if err != nil {
					return lockError(name, err)
				}
				return printLockStatus(env.stdout, format, name, st)
			})
		},
	}
}
