package main

import (
	"github.com/urfave/cli/v2"

	"context"
	"errors"
	"fmt"
	"github.com/coord-io/coord/coord"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Commands run under `lock acquire` and `elect campaign` must never outlive
// what protects them (DESIGN §7):
//
//   - the command runs in its own process group, tied to coord by the
//     kernel's parent-death signal, so a SIGKILLed coord takes it and its
//     children along (on Linux, through a guard process: runner_linux.go);
//   - when the lock or leadership is lost, the group gets SIGTERM, then
//     SIGKILL after a grace period (as `consul lock` does);
//   - whatever the network does, the group gets SIGKILL at the session's
//     conservative deadline (coord.Session.Deadline: the send time of the
//     last acknowledged renewal + TTL − coord.SessionMargin), which comes
//     before the cluster can expire the session's lease and grant the lock
//     to the next waiter, and SIGTERM a little before it (the grace, at
//     most a quarter of the TTL) — a client cut off from the cluster by a
//     silent network learns nothing from the cluster, so it must not wait
//     to be told;
//   - SIGINT/SIGTERM to coord is forwarded to the group, which is then
//     given the same grace period;
//   - when the command itself exits, whatever it left running in its group
//     is killed before the lock is released.
//
// The command is in a process group of its own, so the terminal's Ctrl-C
// reaches coord, which forwards it. One consequence: a command that reads
// from the terminal is a background job and is stopped (SIGTTIN).

// defaultKillGrace is how long a command has between SIGTERM and SIGKILL.
const defaultKillGrace = 5 * time.Second

// runner runs one guarded command.
type runner struct {
	argv   []string
	env    []string // added to coord's environment
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	grace  time.Duration // SIGTERM → SIGKILL
	// deadline, when set, is the guard's deadline (guardedBy): SIGTERM
	// termLead before it, SIGKILL at it. The zero time when the command
	// starts (a session without a lease, which guards nothing): none.
	deadline func() time.Time
	termLead time.Duration
}

// guardedBy makes the command stop by s's deadline: SIGTERM the grace
// before it (at most TTL/4, so a healthy session, which renews every
// TTL/4, never comes near it) and SIGKILL at it.
func (r *runner) guardedBy(s *coord.Session) {
	r.deadline = s.Deadline
	r.termLead = min(r.grace, time.Duration(s.TTL())*time.Second/4)
}

// runOutcome is how a guarded command ended.
type runOutcome struct {
	code int  // its exit status; 128+N when killed by signal N
	lost bool // the guard was lost and the command terminated for it
	// interrupted is the first signal forwarded to the command, if any.
	interrupted os.Signal
}

// run starts the command and waits for it. Each signal from interrupt is
// forwarded to the command's process group; lost closing (the lock or the
// leadership is gone) sends it SIGTERM. Either way it is SIGKILLed if it
// has not exited after the grace period. An error means the command could
// not be started.
func (r *runner) run(interrupt <-chan os.Signal, lost <-chan struct{}) (runOutcome, error) {
	if len(r.argv) == 0 {
		return runOutcome{}, errors.New("no command to run")
	}
	// Say now if the command cannot be found, as a failure of ours.
	if err := checkCommand(r.argv); err != nil {
		return runOutcome{}, err
	}
	// The hold may be gone already — a grant that arrived after the
	// session's deadline (its lease may have expired, the lock moved on):
	// then the command must not start at all.
	if r.lostAlready(lost) {
		return runOutcome{code: exitError, lost: true}, nil
	}
	cmd := guardedCommand(r.argv)
	cmd.Env = append(cmd.Env, r.env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdin, r.stdout, r.stderr
	// With non-file stdio (tests) Go copies through pipes; a grandchild
	// holding them open must not block Wait for long (it is killed anyway).
	cmd.WaitDelay = time.Second

	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the
		// child exits, not the process (golang/go#27505): keep that thread
		// alive, and to ourselves, for as long as the child runs.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return runOutcome{}, fmt.Errorf("cannot run %s: %w", r.argv[0], unwrapExecError(err))
	}
	pgid := cmd.Process.Pid

	var (
		out  runOutcome
		kill <-chan time.Time
	)
	startGrace := func() {
		if kill == nil {
			kill = time.After(r.grace)
		}
	}
	// The deadline's timer wakes at the SIGTERM point, then at the
	// deadline; the deadline only moves on, so an early wake just sets it
	// again.
	var (
		dlTimer  *time.Timer
		dlC      <-chan time.Time
		termSent bool
	)
	armDeadline := func() {
		if r.deadline == nil {
			return
		}
		dl := r.deadline()
		if dl.IsZero() {
			return
		}
		if !termSent {
			dl = dl.Add(-r.termLead)
		}
		if dlTimer == nil {
			dlTimer = time.NewTimer(time.Until(dl))
			dlC = dlTimer.C
			return
		}
		dlTimer.Reset(time.Until(dl))
	}
	armDeadline()
	defer func() {
		if dlTimer != nil {
			dlTimer.Stop()
		}
	}()
	for {
		select {
		case err := <-done:
			// Nothing of the command may run on without the lock.
			killGroup(pgid, syscall.SIGKILL)
			out.code = exitStatus(cmd.ProcessState, err)
			return out, nil
		case sig := <-interrupt:
			if out.interrupted == nil {
				out.interrupted = sig
			}
			s, ok := sig.(syscall.Signal)
			if !ok {
				s = syscall.SIGTERM
			}
			killGroup(pgid, s)
			startGrace()
		case <-lost:
			lost = nil
			out.lost = true
			killGroup(pgid, syscall.SIGTERM)
			startGrace()
		case <-kill:
			kill = nil
			killGroup(pgid, syscall.SIGKILL)
		case <-dlC:
			now, dl := time.Now(), r.deadline()
			switch {
			case !now.Before(dl):
				// The cluster may expire the lease from now on (less the
				// margin): nothing of the command may run any longer.
				out.lost = true
				killGroup(pgid, syscall.SIGKILL)
				dlC = nil
				continue
			case !termSent && !now.Before(dl.Add(-r.termLead)):
				out.lost = true
				termSent = true
				killGroup(pgid, syscall.SIGTERM)
				startGrace()
			}
			armDeadline()
		}
	}
}

// lostAlready reports whether the guard is gone before the command starts:
// lost is closed or the deadline has passed.
func (r *runner) lostAlready(lost <-chan struct{}) bool {
	select {
	case <-lost:
		return true
	default:
	}
	if r.deadline == nil {
		return false
	}
	dl := r.deadline()
	return !dl.IsZero() && !time.Now().Before(dl)
}

// checkCommand fails when the command of argv cannot be found (or is not
// executable): callers check before waiting for a lock, not after.
func checkCommand(argv []string) error {
	if _, err := exec.LookPath(argv[0]); err != nil {
		return fmt.Errorf("cannot run %s: %w", argv[0], unwrapExecError(err))
	}
	return nil
}

// exitStatus is the shell-style exit status of a finished command:
// its exit code, or 128+N when signal N killed it.
func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return exitError
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if err != nil {
		return exitError
	}
	return exitOK
}

