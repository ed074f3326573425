//go:build unix && !linux

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// guardedCommand returns the command that runs argv in a process group of
// its own. Only Linux has a parent-death signal: elsewhere a SIGKILLed
// coord leaves its command running until it ends by itself.
func guardedCommand(argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// runGuardIfAsked does nothing: there is no guard process here.
func runGuardIfAsked() {}
