// Package bench measures coordination workloads against a Coord cluster
// or an etcd cluster, through each system's own Go client, so the two can
// be compared side by side. It is what `coord bench` runs.
//
// How data moves:
//
//	Run(ctx, target, cfg)
//	  ├─ target.Dial × cfg.Conns          one client connection each (Conn)
//	  ├─ workload.Setup(env)              preload keys, open sessions, start watchers
//	  ├─ cfg.Clients workers              each runs workload.Op in a loop
//	  │     closed loop: next op as soon as the last one returns
//	  │     open loop (cfg.Rate > 0): one op per ticket of a dispatcher,
//	  │     latency counted from the ticket's scheduled time
//	  │     (no coordinated omission)
//	  ├─ Recorder                         HDR histogram of the whole run plus
//	  │                                   one per interval (latency over time)
//	  └─ workload.Teardown                close sessions, revoke leases
//	→ *Result: throughput, errors, p50/p90/p99/p99.9/max, timeline,
//	  percentile curve; printed as text or JSON, or as an HTML/SVG report.
//
// Workloads are written once against the small Target/Conn/Session
// interfaces of this package; CoordTarget implements them with the Coord
// client and its primitive packages (locks, election), EtcdTarget with
// etcd's clientv3 and its concurrency and experimental/recipes packages.
// A workload whose primitive a target lacks fails at setup with an error
// saying so (ErrUnsupported); a target that knows it beforehand says so
// before connecting (EtcdTarget.Supports): rwlock needs a Session that is
// an RWSession, which only Coord's is, and etcd has no counting
// semaphore, so the semaphore workload (Coord's sessions run it through
// SemaphoreSession and locks.Semaphore) is Coord-only too;
// bench/compare.sh shows n/a for etcd on both.
//
// Without endpoints, `coord bench` runs a Coord cluster inside the calling
// process (server.StartLocalCluster, the in-process cluster fixture); its
// members then share the
// process with the load generator, so Resources reports the CPU time and
// memory of the whole process, not of the members alone.
//
// Goroutines during Run: cfg.Clients workers (each owns its own random
// source and nothing else), an optional dispatcher (open loop; owns the
// schedule), an interval ticker that rotates the Recorder's current
// interval, an optional progress printer, plus what workloads start:
// watch receivers (watch), queue producers' pacing (queue). The Recorder
// is shared and guarded by its mutex.
package bench
