//go:build unix && !linux

package main

import "syscall"

// commandSysProcAttr puts a guarded command in a process group of its own.
// Only Linux has a parent-death signal: elsewhere a SIGKILLed coord leaves
// its command running until the command ends by itself.
func commandSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
