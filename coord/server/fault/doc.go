// Package fault is Coord's fault harness: it runs real `coord serve`
// processes on loopback, injects faults, drives concurrent workloads and
// checks what the clients saw.
//
// # How data moves
//
// A test builds the coord binary once (TestMain), then NewCluster starts N
// members with their data in t.TempDir(). Each member's Raft transport
// binds --bind-peer while its peers dial --listen-peer, where a proxy of
// Net listens: the proxy reads the first Dragonboat frame of every
// connection to learn the sending member, then forwards, delays, drops or
// blackholes its bytes by the rule of that directed link. A client can
// have links of its own (Cluster.AddClient: a client proxy in front of
// each member's client port, whose rule applies to both directions).
// Faults (Nemeses): SIGKILL and restart of any member or of a shard's
// leader (found through each member's status call), two members at once,
// isolation of the leader (drop or blackhole), an asymmetric cut, slow
// links, SIGSTOP/SIGCONT, SIGKILL of every member at once, and cut-client:
// one client (preferably one holding a lock) silently blackholed from
// every member. MemberChange (member.go, outside the random schedule)
// replaces a member as an operator does, with the command line: coord
// member add, start it, coord member remove another, whose process must
// exit saying it was removed (TestFaultMemberChange, and the scenario
// TestMemberChangeScenario).
//
// Workloads record histories and checkers judge them:
//
//   - KVWorkload: get/put/CAS on a few keys; CheckKV runs porcupine with a
//     per-key register model. A write that fails or times out has an
//     unknown outcome and returns at Infinity; failed reads are dropped.
//   - EtcdKVWorkload: the same get/put/CAS loop (runKV) with etcd's
//     clientv3 through the members' etcd doors (each member serves one on
//     its own --listen-etcd port, Member.Etcd; Cluster.EtcdEndpoints): a
//     get is a linearizable Get, a put a Put, a CAS a Txn comparing the
//     value. CheckKV judges it with the same model. TestFaultEtcdKV runs
//     it under kill-leader and kill-restart in short mode and random
//     nemeses in long mode.
//   - LockWorkload: acquire (locks.Mutex on a coord.Session), two writes to
//     a fenced register guarded by locks.LockToken, release, then one write
//     with the released token; one client stalls past its lease while
//     holding. With Bin set, command-line holders also run `coord lock
//     acquire NAME -- sh -c SCRIPT` through their own client links, the
//     script stamping the time every 20 ms (sometimes for 3 s, ignoring
//     SIGTERM). Every grant yields a "section" event: the critical section
//     as the guarded work saw it (the command's first and last stamps; for
//     a Go client, the moments it worked while its Session counted itself
//     alive). CheckLocks: tokens unique and increasing in grant order, no
//     write of a superseded or released token accepted, and no two
//     sections of one lock overlapping in time (same machine, same wall
//     clock). TestFaultLocks adds cut-client to its short list;
//     TestFaultLockCheckerCatchesOverlap feeds the checker overlapping
//     sections.
//   - RWLockWorkload: locks.RWMutex clients take one of two locks shared
//     or (WritePercent) exclusive; a reader holds 10–40 ms and makes one
//     write fenced by its own token (which must be refused), a writer two
//     fenced writes, a release and a stale write; client 0 stalls past
//     its lease on its third exclusive grant. Events are LockEvents with
//     a Mode (RWLockEvent). CheckRWLocks: no writer's section overlaps any
//     other section of the lock (readers' may), a writer's token granted
//     to nobody else, grants' tokens increasing, and no write accepted
//     with a superseded, released or reader's token. TestFaultRWLocks runs
//     it under RWLockNemeses (member kills and partitions) and requires
//     that readers did overlap; TestFaultRWLockCheckerCatchesBadHistory
//     feeds the checker a bad history.
//   - SemaphoreWorkload: clients acquire random weights (1, 2 or the
//     whole limit) of a few semaphores (locks.Semaphore), work a few ms
//     while their session counts itself alive, and release; with Bin set,
//     command-line holders run `coord semaphore acquire NAME --limit N
//     --weight W -- sh -c SCRIPT` through their own client links, stamping
//     the time as the lock holders do. Every grant yields a weighted
//     "section" event. CheckSemaphores: the weights of the sections of one
//     semaphore running at any instant never add up to more than its limit
//     (a sweep over starts and ends; touching sections overlap), and tokens
//     increase in grant order. TestFaultSemaphore runs it under
//     kill-leader, isolate-leader-drop, kill-restart and cut-client;
//     TestFaultSemaphoreCheckerCatchesOverLimit feeds the checker sections
//     over the limit.
//   - The three lock-like workloads above share holder.go: the skeleton
//     of Run (runHolders: a goroutine per client and per command link,
//     one history in call order), a Go client's loop (holdWorker: think, keep a session, acquire within OpTimeout,
//     record the grant, the section it saw and the release; a release of
//     unknown outcome drops the session), the fenced write and the
//     writer's stall (fencedWrite, writerWork), and the command-line
//     holder (commandHolder), and the tokens-increase check of the
//     checkers (notIncreasing); each workload says only which hold it
//     takes, what it does holding it and how it records a step.
//   - WriteWorkload: fresh keys put concurrently; every acknowledged one
//     must be read back after all members were SIGKILLed and restarted.
//   - QueueWorkload: producers enqueue unique numbered values; consumers
//     dequeue with a 3 s visibility timeout and ack. Half the consumer
//     sessions have a 1 s TTL, and such a consumer sometimes crashes while
//     holding an item (orphans its session, never acks) and is replaced;
//     one consumer holds an item past its visibility timeout once, so its
//     late Ack must fail with ErrNotFound. Each delivery's outcome is
//     recorded: acked, superseded (ErrNotFound), unknown (any other Ack
//     error) or crashed. After the faults heal, Drain runs fresh consumers
//     until Len is 0 and every acknowledged value is acked (30 s deadline).
//     CheckQueue: no acknowledged value lost (an unknown ack counts as
//     acked; a failed enqueue has an unknown outcome and is never lost),
//     exactly one successful ack per value, no delivery after a successful
//     ack (redelivery only after a crash, a timeout or an unknown ack), no
//     delivery number handed out twice, no value never enqueued, and the
//     queue drained. TestFaultQueue runs it under kill-leader,
//     isolate-leader-drop and pause-leader in short mode and joins the
//     random loop in long mode; TestFaultQueueCheckerCatchesBadHistory
//     feeds the checker a hand-written bad history.
//   - Auth (auth_test.go): auth enabled (user root, role app with
//     readwrite on auth/ok/, user alice with it). Alice's clients run the
//     KV workload on keys under auth/ok/ — its history must stay
//     linearizable and no call may fail with ErrPermissionDenied or
//     ErrAuthFailed — while another alice client makes only calls it may
//     not make (put, delete, txn and prefix get under auth/no/, TryLock of
//     lock "deploy"): none may succeed, and afterwards root finds nothing
//     under auth/no/ and auth still enabled. TestFaultAuth runs it under
//     kill-restart, kill-leader and isolate-leader-drop (so the auth store
//     is reloaded by restarted members and served by new leaders).
//
// # Modes
//
// By default (and with -short) each test runs a fixed list of faults
// (ShortNemeses), a few seconds each. With COORD_FAULT_DURATION=10m the
// tests loop random nemeses until their share of the duration has passed.
// COORD_FAULT_SEED replays a run's fault schedule; a failing check writes
// its history (and for KV a porcupine visualization) under
// $COORD_FAULT_OUT or $TMPDIR/coord-fault and prints the path and seed.
// The run ends with "faults: scenarios=N ops=N faults=N violations=N".
//
// # Goroutines
//
// Net: one accept loop per proxy and two copy loops per connection; link
// rules and the connection set are owned by Net.mu. Cluster: one waiter
// per member process, which closes Member.exited. Workloads: one goroutine
// per client, each appending to the history under a mutex. Faults are
// injected from the test goroutine only.
package fault
