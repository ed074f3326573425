//go:build unix

package main

import "syscall"

// killGroup sends sig to the process group pgid (errors, such as an
// already empty group, are of no interest).
func killGroup(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}
