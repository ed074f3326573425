package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
)

func semaphoreCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "semaphore",
		Usage: "Acquire permits of counting semaphores and inspect them",
		UsageText: `coord semaphore acquire|status ARGS... (see coord semaphore COMMAND --help)

A semaphore NAME has --limit N permits: at most N are held at once. Each
acquirer asks for --weight W of them (default 1) and waits in arrival
order: the first in line is granted as soon as its weight fits, and
nobody behind it is granted before it, so a large request is not starved
by small ones. Every acquirer gives the same --limit while the semaphore
has holders or waiters. Permits are held through a session lease: if a
holder stops renewing it (crashed, partitioned) its permits are released
after the TTL. Each grant gets a fencing token.

   coord semaphore acquire builds --limit 3 -- make -j8   # at most 3 builds at once
   coord semaphore status builds`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			semaphoreAcquireCommand(env),
			semaphoreStatusCommand(env),
		},
	}
}

func semaphoreAcquireCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "acquire",
		Usage:     "Acquire permits of a semaphore and hold them, or run a command while holding them",
		ArgsUsage: "NAME --limit N [-- COMMAND [ARGS...]]",
		UsageText: `coord semaphore acquire NAME --limit N [--weight W] [--try] [--ttl DUR] [--timeout DUR] [--kill-grace DUR] [-- COMMAND [ARGS...]]

Waits (in arrival order) until W permits of semaphore NAME are held, then:
  - without a command: prints "NAME TOKEN" and holds them until Ctrl-C or
    SIGTERM, then releases them (exit 0);
  - with a command: runs it with COORD_SEMAPHORE_NAME, COORD_SEMAPHORE_TOKEN
    (the fencing token of the grant) and COORD_SEMAPHORE_WEIGHT in its
    environment, releases the permits when it exits and exits with its
    status (128+N if signal N killed it).
With --try it does not wait: if the permits are not free at once it fails
(exit 1) saying how many are held.
The command never outlives the permits: if the session is lost it gets
SIGTERM, then SIGKILL after --kill-grace, and coord exits 1. Cut off from
the cluster, coord stops it in time all the same: SIGKILL when the last
acknowledged renewal was sent TTL - max(250ms, TTL/10) ago (before the
cluster can hand the permits on), SIGTERM min(--kill-grace, TTL/4) before.
If coord is killed the kernel kills the command too (Linux). Ctrl-C or
SIGTERM to coord is passed on to the command, which is waited for (then
SIGKILLed after --kill-grace). Ctrl-C while waiting gives up (exit 1).

Here --timeout is how long to wait for the permits (default: forever); the
global per-request --timeout goes before the command:
coord --timeout 2s semaphore acquire NAME --limit 3 --timeout 1m.

   coord semaphore acquire builds --limit 3               # prints "builds 1234", holds
   coord semaphore acquire builds --limit 3 -- make -j8
   coord semaphore acquire db --limit 10 --weight 4 --timeout 30s -- ./migrate.sh
   coord semaphore acquire db --limit 10 --try -- ./report.sh   # now or never`,
		Flags: append(guardFlags(),
			&cli.Int64Flag{Name: "limit", Usage: "the semaphore's number of permits `N` (the same for every acquirer)", DefaultText: "none, required"},
			&cli.Int64Flag{Name: "weight", Usage: "number of permits `W` to acquire (1 to the limit)", Value: 1},
			&cli.BoolFlag{Name: "try", Usage: "fail at once unless the permits are free now"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up waiting for the permits after `DURATION` (0: wait forever)", DefaultText: "wait forever"},
		),
		CustomHelpTemplate: cli.CommandHelpTemplate + lockAcquireGlobalsHelp,
		Action: func(c *cli.Context) error {
			args, o, err := parseGuard(c, 1, "NAME")
			if err != nil {
				return err
			}
			limit, weight := c.Int64("limit"), c.Int64("weight")
			switch {
			case !c.IsSet("limit"):
				return usageErrorf(c, "--limit is required: the semaphore's number of permits")
			case limit < 1:
				return usageErrorf(c, "--limit must be at least 1")
			case weight < 1:
				return usageErrorf(c, "--weight must be at least 1")
			case weight > limit:
				return usageErrorf(c, "--weight %d is more than --limit %d: it could never be granted", weight, limit)
			}
			wait, err := acquireWait(c, o)
			if err != nil {
				return err
			}
			return withClient(c, func(cl *coord.Client) error {
				return semaphoreAcquire(c, env, cl, args[0], limit, weight, c.Bool("try"), wait, o)
			})
		},
	}
}

