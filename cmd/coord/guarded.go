package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

// The guarded acquire of lock acquire and semaphore acquire, and the
// pieces elect campaign and barrier enter share with it: a session, a
// hold taken through it (waiting at most --timeout, Ctrl-C gives up),
// then either the grant printed and held until Ctrl-C or SIGTERM, or the
// command run under the session's guard (runner.go) and the hold
// released when it exits.

// guardedHold is the hold a guarded acquire takes through its session: a
// lock, or permits of a semaphore.
type guardedHold struct {
	acquire func(context.Context) error
	release func(context.Context) error
	// printHeld prints the grant when there is no command to run.
	printHeld func(w io.Writer, format string) error
	// env is the command's environment, read once the hold is granted.
	env func() []string
}

// guardedAcquire is what differs between one guarded acquire and another.
type guardedAcquire struct {
	kind string // "lock", "semaphore": names the hold in messages
	name string
	wait time.Duration // how long to wait for the hold; 0: forever
	// check is one bounded request made first: an unreachable cluster or
	// a bad name fails now instead of waiting forever.
	check func() error
	// hold returns the hold to take through session s.
	hold func(s *coord.Session) guardedHold
	// timedOut is the error once wait has passed without a grant.
	timedOut func() error
	// refused, if set, rewrites the other errors of acquire.
	refused func(error) error
}

// acquireWait checks the command to run (if any) and reads the --timeout
// of a guarded acquire: how long to wait for the hold.
func acquireWait(c *cli.Context, o guardOptions) (time.Duration, error) {
	if o.argv != nil {
		if err := checkCommand(o.argv); err != nil {
			return 0, err
		}
	}
	wait := c.Duration("timeout")
	if wait < 0 {
		return 0, usageErrorf(c, "--timeout must not be negative")
	}
	return wait, nil
}

// run takes the hold and holds it, or runs o.argv while holding it.
func (g guardedAcquire) run(c *cli.Context, env *cliEnv, cl *coord.Client, o guardOptions) error {
	sigs, stopSignals := interrupts(c.Context)
	defer stopSignals()

	if err := g.check(); err != nil {
		return err
	}
	s, err := coord.NewSession(cl, coord.WithTTL(o.ttl))
	if err != nil {
		return err
	}
	// Closing the session revokes its lease: whatever happens below, the
	// hold (or our place in its queue) goes with it.
	held := &heldSession{s: s}
	defer held.Close()
	h := g.hold(s)

	ctx := context.Background()
	if g.wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.wait)
		defer cancel()
	}
	end, err := untilInterrupted(ctx, sigs, nil, h.acquire)
	release := func() error {
		if err := held.release(c, h.release); err != nil {
			return fmt.Errorf("releasing %s %s: %w", g.kind, g.name, err)
		}
		return nil
	}
	switch {
	case end == waitInterrupted:
		if err == nil {
			_ = release() // granted as we gave up
		}
		return fmt.Errorf("interrupted while waiting for %s %s", g.kind, g.name)
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		return g.timedOut()
	case err != nil && g.refused != nil:
		return g.refused(err)
	case err != nil:
		return err
	}

	if o.argv == nil {
		return holdUntilSignal(func() error { return h.printHeld(env.stdout, o.format) }, sigs, s.Done(), release,
			func() error { return fmt.Errorf("%s %s lost (session expired)", g.kind, g.name) })
	}
	return runGuarded(env, o, s, h.env(), sigs, s.Done(), release,
		func() error { return fmt.Errorf("%s %s lost (session expired); command terminated", g.kind, g.name) })
}

// holdUntilSignal prints a grant (print), then holds it until Ctrl-C or
// SIGTERM (sigs), which releases it, or until lost closes (lostErr). A
// grant that cannot be printed is released.
func holdUntilSignal(print func() error, sigs <-chan os.Signal, lost <-chan struct{}, release, lostErr func() error) error {
	if err := print(); err != nil {
		_ = release()
		return err
	}
	select {
	case <-sigs:
		return release()
	case <-lost:
		return lostErr()
	}
}

// guardedRunner returns the runner of o.argv, with cmdEnv added to its
// environment, guarded by session s.
func guardedRunner(env *cliEnv, o guardOptions, s *coord.Session, cmdEnv []string) *runner {
	r := &runner{
		argv:  o.argv,
		env:   cmdEnv,
		stdin: env.stdin, stdout: env.stdout, stderr: env.stderr,
		grace: o.grace,
	}
	r.guardedBy(s)
	return r
}

// runGuarded runs o.argv under the guard of session s until it exits or
// lost closes (then it is terminated and runGuarded returns lostErr()),
// releases the hold and exits with the command's status. A failure to
// release counts only when the command succeeded.
func runGuarded(env *cliEnv, o guardOptions, s *coord.Session, cmdEnv []string, sigs <-chan os.Signal, lost <-chan struct{}, release, lostErr func() error) error {
	out, err := guardedRunner(env, o, s, cmdEnv).run(sigs, lost)
	if err != nil {
		_ = release()
		return err
	}
	if out.lost {
		return lostErr()
	}
	if err := release(); err != nil && out.code == exitOK {
		return err
	}
	return exitWith(out.code)
}
