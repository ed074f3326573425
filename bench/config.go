package bench

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Config is one benchmark run.
type Config struct {
	// Workload names the workload (see Workloads).
	Workload string
	// Clients is the number of concurrent workers.
	Clients int
	// Conns is the number of client connections the workers share
	// (worker i uses connection i mod Conns).
	Conns int
	// Duration bounds the run; Total, when positive, bounds it by the
	// number of operations instead (Duration then still caps it when set).
	Duration time.Duration
	Total    int64
	// Rate, when positive, runs open-loop: Rate operations per second in
	// all, each started at its scheduled time by a free worker, with its
	// latency counted from that time. Zero runs closed-loop: each worker
	// starts its next operation when the last one ends.
	Rate float64
	// Keys is the number of distinct keys (put, get, txn) or names
	// (lock, elect); 0 picks the workload's default.
	Keys int
	// ValueSize is the size of written values in bytes.
	ValueSize int
	// Watchers is the number of watches of the watch workload.
	Watchers int
	// Sessions is the number of leases kept alive by the lease workload.
	Sessions int
	// Limit is the number of permits of the semaphore workload's
	// semaphore; 0 picks a quarter of Clients (at least 1).
	Limit int
	// TTL is the TTL of sessions and leases.
	TTL time.Duration
	// OpTimeout bounds each operation.
	OpTimeout time.Duration
	// Prefix starts every key and name the bench uses.
	Prefix string
	// Progress, when set, receives a progress line several times a
	// second (meant for a terminal: it rewrites the line with \r).
	Progress io.Writer
	// ServerPIDs are processes (the servers) whose CPU time and memory
	// are sampled before and after the run (Linux /proc).
	ServerPIDs []int
	// SelfIsServer marks that the cluster runs inside this process, so
	// its own CPU time and memory are reported (they include the load
	// generator's).
	SelfIsServer bool
	// Interval is the width of a timeline interval (0: from Duration).
	Interval time.Duration
}

// DefaultConfig returns the defaults of `coord bench`.
func DefaultConfig() Config {
	return Config{
		Workload:  "put",
		Clients:   64,
		Conns:     8,
		Duration:  10 * time.Second,
		ValueSize: 256,
		Watchers:  16,
		Sessions:  1000,
		TTL:       10 * time.Second,
		OpTimeout: 10 * time.Second,
		Prefix:    "bench/",
	}
}

// Validate checks the configuration and explains what is wrong.
func (c Config) Validate() error {
	var errs []error
	if _, ok := workloads[c.Workload]; !ok {
		errs = append(errs, fmt.Errorf("unknown workload %q (want one of %s)", c.Workload, WorkloadNames()))
	}
	if c.Clients < 1 {
		errs = append(errs, fmt.Errorf("clients must be at least 1, got %d", c.Clients))
	}
	if c.Conns < 1 {
		errs = append(errs, fmt.Errorf("conns must be at least 1, got %d", c.Conns))
	}
	if c.Duration <= 0 && c.Total <= 0 {
		errs = append(errs, errors.New("give a positive duration or total"))
	}
	if c.Duration < 0 || c.Total < 0 || c.Rate < 0 {
		errs = append(errs, errors.New("duration, total and rate must not be negative"))
	}
	if c.Keys < 0 {
		errs = append(errs, fmt.Errorf("keys must not be negative, got %d", c.Keys))
	}
	if c.ValueSize < 8 || c.ValueSize > 1<<20 {
		errs = append(errs, fmt.Errorf("value size must be between 8 bytes and 1 MiB, got %d", c.ValueSize))
	}
	if c.Workload == "watch" && c.Watchers < 1 {
		errs = append(errs, fmt.Errorf("watchers must be at least 1, got %d", c.Watchers))
	}
	if c.Workload == "lease" && c.Sessions < 1 {
		errs = append(errs, fmt.Errorf("sessions must be at least 1, got %d", c.Sessions))
	}
	if c.Limit < 0 {
		errs = append(errs, fmt.Errorf("limit must not be negative, got %d", c.Limit))
	}
	if c.TTL < time.Second {
		errs = append(errs, fmt.Errorf("ttl must be at least 1s, got %s", c.TTL))
	}
	if c.OpTimeout <= 0 {
		errs = append(errs, errors.New("op timeout must be positive"))
	}
	if c.Prefix == "" {
		errs = append(errs, errors.New("prefix must not be empty"))
	}
	return errors.Join(errs...)
}