func semaphoreAcquire(c *cli.Context, env *cliEnv, cl *coord.Client, name string, limit, weight int64, try bool, wait time.Duration, o guardOptions) error {
	return guardedAcquire{
		kind: "semaphore", name: name, wait: wait,
		check: func() error { _, err := semaphoreStatus(c, cl, name); return err },
		hold: func(s *coord.Session) guardedHold {
			sem := locks.NewSemaphore(s, name, limit, locks.WithWeight(weight), locks.WithSemaphoreOwner([]byte(ownerInfo(o.argv))))
			acquire := sem.Acquire
			if try {
				acquire = sem.TryAcquire
			}
			return guardedHold{
				acquire: acquire,
				release: sem.Release,
				printHeld: func(w io.Writer, format string) error {
					return printSemaphoreHeld(w, format, name, sem)
				},
				env: func() []string {
					return []string{"COORD_SEMAPHORE_NAME=" + name, fmt.Sprintf("COORD_SEMAPHORE_TOKEN=%d", sem.Token()),
						fmt.Sprintf("COORD_SEMAPHORE_WEIGHT=%d", weight)}
				},
			}
		},
		timedOut: func() error { return semaphoreTimeoutError(c, cl, name) },
	}.run(c, env, cl, o)
}

// semaphoreStatus asks for the status of semaphore name within the global
// --timeout.
func semaphoreStatus(c *cli.Context, cl *coord.Client, name string) (*wire.SemaphoreStatusResponse, error) {
	ctx, cancel := requestContext(c)
	defer cancel()
	return locks.SemaphoreStatus(ctx, cl, name)
}

// semaphoreTimeoutError says how the semaphore we gave up waiting for is
// held.
func semaphoreTimeoutError(c *cli.Context, cl *coord.Client, name string) error {
	msg := "timed out waiting for semaphore " + name
	// Not the number of waiters: ours may still be among them until its
	// withdrawal is applied.
	if st, err := semaphoreStatus(c, cl, name); err == nil && st.Limit > 0 {
		msg += fmt.Sprintf(" (%d of %d permits held by %d holder(s))", st.Held, st.Limit, len(st.Holders))
	}
	// Not wrapping coord.ErrTimeout: the advice to raise the per-request
	// --timeout would be wrong here.
	return errors.New(msg)
}

func semaphoreStatusCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "Show a semaphore's limit, its holders and its waiters",
		ArgsUsage: "NAME",
		UsageText: `coord semaphore status NAME

Prints "limit: N", "held: H" (permits held), one "holder: OWNER weight W
token T lease ID ttl Ns" line per holder, "waiters: N" and one "waiter:
OWNER weight W lease ID ttl Ns" line per waiter, in arrival order (the
first waiter is granted next, once its weight fits); "free" and
"waiters: 0" when nobody holds or waits (the next acquirer sets the
limit). OWNER is what the acquirer sent: coord semaphore acquire sends
"HOST pid PID" and the command it runs.

   coord semaphore status builds
   coord semaphore status builds -w json    # {"header":...,"name":...,"limit":N,"held":H,"holders":[...],"waiters":[...]}
   coord semaphore status builds -w table`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				st, err := locks.SemaphoreStatus(ctx, cl, name)
				if err != nil {
					return err
				}
				return printSemaphoreStatus(env.stdout, format, name, st)
			})
		},
	}
}

