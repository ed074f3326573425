package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
)

func electCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "elect",
		Usage: "Campaign in leader elections and follow them",
		UsageText: `coord elect NAME VALUE [flags] [-- COMMAND [ARGS...]]   (etcdctl's form of elect campaign)
   coord elect campaign|leader|observe|resign ARGS... (see coord elect COMMAND --help)

"coord elect NAME VALUE" is "coord elect campaign NAME VALUE", as etcdctl
elect NAME VALUE. A subcommand's name wins: an election named "leader" is
campaigned in with "coord elect campaign leader VALUE".

An election has at most one leader at a time; candidates lead in arrival
order. Leadership is held through a session lease, so a leader that stops
renewing it (crashed, partitioned) loses it after the TTL. Each leadership
has a term, strictly increasing per election: use it as a fencing token.

   coord elect db-primary "$(hostname)" -- ./run-primary.sh
   coord elect campaign db-primary "$(hostname)" -- ./run-primary.sh   # the same
   coord elect leader db-primary
   coord elect observe db-primary`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			electCampaignCommand(env),
			electLeaderCommand(env),
			electObserveCommand(env),
			electResignCommand(env),
		},
	}
}

func electCampaignCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "campaign",
		Usage:     "Become the leader and stay it, or run a command while leading",
		ArgsUsage: "NAME VALUE [-- COMMAND [ARGS...]]",
		UsageText: `coord elect campaign NAME VALUE [--ttl DUR] [--kill-grace DUR] [-- COMMAND [ARGS...]]

Waits until this candidate leads election NAME with VALUE, then:
  - without a command: prints NAME, VALUE and "term T" on three lines and
    leads until Ctrl-C or SIGTERM, then resigns (exit 0);
  - with a command: runs it with COORD_ELECTION_NAME, COORD_ELECTION_VALUE,
    COORD_ELECTION_TERM and COORD_ELECTION_LEASE (the session lease, which
    coord elect resign --lease needs) in its environment, resigns when it
    exits and exits with its status (128+N if signal N killed it).
The command never outlives the leadership: if it is lost (session expired,
or made to resign with coord elect resign --lease) the command gets SIGTERM, then
SIGKILL after --kill-grace, and coord exits 1; if coord is killed the
kernel kills the command too (Linux). Ctrl-C or SIGTERM to coord is passed
on to the command, which is waited for (then SIGKILLed after --kill-grace).

   coord elect campaign scheduler "$(hostname)"
   coord elect campaign scheduler "$(hostname)" --ttl 5s -- ./scheduler --term-file /dev/null
   coord elect campaign db-primary 10.0.0.5:5432 -- sh -c 'exec pg-promote --fence $COORD_ELECTION_TERM'`,
		Flags: guardFlags(),
		Action: func(c *cli.Context) error {
			args, o, err := parseGuard(c, 2, "NAME VALUE")
			if err != nil {
				return err
			}
			if o.argv != nil {
				if err := checkCommand(o.argv); err != nil {
					return err
				}
			}
			return withClient(c, func(cl *coord.Client) error {
				return electCampaign(c, env, cl, args[0], args[1], o)
			})
		},
	}
}

func electCampaign(c *cli.Context, env *cliEnv, cl *coord.Client, name, value string, o guardOptions) error {
	sigs, stopSignals := interrupts(c.Context)
	defer stopSignals()

	// One bounded request first: an unreachable cluster or a bad name
	// fails now instead of waiting forever.
	if _, err := electionLeader(c, cl, name); err != nil && !errors.Is(err, coord.ErrNotFound) {
		return err
	}
	s, err := coord.NewSession(cl, coord.WithTTL(o.ttl))
	if err != nil {
		return err
	}
	held := &heldSession{s: s}
	defer held.Close()
	e := election.New(s, name)

	end, err := untilInterrupted(context.Background(), sigs, nil, func(ctx context.Context) error { return e.Campaign(ctx, value) })
	resign := func() error {
		if err := held.release(c, e.Resign); err != nil {
			return fmt.Errorf("resigning from election %s: %w", name, err)
		}
		return nil
	}
	switch {
	case end == waitInterrupted:
		if err == nil {
			_ = resign()
		}
		return fmt.Errorf("interrupted while campaigning in election %s", name)
	case err != nil:
		return electionError(name, err)
	}
	term := e.Term()

	// Leadership ends with the session, or when someone makes us resign.
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	lost := watchLeadership(wctx, cl, name, term, s.Done())

	// stopWatch first: our own resignation is no loss.
	release := func() error { stopWatch(); return resign() }
	if o.argv == nil {
		lr := &wire.LeaderResponse{Key: e.Key(), Value: []byte(value), Term: term, Lease: e.Lease()}
		return holdUntilSignal(func() error { return printCampaignLeader(env.stdout, o.format, name, lr) }, sigs, lost.done, release,
			func() error { return fmt.Errorf("leadership of %s lost (%s)", name, lost.reason()) })
	}

	cmdEnv := []string{
		"COORD_ELECTION_NAME=" + name,
		"COORD_ELECTION_VALUE=" + value,
		"COORD_ELECTION_TERM=" + strconv.FormatInt(term, 10),
		"COORD_ELECTION_LEASE=" + formatLease(e.Lease()),
	}
	return runGuarded(env, o, s, cmdEnv, sigs, lost.done, release, func() error {
		_ = release() // if made to resign, the session still holds a lease
		return fmt.Errorf("leadership of %s lost (%s); command terminated", name, lost.reason())
	})
}

// leadershipLoss is closed (done) when a leadership ends, with why.
type leadershipLoss struct {
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	why  string
}

