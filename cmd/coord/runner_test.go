package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Guarded commands start through a guard process: this binary again.
	runGuardIfAsked()
	os.Exit(m.Run())
}

// newTestRunner runs sh -c script with output to buffers.
func newTestRunner(script string, env ...string) (*runner, *syncBuffer, *syncBuffer) {
	var out, errOut syncBuffer
	return &runner{
		argv:   []string{"sh", "-c", script},
		env:    env,
		stdin:  strings.NewReader("from stdin\n"),
		stdout: &out,
		stderr: &errOut,
		grace:  5 * time.Second,
	}, &out, &errOut
}

// runAsync runs r in the background.
func runAsync(r *runner, interrupt chan os.Signal, lost chan struct{}) chan runOutcome {
	ch := make(chan runOutcome, 1)
	go func() {
		out, err := r.run(interrupt, lost)
		if err != nil {
			out.code = -1
		}
		ch <- out
	}()
	return ch
}

func waitOutcome(t *testing.T, ch chan runOutcome, d time.Duration) runOutcome {
	t.Helper()
	select {
	case out := <-ch:
		return out
	case <-time.After(d):
		t.Fatalf("command still running after %s", d)
		return runOutcome{}
	}
}

// waitOutput waits until out contains want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, "output "+strconv.Quote(want), func() bool { return strings.Contains(out.String(), want) })
}

func TestRunnerExitStatusEnvAndStdio(t *testing.T) {
	tests := []struct {
		script   string
		code     int
		out, err string
	}{
		{"exit 0", 0, "", ""},
		{"exit 3", 3, "", ""},
		{`echo "$COORD_TEST_A/$COORD_TEST_B"; echo oops >&2; exit 42`, 42, "a/b c\n", "oops\n"},
		{"cat", 0, "from stdin\n", ""},
		{"kill -KILL $$", 128 + 9, "", ""},
		{"kill -TERM $$", 128 + 15, "", ""},
	}
	for _, tt := range tests {
		r, out, errOut := newTestRunner(tt.script, "COORD_TEST_A=a", "COORD_TEST_B=b c")
		res, err := r.run(nil, nil)
		if err != nil || res.code != tt.code || res.lost || res.interrupted != nil {
			t.Errorf("%q: %+v %v, want code %d", tt.script, res, err, tt.code)
		}
		if out.String() != tt.out || errOut.String() != tt.err {
			t.Errorf("%q: stdout %q stderr %q, want %q %q", tt.script, out.String(), errOut.String(), tt.out, tt.err)
		}
	}
}

func TestRunnerCannotStart(t *testing.T) {
	r := &runner{argv: []string{"coord-no-such-command-xyz"}, grace: time.Second}
	_, err := r.run(nil, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot run coord-no-such-command-xyz") || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "fork/exec") {
		t.Fatalf("err %q keeps the fork/exec wrapping", err)
	}
}

