package fault

import "syscall"

// sysProcAttr makes a member die with the test process (parent-death
// signal), so a crashed test never leaves members running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