func (l *leadershipLoss) lose(why string) {
	l.once.Do(func() {
		l.mu.Lock()
		l.why = why
		l.mu.Unlock()
		close(l.done)
	})
}

func (l *leadershipLoss) reason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.why
}

// watchLeadership reports the end of our leadership of term in election
// name: the session ends (sessionDone), or the election moves on without
// us (someone made us resign). It stops when ctx ends.
func watchLeadership(ctx context.Context, cl *coord.Client, name string, term int64, sessionDone <-chan struct{}) *leadershipLoss {
	l := &leadershipLoss{done: make(chan struct{})}
	const resigned = "resigned by another client"
	go func() {
		select {
		case <-sessionDone:
			l.lose("session expired")
		case <-ctx.Done():
		}
	}()
	go func() {
		for o := range election.Observe(ctx, cl, name) {
			switch {
			case o.Err != nil:
				// The observation ended for good; the session still guards.
				return
			case o.Leader != nil && o.Leader.Term == term:
				// Still us (perhaps a new value).
			case o.Leader != nil && o.Leader.Term < term:
				// A report from before our term: stale.
			case o.Leader != nil:
				l.lose(resigned)
				return
			default:
				// Nobody leads: make sure it is not a stale report.
				rctx, cancel := context.WithTimeout(ctx, defaultCallTimeout)
				lr, err := election.Leader(rctx, cl, name)
				cancel()
				if errors.Is(err, coord.ErrNotFound) || err == nil && lr.Term != term {
					l.lose(resigned)
					return
				}
			}
		}
	}()
	return l
}

// defaultCallTimeout bounds requests made in the background.
const defaultCallTimeout = 5 * time.Second

// electionLeader asks who leads election name, within the global --timeout.
func electionLeader(c *cli.Context, cl *coord.Client, name string) (*wire.LeaderResponse, error) {
	ctx, cancel := callContext(c)
	defer cancel()
	return election.Leader(ctx, cl, name)
}

// electionError names the election in the errors users act on.
func electionError(name string, err error) error {
	switch {
	case errors.Is(err, coord.ErrNotFound):
		return &watchError{msg: "election " + name + " has no leader", err: err}
	case errors.Is(err, coord.ErrInvalid):
		return fmt.Errorf("election %q: %w", name, err)
	}
	return err
}

func electLeaderCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "leader",
		Usage:     "Show the leader of an election",
		ArgsUsage: "NAME",
		UsageText: `coord elect leader NAME

Prints the leader's value line, then "term T"; exits 1 when nobody leads.

   coord elect leader db-primary
   coord elect leader db-primary -w json   # {"header":...,"name":...,"key":...,"value":...,"term":N,"lease":N}`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			return withClient(c, func(cl *coord.Client) error {
				lr, err := electionLeader(c, cl, name)
				if err != nil {
					return electionError(name, err)
				}
				return printLeader(env.stdout, format, name, lr)
			})
		},
	}
}

func electObserveCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "observe",
		Usage:     "Stream the leader changes of an election",
		ArgsUsage: "NAME",
		UsageText: `coord elect observe NAME

Prints the current leader (if any), then each new leader or new value, as
two lines: the value, then "term T"; until Ctrl-C (exit 0). A moment with
no leader prints nothing. With -w json, one object per line as in
coord elect leader -w json.

   coord elect observe db-primary
   coord elect observe db-primary -w json`,
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			if format == formatTable {
				format = formatSimple // a stream of one-row tables helps nobody
			}
			return withClient(c, func(cl *coord.Client) error {
				// Fail fast when the cluster is unreachable or the name is bad.
				if _, err := electionLeader(c, cl, name); err != nil && !errors.Is(err, coord.ErrNotFound) {
					return electionError(name, err)
				}
				sigs, stop := interrupts(c.Context)
				defer stop()
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				obs := election.Observe(ctx, cl, name)
				for {
					select {
					case <-sigs:
						return nil
					case o, ok := <-obs:
						if !ok {
							return fmt.Errorf("observing election %s: the stream ended", name)
						}
						if o.Err != nil {
							return electionError(name, o.Err)
						}
						if o.Leader == nil {
							continue
						}
						if err := printLeader(env.stdout, format, name, o.Leader); err != nil {
							return err
						}
					}
				}
			})
		},
	}
}

func electResignCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:      "resign",
		Usage:     "Make the leader of an election step down",
		ArgsUsage: "NAME --lease ID",
		UsageText: `coord elect resign NAME --lease ID

Makes the current leader resign; the next candidate leads. A coord elect
campaign that led stops its command and exits 1. Only the leader's owner
may do it: --lease is the leader's session lease (hex), as shown by
coord elect leader NAME -w json or -w table, coord elect campaign -w json,
and COORD_ELECTION_LEASE in the environment of a campaign's command.
Prints OK; exits 1 when nobody leads or the lease is not the leader's
("not owner"), changing nothing.

   coord elect resign db-primary --lease 694d7b3a2c1e0005`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lease", Usage: "the leader's session lease `ID` (hex): proves the right to resign it"},
		},
		Action: func(c *cli.Context) error {
			name, format, err := nameAndFormat(c)
			if err != nil {
				return err
			}
			if !c.IsSet("lease") {
				return usageErrorf(c, "missing --lease ID: the leader's session lease (coord elect leader %s -w json shows it)", name)
			}
			lease, err := parseLeaseArg(c.String("lease"))
			if err != nil {
				return usageErrorf(c, "--lease: %v", err)
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				if err := election.ResignLeader(ctx, cl, name, lease); err != nil {
					return electionError(name, err)
				}
				return printOK(env.stdout, format, struct {
					Name     string `json:"name"`
					Resigned bool   `json:"resigned"`
				}{name, true})
			})
		},
	}
}