func TestRunnerLostTerminatesGracefully(t *testing.T) {
	// A command that exits on SIGTERM: lost → SIGTERM → it exits at once
	// with the status of its trap.
	r, out, _ := newTestRunner(`trap 'echo terminated; exit 7' TERM; echo ready; sleep 30 & wait`)
	lost := make(chan struct{})
	ch := runAsync(r, nil, lost)
	waitOutput(t, out, "ready\n")
	start := time.Now()
	close(lost)
	res := waitOutcome(t, ch, 4*time.Second)
	if !res.lost || res.code != 7 || !strings.Contains(out.String(), "terminated") {
		t.Fatalf("outcome %+v, stdout %q", res, out.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %s: the grace period was waited out", d)
	}
}

func TestRunnerLostKillsAfterGrace(t *testing.T) {
	// A command (and its child) ignoring SIGTERM: SIGKILL after the grace.
	r, out, _ := newTestRunner(`trap '' TERM; echo ready; sleep 30`)
	r.grace = 300 * time.Millisecond
	lost := make(chan struct{})
	ch := runAsync(r, nil, lost)
	waitOutput(t, out, "ready\n")
	start := time.Now()
	close(lost)
	res := waitOutcome(t, ch, 10*time.Second)
	if !res.lost || res.code != 128+9 {
		t.Fatalf("outcome %+v", res)
	}
	if d := time.Since(start); d < r.grace {
		t.Fatalf("killed after %s, before the grace period of %s", d, r.grace)
	}
}

func TestRunnerForwardsInterrupt(t *testing.T) {
	r, out, _ := newTestRunner(`trap 'echo got INT; exit 9' INT; echo ready; sleep 30 & wait`)
	interrupt := make(chan os.Signal, 1)
	ch := runAsync(r, interrupt, nil)
	waitOutput(t, out, "ready\n")
	interrupt <- os.Interrupt
	res := waitOutcome(t, ch, 4*time.Second)
	if res.lost || res.code != 9 || res.interrupted != os.Interrupt || !strings.Contains(out.String(), "got INT") {
		t.Fatalf("outcome %+v, stdout %q", res, out.String())
	}

	// Not handled: the default action kills it; 128+SIGTERM.
	r, out, _ = newTestRunner(`echo ready; sleep 30`)
	interrupt = make(chan os.Signal, 1)
	ch = runAsync(r, interrupt, nil)
	waitOutput(t, out, "ready\n")
	interrupt <- syscall.SIGTERM
	if res := waitOutcome(t, ch, 4*time.Second); res.code != 128+15 || res.interrupted != syscall.SIGTERM {
		t.Fatalf("outcome %+v", res)
	}
}

// pidAlive reports whether process pid exists (and is not a zombie).
func pidAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return err != nil && !os.IsNotExist(err)
	}
	// pid (comm) STATE ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPID(t *testing.T, file string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, "the pid file", func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

func TestRunnerKillsProcessGroup(t *testing.T) {
	// What the command leaves running in its group is killed once it
	// exits: nothing of it runs on after the lock is released.
	pidFile := filepath.Join(t.TempDir(), "pid")
	r, _, _ := newTestRunner(`trap '' TERM; sleep 30 & echo $! > ` + pidFile + `; exit 5`)
	res, err := r.run(nil, nil)
	if err != nil || res.code != 5 {
		t.Fatalf("outcome %+v %v", res, err)
	}
	pid := readPID(t, pidFile)
	waitFor(t, 5*time.Second, "the background child to be killed", func() bool { return !pidAlive(pid) })

	// On loss the whole group gets SIGTERM, then SIGKILL.
	pidFile = filepath.Join(t.TempDir(), "pid")
	r, out, _ := newTestRunner(`(trap '' TERM; sleep 30) & echo $! > ` + pidFile + `; echo ready; wait`)
	r.grace = 200 * time.Millisecond
	lost := make(chan struct{})
	ch := runAsync(r, nil, lost)
	waitOutput(t, out, "ready\n")
	pid = readPID(t, pidFile)
	close(lost)
	if res := waitOutcome(t, ch, 10*time.Second); !res.lost {
		t.Fatalf("outcome %+v", res)
	}
	waitFor(t, 5*time.Second, "the group to be killed", func() bool { return !pidAlive(pid) })
}

