package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// On Linux a guarded command is started through a small guard process:
// coord itself again (/proc/self/exe, which works even if the binary was
// replaced since), told so by guardEnv. The guard leads the command's
// process group and gets SIGTERM when coord dies (parent-death signal);
// it then SIGKILLs the whole group, grandchildren included — the kernel's
// parent-death signal alone would only reach the direct child, and most
// commands are scripts with children of their own. The guard passes on
// the command's exit status.

// guardEnv marks a guard process; its value is the pid of its coord.
const guardEnv = "COORD_INTERNAL_GUARD"

// guardedCommand returns the command that runs argv guarded.
func guardedCommand(argv []string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", argv...)
	cmd.Args[0] = "coord-guard"
	cmd.Env = append(os.Environ(), guardEnv+"="+strconv.Itoa(os.Getpid()))
	// Its own process group, and SIGTERM (which it handles) when the
	// thread that started it — kept alive by the runner — goes away.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	return cmd
}

// runGuardIfAsked runs this process as a guard if it was started as one,
// and then exits; otherwise it returns.
func runGuardIfAsked() {
	v, ok := os.LookupEnv(guardEnv)
	if !ok {
		return
	}
	ppid, err := strconv.Atoi(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: bad %s=%q\n", guardEnv, v)
		os.Exit(exitError)
	}
	os.Unsetenv(guardEnv)
	os.Exit(guard(ppid, os.Args[1:]))
}

// guard runs argv, whose coord is process ppid, and returns its exit
// status. When coord dies it kills its process group (itself included).
func guard(ppid int, argv []string) int {
	// SIGINT and SIGTERM come to the whole group from coord (the command
	// gets them too) or, SIGTERM, as our parent-death signal.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	orphaned := func() bool { return os.Getppid() != ppid }
	killAll := func() {
		_ = syscall.Kill(0, syscall.SIGKILL) // our group, us too
		os.Exit(128 + int(syscall.SIGKILL))
	}
	if orphaned() || len(argv) == 0 {
		return exitError
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// The command dies with us: if we are SIGKILLed there is no one left
	// to kill the group but the kernel.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread() // see runner.run: the parent-death signal is per thread
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "Error: cannot run %s: %v\n", argv[0], unwrapExecError(err))
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The parent-death signal can be missed if coord died before it was
	// set up; look now and then too.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return exitStatus(cmd.ProcessState, err)
		case <-sigs:
			if orphaned() {
				killAll()
			}
		case <-tick.C:
			if orphaned() {
				killAll()
			}
		}
	}
}
