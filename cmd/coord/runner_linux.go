package main

import "syscall"

// commandSysProcAttr puts a guarded command in a process group of its own
// and has the kernel SIGKILL it when coord dies.
func commandSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