// TestRunnerParentDeath runs a runner in a child process (this test binary
// again), SIGKILLs that process, and checks the command and the command's
// own child died with it.
func TestRunnerParentDeath(t *testing.T) {
	if dir := os.Getenv("COORD_TEST_RUNNER_DIR"); dir != "" {
		script := `trap '' TERM; echo $$ > ` + dir + `/pid; (trap '' TERM; sleep 60) & echo $! > ` + dir + `/child; wait`
		r := &runner{argv: []string{"sh", "-c", script}, grace: time.Minute}
		_, _ = r.run(nil, nil)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunnerParentDeath$")
	cmd.Env = append(os.Environ(), "COORD_TEST_RUNNER_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid, child := readPID(t, filepath.Join(dir, "pid")), readPID(t, filepath.Join(dir, "child"))
	if !pidAlive(pid) || !pidAlive(child) {
		t.Fatal("the command is not running")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, 5*time.Second, "the command to die with its coord", func() bool { return !pidAlive(pid) })
	waitFor(t, 5*time.Second, "the command's child to die with its coord", func() bool { return !pidAlive(child) })
}

func TestExitStatusAndCommandExit(t *testing.T) {
	var errOut strings.Builder
	if code := reportError(exitWith(3), &errOut); code != 3 || errOut.String() != "" {
		t.Fatalf("reportError(exitWith(3)) = %d, %q", code, errOut.String())
	}
	if exitWith(0) != nil {
		t.Fatal("exitWith(0) != nil")
	}
}

func TestOwnerInfoAndCommandLine(t *testing.T) {
	if got := commandLine([]string{"sh", "-c", "echo $X 'q'", ""}); got != `sh -c 'echo $X '\''q'\''' ''` {
		t.Fatalf("commandLine: %s", got)
	}
	host, _ := os.Hostname()
	want := host + " pid " + strconv.Itoa(os.Getpid())
	if got := ownerInfo(nil); got != want {
		t.Fatalf("ownerInfo(nil) = %q, want %q", got, want)
	}
	if got := ownerInfo([]string{"./backup.sh", "--full"}); got != want+": ./backup.sh --full" {
		t.Fatalf("ownerInfo = %q", got)
	}
	if got := ownerInfo([]string{strings.Repeat("x", 1000)}); len(got) != 256 || !strings.HasSuffix(got, "...") {
		t.Fatalf("long ownerInfo: %d %q", len(got), got)
	}
}

// TestRunnerDeadlineTermThenKill: a guard whose deadline stands still (no
// renewal is acknowledged) gets SIGTERM termLead before it and SIGKILL at
// it, whatever the kill grace, with no loss reported on the lost channel.
func TestRunnerDeadlineTermThenKill(t *testing.T) {
	r, out, _ := newTestRunner(`trap 'echo term' TERM; echo ready; while :; do date +%s%N; sleep 0.05; done`)
	r.grace = time.Minute // the deadline, not the grace, ends it
	var dl time.Time
	r.deadline = func() time.Time { return dl }
	r.termLead = 300 * time.Millisecond
	dl = time.Now().Add(time.Second)
	res, err := r.run(nil, make(chan struct{}))
	after := time.Now()
	if err != nil || !res.lost || res.code != 128+9 {
		t.Fatalf("outcome %+v %v", res, err)
	}
	if !strings.Contains(out.String(), "term\n") {
		t.Fatalf("no SIGTERM before the deadline; stdout %q", out.String())
	}
	var last int64
	for _, l := range strings.Fields(out.String()) {
		if v, err := strconv.ParseInt(l, 10, 64); err == nil {
			last = v
		}
	}
	if last == 0 || time.Unix(0, last).After(after) {
		t.Fatalf("last stamp %d after run returned at %v", last, after)
	}
}

// TestRunnerDeadlineMovingOn: a guard whose deadline keeps moving on (a
// healthy session) never disturbs the command.
func TestRunnerDeadlineMovingOn(t *testing.T) {
	r, out, _ := newTestRunner(`trap 'echo term' TERM; sleep 1; echo finished`)
	r.deadline = func() time.Time { return time.Now().Add(400 * time.Millisecond) }
	r.termLead = 200 * time.Millisecond
	res, err := r.run(nil, make(chan struct{}))
	if err != nil || res.lost || res.code != 0 || out.String() != "finished\n" {
		t.Fatalf("outcome %+v %v, stdout %q", res, err, out.String())
	}
	// No deadline yet (the zero time): nothing happens either.
	r, out, _ = newTestRunner(`sleep 0.3; echo finished`)
	r.deadline = func() time.Time { return time.Time{} }
	if res, err := r.run(nil, nil); err != nil || res.lost || res.code != 0 || out.String() != "finished\n" {
		t.Fatalf("outcome %+v %v, stdout %q", res, err, out.String())
	}
}

// TestRunnerDoesNotStartWhenGuardGone: a grant that comes back after the
// session's deadline (or its loss) must not start the command at all —
// the lock may already be someone else's.
func TestRunnerDoesNotStartWhenGuardGone(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ran")
	r, _, _ := newTestRunner(`touch ` + file)
	r.deadline = func() time.Time { return time.Now().Add(-time.Millisecond) }
	if res, err := r.run(nil, make(chan struct{})); err != nil || !res.lost {
		t.Fatalf("past deadline: outcome %+v %v", res, err)
	}
	r.deadline = nil
	lost := make(chan struct{})
	close(lost)
	if res, err := r.run(nil, lost); err != nil || !res.lost {
		t.Fatalf("lost before start: outcome %+v %v", res, err)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("the command ran")
	}
}
