// Package etcdcompat holds Coord's etcd compatibility suite (its tests
// only): one table of scenarios, each taking a clientv3 endpoint list,
// run against two targets — three Coord members through their etcd doors
// (in process, server.StartLocalCluster) and a real three-member etcd
// cluster started from the binary bench/etcd/build.sh builds from the
// module proxy into the run's temporary directory (never committed).
//
// The scenarios use clientv3 (KV options, Txn, Compact, Watch, Lease),
// its concurrency package (Mutex, Election, STM) and its
// experimental/recipes (Queue, PriorityQueue, Barrier, DoubleBarrier,
// RWMutex), with the same assertions on both targets. Revisions are
// asserted relative to a revision read first, never as absolute numbers.
// Where Coord differs from etcd on purpose (README, "Using etcd clients
// with Coord"), a scenario states the difference as an explicit
// per-target expectation (target.coord).
//
//	go test -short -count=1 ./coord/server/etcdcompat            # both targets
//	go test -short -count=1 -run 'TestSuite/coord' ./coord/server/etcdcompat
//
// COORD_ETCD_BINARY=/path/to/etcd uses that etcd instead of building one.
// Without the module proxy (and no binary given) the etcd target is
// skipped with that reason; the Coord target still runs.
package etcdcompat
