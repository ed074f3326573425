//go:build !linux

package fault

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
