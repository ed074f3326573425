package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Resources is the CPU time and memory of the server processes during a
// run, read from Linux's /proc.
type Resources struct {
	// Scope says what was measured: the server processes given, or this
	// process when the cluster runs inside it (then the load generator's
	// share is included).
	Scope     string        `json:"scope"`
	Processes []ProcessStat `json:"processes"`
}

// ProcessStat is one process's CPU time and memory over the run.
type ProcessStat struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`
	// CPUCores is CPU seconds per second of the run (1 = one core busy).
	CPUCores float64 `json:"cpu_cores"`
	RSSStart int64   `json:"rss_start_bytes"`
	RSSEnd   int64   `json:"rss_end_bytes"`
	// RSSPeak is the process's peak RSS since it started (VmHWM).
	RSSPeak int64 `json:"rss_peak_bytes"`
}

type resourceProbe struct {
	scope string
	pids  []int
	start []procSample
}

type procSample struct {
	ok       bool
	cpu      float64 // seconds
	rss, hwm int64   // bytes
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

func newResourceProbe(cfg Config) *resourceProbe {
	p := &resourceProbe{}
	switch {
	case len(cfg.ServerPIDs) > 0:
		p.scope = "server processes"
		p.pids = cfg.ServerPIDs
	case cfg.SelfIsServer:
		p.scope = "this process: the in-process cluster members and the load generator together"
		p.pids = []int{os.Getpid()}
	default:
		return p
	}
	for _, pid := range p.pids {
		p.start = append(p.start, readProc(pid))
	}
	return p
}

func (p *resourceProbe) finish(elapsed time.Duration) *Resources {
	if len(p.pids) == 0 {
		return nil
	}
	r := &Resources{Scope: p.scope}
	for i, pid := range p.pids {
		s0, s1 := p.start[i], readProc(pid)
		if !s0.ok || !s1.ok {
			continue
		}
		ps := ProcessStat{PID: pid, CPUSeconds: round3(s1.cpu - s0.cpu), RSSStart: s0.rss, RSSEnd: s1.rss, RSSPeak: s1.hwm}
		if elapsed > 0 {
			ps.CPUCores = round3((s1.cpu - s0.cpu) / elapsed.Seconds())
		}
		r.Processes = append(r.Processes, ps)
	}
	if len(r.Processes) == 0 {
		return nil
	}
	return r
}

// readProc reads a process's CPU time from /proc/PID/stat and its RSS
// from /proc/PID/status.
func readProc(pid int) procSample {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}
	}
	// The command name (field 2) may hold spaces: fields start after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procSample{}
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return procSample{}
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procSample{}
	}
	ps := procSample{ok: true, cpu: float64(ut+st) / clockTicks}
	sf, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps
	}
	defer sf.Close()
	sc := bufio.NewScanner(sf)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) < 1 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			ps.rss = n << 10
		case "VmHWM":
			ps.hwm = n << 10
		}
	}
	return ps
}