// printSemaphoreHeld prints what `semaphore acquire` prints once the
// permits are held: "NAME TOKEN", as `lock acquire` does.
func printSemaphoreHeld(w io.Writer, format, name string, sem *locks.Semaphore) error {
	if format == formatJSON {
		j := struct {
			Name      string  `json:"name"`
			Key       *string `json:"key,omitempty"`
			KeyBase64 string  `json:"key_base64,omitempty"`
			Token     int64   `json:"token"`
			Weight    int64   `json:"weight"`
			Limit     int64   `json:"limit"`
		}{Name: name, Token: sem.Token(), Weight: sem.Weight(), Limit: sem.Limit()}
		j.Key, j.KeyBase64 = jsonBytes(sem.Key())
		return writeJSON(w, j)
	}
	fmt.Fprintf(w, "%s %d\n", name, sem.Token())
	return nil
}

type jsonSemOwner struct {
	Key         *string `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	Owner       *string `json:"owner,omitempty"`
	OwnerBase64 string  `json:"owner_base64,omitempty"`
	Weight      int64   `json:"weight"`
	Token       int64   `json:"token,omitempty"`
	Lease       int64   `json:"lease"`
	LeaseTTL    int64   `json:"lease_ttl"`
}

type jsonSemStatus struct {
	Header  jsonHeader     `json:"header"`
	Name    string         `json:"name"`
	Limit   int64          `json:"limit"`
	Held    int64          `json:"held"`
	Holders []jsonSemOwner `json:"holders"`
	Waiters []jsonSemOwner `json:"waiters"`
}

func jsonSemOwners(os []wire.SemaphoreOwner) []jsonSemOwner {
	out := make([]jsonSemOwner, 0, len(os))
	for _, o := range os {
		j := jsonSemOwner{Weight: o.Weight, Token: o.Token, Lease: o.Lease, LeaseTTL: o.LeaseTTL}
		j.Key, j.KeyBase64 = jsonBytes(o.Key)
		j.Owner, j.OwnerBase64 = jsonBytes(o.Owner)
		out = append(out, j)
	}
	return out
}

// printSemaphoreStatus prints `semaphore status`: "limit:", "held:", a
// "holder:" line per holder, "waiters:" and a "waiter:" line per waiter;
// "free" and "waiters: 0" when nobody holds or waits.
func printSemaphoreStatus(w io.Writer, format, name string, r *wire.SemaphoreStatusResponse) error {
	switch format {
	case formatJSON:
		return writeJSON(w, jsonSemStatus{Header: jsonHeaderOf(r.Header), Name: name, Limit: r.Limit, Held: r.Held,
			Holders: jsonSemOwners(r.Holders), Waiters: jsonSemOwners(r.Waiters)})
	case formatTable:
		var rows [][]string
		row := func(state string, o wire.SemaphoreOwner) {
			token := ""
			if o.Token != 0 {
				token = strconv.FormatInt(o.Token, 10)
			}
			rows = append(rows, []string{name, strconv.FormatInt(r.Limit, 10), strconv.FormatInt(r.Held, 10), state,
				displayString(o.Owner), strconv.FormatInt(o.Weight, 10), token, formatLease(o.Lease), fmt.Sprintf("%ds", o.LeaseTTL)})
		}
		for _, o := range r.Holders {
			row("holding", o)
		}
		for _, o := range r.Waiters {
			row("waiting", o)
		}
		if len(rows) == 0 {
			rows = append(rows, []string{name, "", "0", "(free)", "", "", "", "", ""})
		}
		writeBorderedTable(w, []string{"NAME", "LIMIT", "HELD", "STATE", "OWNER", "WEIGHT", "TOKEN", "LEASE", "TTL"}, rows,
			[]bool{false, true, true, false, false, true, true, false, true})
	default:
		if r.Limit == 0 {
			fmt.Fprintln(w, "free")
		} else {
			fmt.Fprintf(w, "limit: %d\n", r.Limit)
			fmt.Fprintf(w, "held: %d\n", r.Held)
			for _, o := range r.Holders {
				fmt.Fprintf(w, "holder: %s weight %d token %d lease %s ttl %ds\n", displayString(o.Owner), o.Weight, o.Token, formatLease(o.Lease), o.LeaseTTL)
			}
		}
		fmt.Fprintf(w, "waiters: %d\n", len(r.Waiters))
		for _, o := range r.Waiters {
			fmt.Fprintf(w, "waiter: %s weight %d lease %s ttl %ds\n", displayString(o.Owner), o.Weight, formatLease(o.Lease), o.LeaseTTL)
		}
	}
	return nil
}