// unwrapExecError drops the "fork/exec PATH: " or `exec: "NAME": `
// wrapping of a start or look-up error.
func unwrapExecError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// commandExit makes coord exit with a command's status, printing nothing.
type commandExit struct{ code int }

func (e *commandExit) Error() string { return fmt.Sprintf("command exited with status %d", e.code) }

// exitWith is nil for status 0, else a *commandExit for it.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return &commandExit{code: code}
}

// interrupts delivers the SIGINT/SIGTERM coord receives, and a SIGINT when
// ctx ends (runContext's cancellation stands for Ctrl-C). stop undoes it.
func interrupts(ctx context.Context) (ch <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 4)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case c <- os.Interrupt:
			default:
			}
		case <-quit:
		}
	}()
	return c, func() {
		signal.Stop(c)
		close(quit)
	}
}

// How a blocking call waited on by untilInterrupted ended.
type waitEnd int

const (
	waitReturned    waitEnd = iota // the call returned by itself
	waitInterrupted                // a signal arrived on sigs first
	waitStopped                    // stop was closed first
)

// untilInterrupted runs call with a context derived from ctx and waits for
// it to return. A signal on sigs, or stop closing (nil: never), cancels
// the call's context first; the call is still waited for, so its result
// (say, a lock granted as we gave up) can be undone.
func untilInterrupted(ctx context.Context, sigs <-chan os.Signal, stop <-chan struct{}, call func(context.Context) error) (waitEnd, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		return waitReturned, err
	case <-sigs:
		cancel()
		return waitInterrupted, <-done
	case <-stop:
		cancel()
		return waitStopped, <-done
	}
}

// heldSession is the session behind a lock or leadership held by a
// command: it is closed (its lease revoked, releasing whatever it holds)
// exactly once, by release or when the command returns.
type heldSession struct {
	s      *coord.Session
	closed bool
}

func (h *heldSession) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	return h.s.Close()
}

// release undoes the hold (Unlock, Resign) within the global --timeout and
// closes the session. It fails only when both fail: closing the session
// alone releases the hold too.
func (h *heldSession) release(c *cli.Context, undo func(context.Context) error) error {
	rctx, cancel := requestContext(c)
	defer cancel()
	err := undo(rctx)
	if cerr := h.Close(); err != nil && cerr != nil {
		return err
	}
	return nil
}

// commandLine shows argv the way a shell user would type it, for status
// displays (not for running).
func commandLine(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = shellQuote(a)
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ownerInfo is the owner data sent with a lock or shown for a campaign:
// "HOSTNAME pid PID", then ": COMMAND LINE" when a command runs, cut to a
// reasonable length.
func ownerInfo(argv []string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	s := fmt.Sprintf("%s pid %d", host, os.Getpid())
	if len(argv) > 0 {
		s += ": " + commandLine(argv)
	}
	const maxOwner = 256
	if len(s) > maxOwner {
		s = strings.ToValidUTF8(s[:maxOwner-3], "") + "..."
	}
	return s
}
