package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/barrier"
	"github.com/coord-io/coord/coord"
)

func barrierCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "barrier",
		Usage: "Hold and wait at gate barriers; meet at double barriers",
		UsageText: `coord barrier hold|release|wait|enter ARGS... (see coord barrier COMMAND --help)

A gate barrier is held or open: wait blocks while it is held. A double
barrier lets N participants start together (enter returns once all N are
in) and finish together (leaving returns once all have left); a
participant that crashes is removed when its session lease expires.

   coord barrier hold deploy; coord barrier wait deploy   # (elsewhere) blocks...
   coord barrier release deploy                           # ...until this
   coord barrier enter batch --count 3 -- ./step.sh       # on each of 3 hosts`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			barrierGateCommand(env, "hold", "Hold a gate barrier: wait blocks until it is released",
				`coord barrier hold NAME

Holds gate barrier NAME (holding a held gate changes nothing) and prints
OK. Any client may release it.

   coord barrier hold deploy`),
			barrierGateCommand(env, "release", "Release a gate barrier: every wait returns",
				`coord barrier release NAME

Opens gate barrier NAME (releasing an open gate changes nothing), which
lets every coord barrier wait NAME return, and prints OK.

   coord barrier release deploy`),
			barrierWaitCommand(env),
			barrierEnterCommand(env),
		},
	}
}

// barrierError names the barrier in an error of the server's about it.
func barrierError(name string, err error) error {
	if errors.Is(err, coord.ErrInvalid) && !strings.Contains(err.Error(), strconv.Quote(name)) {
		return fmt.Errorf("barrier %q: %w", name, err)
	}
	return err
}

// barrierGateCommand is barrier hold or barrier release.
func barrierGateCommand(env *cliEnv, verb, usage, usageText string) *cli.Command {
	return &cli.Command{
		Name:      verb,
		Usage:     usage,
		ArgsUsage: "NAME",
		UsageText: usageText,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				b := barrier.New(cl, name)
				hold := verb == "hold"
				if hold {
					err = b.Hold(ctx)
				} else {
					err = b.Release(ctx)
				}
				if err != nil {
					return barrierError(name, err)
				}
				return printOK(env.stdout, format, struct {
					Name string `json:"name"`
					Held bool   `json:"held"`
				}{name, hold})
			})
		},
	}
}

func barrierWaitCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "Wait until a gate barrier is released",
		ArgsUsage: "NAME",
		UsageText: `coord barrier wait NAME

Blocks while gate barrier NAME is held, as long as it takes (the global
--timeout is per request, not the wait), then exits 0, printing nothing.
Returns at once if the gate is open. Ctrl-C gives up (exit 1).

   coord barrier wait deploy && ./start.sh`,
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "NAME")
			if err != nil {
				return err
			}
			if _, err := outputFormat(c); err != nil {
				return err
			}
			if err := barrier.ValidateName(args[0]); err != nil {
				return err
			}
			return withClient(c, func(cl *coord.Client) error {
				return barrierWait(c, cl, args[0])
			})
		},
	}
}

func barrierWait(c *cli.Context, cl *coord.Client, name string) error {
	// Reach the cluster first, within the per-request --timeout: an
	// unreachable cluster fails now instead of waiting forever.
	rctx, rcancel := requestContext(c)
	_, err := cl.ShardOf(rctx, string(barrier.Prefix(name)))
	rcancel()
	if err != nil {
		return err
	}
	sigs, stop := interrupts(c.Context)
	defer stop()
	b := barrier.New(cl, name)
	end, err := untilInterrupted(context.Background(), sigs, nil, func(ctx context.Context) error {
		for {
			err := b.Wait(ctx)
			if errors.Is(err, coord.ErrCanceled) && ctx.Err() == nil {
				continue // the wait was cut off (a lost connection): wait again
			}
			return err
		}
	})
	if end == waitInterrupted {
		return fmt.Errorf("interrupted while waiting at barrier %s", name)
	}
	return barrierError(name, err)
}

func barrierEnterCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "enter",
		Usage:     "Enter a double barrier: start with the others, finish with them",
		ArgsUsage: "NAME --count N [-- COMMAND [ARGS...]]",
		UsageText: `coord barrier enter NAME --count N [--ttl DUR] [--kill-grace DUR] [-- COMMAND [ARGS...]]

Enters double barrier NAME and waits until N participants are in, then:
  - without a command: prints "entered", leaves at once, waits until every
    participant has left and prints "left";
  - with a command: runs it with COORD_BARRIER_NAME and COORD_BARRIER_COUNT
    in its environment; when it exits, leaves, waits until every
    participant has left and exits with its status (128+N if signal N
    killed it).
Participation is held through a session lease (--ttl): a participant
whose coord died is removed after the TTL, so the others are not stuck.
The command never outlives the participation: if the session is lost it
gets SIGTERM, then SIGKILL after --kill-grace, and coord exits 1; if coord
is killed the kernel kills the command too (Linux). Ctrl-C while waiting
gives up and leaves (exit 1).

   coord barrier enter batch --count 3 -- ./step.sh      # all 3 start together
   coord barrier enter batch --count 3 -- date +%s.%N
   coord barrier enter rendezvous --count 2 && echo both here`,
		Flags: append(guardFlags(),
			&cli.Int64Flag{Name: "count", Usage: "the number `N` of participants to wait for", DefaultText: "required"},
		),
		Action: func(c *cli.Context) error {
			args, o, err := parseGuard(c, 1, "NAME")
			if err != nil {
				return err
			}
			if !c.IsSet("count") {
				return usageErrorf(c, "missing --count N: the number of participants")
			}
			count := c.Int64("count")
			if count < 1 {
				return usageErrorf(c, "--count must be at least 1")
			}
			if err := barrier.ValidateName(args[0]); err != nil {
				return err
			}
			if o.argv != nil {
				if err := checkCommand(o.argv); err != nil {
					return err
				}
			}
			return withClient(c, func(cl *coord.Client) error {
				return barrierEnter(c, env, cl, args[0], count, o)
			})
		},
	}
}

func barrierEnter(c *cli.Context, env *cliEnv, cl *coord.Client, name string, count int64, o guardOptions) error {
	sigs, stopSignals := interrupts(c.Context)
	defer stopSignals()

	s, err := coord.NewSession(cl, coord.WithTTL(o.ttl))
	if err != nil {
		return err
	}
	// Closing the session revokes its lease, which removes us from the
	// barrier whatever happens below.
	defer func() { _ = s.Close() }()
	// The session's lease first, within the per-request --timeout: an
	// unreachable cluster fails now instead of waiting forever.
	lctx, cancel := requestContext(c)
	_, err = s.Lease(lctx, string(barrier.Prefix(name)))
	cancel()
	if err != nil {
		return err
	}
	d := barrier.NewDouble(s, name, count)

	// wait runs step (Enter or Leave) until it returns, Ctrl-C or the end
	// of the session.
	wait := func(step func(context.Context) error, what string) error {
		end, err := untilInterrupted(context.Background(), sigs, s.Done(), step)
		switch end {
		case waitInterrupted:
			return fmt.Errorf("interrupted while %s barrier %s", what, name)
		case waitStopped:
			return fmt.Errorf("barrier %s: session expired while %s", name, what)
		default:
			return barrierError(name, err)
		}
	}

	if err := wait(d.Enter, "entering"); err != nil {
		return err
	}
	if o.argv == nil {
		if err := printBarrierStep(env.stdout, o.format, name, count, "entered"); err != nil {
			return err
		}
		if err := wait(d.Leave, "leaving"); err != nil {
			return err
		}
		return printBarrierStep(env.stdout, o.format, name, count, "left")
	}

	r := guardedRunner(env, o, s, []string{
		"COORD_BARRIER_NAME=" + name,
		"COORD_BARRIER_COUNT=" + strconv.FormatInt(count, 10),
	})
	out, err := r.run(sigs, s.Done())
	if err != nil {
		return err
	}
	if out.lost {
		return fmt.Errorf("barrier %s: session expired; command terminated", name)
	}
	if out.interrupted != nil {
		// Interrupted: do not wait for the others (closing the session
		// leaves the barrier); the command's status is ours, as for lock
		// acquire.
		return exitWith(out.code)
	}
	if err := wait(d.Leave, "leaving"); err != nil {
		if out.code != exitOK {
			fmt.Fprintf(env.stderr, "Error: %s\n", describeError(err))
			return exitWith(out.code)
		}
		return err
	}
	return exitWith(out.code)
}

// printBarrierStep prints "entered" or "left" (barrier enter without a
// command).
func printBarrierStep(w io.Writer, format, name string, count int64, step string) error {
	if format == formatJSON {
		return writeJSON(w, struct {
			Name  string `json:"name"`
			Count int64  `json:"count"`
			State string `json:"state"`
		}{name, count, step})
	}
	fmt.Fprintln(w, step)
	return nil
}
