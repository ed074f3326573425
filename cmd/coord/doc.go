// Command coord is Coord's single binary: a cluster member (serve, dev)
// and the command-line client (put, get, del, txn, watch, compact, lease,
// lock, elect, queue, barrier, semaphore, member, status, alarm, defrag,
// bench, version).
// Commands run under lock acquire, elect campaign, barrier enter and
// semaphore acquire share one guard (runner.go); lock acquire and
// semaphore acquire are one guarded acquire (guarded.go: session, hold
// with --timeout, print the grant or run the command, release), whose
// hold-until-signal and run-then-release elect campaign reuses.
//
// It only wires things together: members come from package coord/server
// (`coord dev` and the bench's local cluster run server.LocalCluster),
// every client command goes through the Go client (package coord and the
// primitives' packages), and the bench through package bench. Flags may
// stand before or after arguments (args.go reorders them once for every
// command); everything after "--" is passed through untouched. Exit codes:
// 0 ok, 1 the operation failed (one line on stderr), 2 usage error.
package main
