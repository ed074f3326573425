package statemachine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/coord-io/coord/barrier/barrierrules"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/queue/queuerules"
)

// randomLog makes a command log exercising every operation, exactly-once
// retries and acknowledgements, invalid commands, compactions, index
// jumps that trigger exactly-once eviction, and leases (of shard
// leaseShard, the shard the log is applied to: grants, renewals, client
// and expiry revokes, stale or not, puts attached to existing, missing
// and foreign leases), and locks and elections (acquires, tries, unlocks,
// campaigns, proclaims and resigns with live, stale and bogus keys, bad
// names, lock-token compares), and queues and barriers (enqueues with and
// without max deliveries, dequeues granting visibility leases, acks and
// nacks of live and stale items, dead-letter queues; gates held and
// released, double barriers entered and left; their keys' leases revoked
// by the lease commands above).
func randomLog(rng *rand.Rand, n int) []Entry {
	keys := []string{"a", "a\x00", "a\x00b", "ab", "b", "b/1", "b/2", "c", "\x00x", ReservedPrefix + "q", "\xff"}
	key := func() []byte { return []byte(keys[rng.Intn(len(keys))]) }
	end := func(k []byte) []byte {
		switch rng.Intn(4) {
		case 0:
			return nil
		case 1:
			return []byte{0}
		default:
			return key()
		}
	}
	value := func() []byte { return []byte(fmt.Sprintf("v%d", rng.Intn(100))) }
	// A lease ID: mostly one of the shard's leases (granted, revoked or
	// not yet granted: grants counts the grant commands, not the grants
	// that succeeded), sometimes another shard's or a malformed one.
	grants := 0
	leaseID := func() int64 {
		switch r := rng.Intn(20); {
		case r == 0:
			return wire.LeaseID(leaseShard+1, 1)
		case r == 1:
			return int64(rng.Intn(3)) - 1
		default:
			// About 4/5 of the grant commands succeed (TTL 0, retries).
			return wire.LeaseID(leaseShard, uint64(1+rng.Intn(1+grants*4/5)))
		}
	}
	putLease := func() int64 {
		if rng.Intn(3) == 0 {
			return leaseID()
		}
		return 0
	}
	op := func() wire.RequestOp {
		switch rng.Intn(3) {
		case 0:
			k := key()
			return wire.RequestOp{Range: &wire.RangeRequest{Key: k, RangeEnd: end(k), Limit: int64(rng.Intn(3))}}
		case 1:
			return wire.RequestOp{Put: &wire.PutRequest{Key: key(), Value: value(), PrevKV: rng.Intn(2) == 0, Lease: putLease()}}
		default:
			k := key()
			return wire.RequestOp{DeleteRange: &wire.DeleteRangeRequest{Key: k, RangeEnd: end(k), PrevKV: true}}
		}
	}
	// Locks and elections: a few names (one invalid); owner keys of
	// revisions up to the log's length, so that some are live.
	name := func() string { return primitiveNames[rng.Intn(len(primitiveNames))] }
	ownerKey := func(prefix []byte, i int) []byte {
		if rng.Intn(10) == 0 {
			return []byte("x")
		}
		return binary.BigEndian.AppendUint64(append(prefix, 'o', '/'), uint64(rng.Intn(i+2)))
	}
	lockKey := func(i int) []byte { return ownerKey(lockrules.Prefix(name()), i) }
	electKey := func(i int) []byte { return ownerKey(electionrules.Prefix(name()), i) }
	qname := func() string { return queueNames[rng.Intn(len(queueNames))] }
	bname := func() string { return barrierNames[rng.Intn(len(barrierNames))] }
	participantKey := func(i int) []byte {
		if rng.Intn(10) == 0 {
			return []byte("x")
		}
		return barrierrules.ParticipantKey(bname(), int64(rng.Intn(i+2)))
	}
	seqs := map[uint64]uint64{}
	var entries []Entry
	index := uint64(0)
	now := int64(1_700_000_000_000) // the proposers' clock (ms)
	for i := 0; i < n; i++ {
		index++
		now += int64(rng.Intn(3))
		if rng.Intn(50) == 0 {
			index += uint64(rng.Intn(3000))
			now += int64(rng.Intn(1500)) // records idle for longer are dropped
		}
		var cmd Command
		var twoOps []byte // the key of a malformed command of the legacy format (two ops)
		switch r := rng.Intn(160); {
		case r < 40:
			cmd.Set(OpPut, &wire.PutRequest{Key: key(), Value: value(), PrevKV: rng.Intn(2) == 0, Lease: putLease()})
		case r < 52:
			k := key()
			cmd.Set(OpDelete, &wire.DeleteRangeRequest{Key: k, RangeEnd: end(k), PrevKV: rng.Intn(2) == 0})
		case r < 78:
			t := &wire.TxnRequest{}
			for j := rng.Intn(3); j > 0; j-- {
				k := key()
				c := wire.Compare{
					Target: wire.CompareTarget(rng.Intn(5)), Result: wire.CompareResult(rng.Intn(4)),
					Key: k, RangeEnd: end(k), Value: value(), Version: int64(rng.Intn(3)), ModRevision: int64(rng.Intn(i + 1)),
				}
				if rng.Intn(4) == 0 {
					c.Target, c.Key, c.RangeEnd, c.Version = wire.CompareLockToken, []byte(name()), nil, int64(rng.Intn(i+1))
				}
				t.Compare = append(t.Compare, c)
			}
			for j := rng.Intn(4); j > 0; j-- {
				t.Success = append(t.Success, op())
			}
			for j := rng.Intn(3); j > 0; j-- {
				t.Failure = append(t.Failure, op())
			}
			cmd.Set(OpTxn, t)
		case r < 81:
			cmd.Set(OpCompact, &wire.CompactRequest{Revision: int64(rng.Intn(i + 1))})
		case r < 83:
			entries = append(entries, Entry{Index: index, Cmd: []byte{byte(rng.Intn(256)), 0x01}})
			continue
		case r < 85:
			twoOps = key()
		case r < 89:
			cmd.Set(OpLeaseGrant, &LeaseGrant{TTL: int64(rng.Intn(10))})
			grants++
		case r < 94:
			ids := make([]int64, 1+rng.Intn(3))
			for j := range ids {
				ids[j] = leaseID()
			}
			cmd.Set(OpLeaseRenew, &LeaseRenew{IDs: ids})
		case r < 100:
			revoke := &LeaseRevoke{ID: leaseID()}
			cmd.Set(OpLeaseRevoke, revoke)
			if rng.Intn(2) == 0 {
				revoke.Expire, revoke.RenewSeq = true, uint64(rng.Intn(3))
			}
		case r < 108:
			cmd.Set(lockrules.OpLock, &wire.LockRequest{Name: name(), Lease: leaseID(), Owner: value(), Try: rng.Intn(3) == 0})
		case r < 113:
			cmd.Set(lockrules.OpUnlock, &wire.UnlockRequest{Name: name(), Key: lockKey(i), Lease: leaseID()})
		case r < 118:
			cmd.Set(electionrules.OpCampaign, &wire.CampaignRequest{Name: name(), Lease: leaseID(), Value: value()})
		case r < 121:
			cmd.Set(electionrules.OpProclaim, &wire.ProclaimRequest{Name: name(), Key: electKey(i), Value: value(), Lease: leaseID()})
		case r < 125:
			cmd.Set(electionrules.OpResign, &wire.ResignRequest{Name: name(), Key: electKey(i), Lease: leaseID()})
		case r < 133:
			vals := make([][]byte, 1+rng.Intn(3))
			for j := range vals {
				vals[j] = value()
			}
			if rng.Intn(20) == 0 {
				vals = nil
			}
			cmd.Set(queuerules.OpEnqueue, &wire.EnqueueRequest{Name: qname(), Values: vals, MaxDeliveries: int64(rng.Intn(4)) - 1})
		case r < 143:
			cmd.Set(queuerules.OpDequeue, &wire.DequeueRequest{Name: qname(), Lease: leaseID(), VisibilitySeconds: int64(rng.Intn(5)), Receipt: wire.Receipt(rng.Intn(3))})
		case r < 151:
			cmd.Set(queuerules.OpAck, &wire.AckRequest{Name: qname(), Seq: int64(rng.Intn(i/8 + 2)), Deliveries: int64(rng.Intn(3)), Nack: rng.Intn(3) == 0,
				Receipt: wire.Receipt(rng.Intn(3))})
		default:
			ops := []uint8{wire.BarrierEnter, wire.BarrierEnter, wire.BarrierEnter, wire.BarrierLeave, wire.BarrierLeave,
				wire.BarrierHold, wire.BarrierRelease, wire.BarrierWait, 0, 6}
			cmd.Set(barrierrules.OpBarrier, &wire.BarrierRequest{Name: bname(), Op: ops[rng.Intn(len(ops))], Count: []int64{0, 1, 1, 2, 3}[rng.Intn(5)], Lease: leaseID(), Key: participantKey(i)})
		}
		// Stamps: mostly now, sometimes a lagging member's, sometimes none.
		switch rng.Intn(10) {
		case 0:
			cmd.Time = 0
		case 1:
			cmd.Time = now - int64(rng.Intn(100))
		default:
			cmd.Time = now
		}
		c := uint64(rng.Intn(4))
		if rng.Intn(20) == 0 {
			c = uint64(4 + rng.Intn(3)) // rare clients, often forgotten
		}
		if c != 0 {
			cmd.ClientID = c
			seqs[c]++
			cmd.Seq = seqs[c]
			if cmd.Time != 0 {
				cmd.Sent = cmd.Time - int64(rng.Intn(400)) // some older than half the retention
			}
			if rng.Intn(5) == 0 && cmd.Seq > 3 {
				cmd.Seq -= uint64(rng.Intn(3)) // a retry
			}
			if cmd.Seq > 4 {
				cmd.AckBelow = cmd.Seq - uint64(rng.Intn(4))
			}
		}
		b, err := EncodeCommand(&cmd)
		if twoOps != nil {
			b, err = msgpack.Marshal(&legacyCommand{ClientID: cmd.ClientID, Seq: cmd.Seq, AckBelow: cmd.AckBelow, Time: cmd.Time, Sent: cmd.Sent,
				Put: &wire.PutRequest{Key: twoOps}, Compact: &wire.CompactRequest{}})
		}
		if err != nil {
			panic(err)
		}
		entries = append(entries, Entry{Index: index, Cmd: b})
	}
	return entries
}

// primitiveNames are the lock and election names of randomLog (one
// invalid).
var primitiveNames = []string{"L", "M", "{L}/data", "L"}

// queueNames and barrierNames are the queue and barrier names of
// randomLog (one invalid each; Q.dead is Q's dead-letter queue).
var (
	queueNames   = []string{"Q", "Q", "Q.dead", "R", "Q.dead.dead"}
	barrierNames = []string{"B", "B", "C", "{B}"}
)

// leaseShard is the shard openShard opens, whose leases randomLog uses.
const leaseShard = 3

// applyLog applies log to sh in batches of random sizes (1 if rng is nil)
// and returns the results, events and lease changes.
func applyLog(t *testing.T, sh *Shard, log []Entry, rng *rand.Rand) ([]Result, []wire.Event, []LeaseChange) {
	t.Helper()
	var results []Result
	var events []wire.Event
	var leases []LeaseChange
	for len(log) > 0 {
		n := 1
		if rng != nil {
			n = 1 + rng.Intn(40)
		}
		n = min(n, len(log))
		batch := make([]Entry, n)
		for i := range batch {
			batch[i] = Entry{Index: log[i].Index, Cmd: log[i].Cmd}
		}
		applied, err := sh.Apply(batch)
		require.NoError(t, err)
		events = append(events, applied.Events...)
		leases = append(leases, applied.Leases...)
		for _, e := range batch {
			results = append(results, e.Result)
		}
		log = log[n:]
	}
	return results, events, leases
}

func openShard(t *testing.T, cfg Config) (*Store, *Shard) {
	t.Helper()
	st, err := OpenStore(t.TempDir(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sh := st.Shard(leaseShard)
	_, err = sh.Open()
	require.NoError(t, err)
	return st, sh
}

func mustHash(t *testing.T, sh *Shard) uint64 {
	t.Helper()
	h, err := sh.Hash()
	require.NoError(t, err)
	return h
}

func TestDeterminism(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	log := randomLog(rng, 3000)
	cfg := Config{DedupRetention: 500 * time.Millisecond}

	_, a := openShard(t, cfg)
	_, b := openShard(t, cfg)
	half := len(log) / 2

	// a: random batches, with a snapshot taken halfway and saved while
	// the rest of the log is applied.
	resA, evA, lsA := applyLog(t, a, log[:half], rng)
	snap, err := a.PrepareSnapshot()
	require.NoError(t, err)
	hashHalf := mustHash(t, a)
	var buf bytes.Buffer
	saved := make(chan error, 1)
	go func() { saved <- a.SaveSnapshot(snap, &buf) }()
	r2, e2, l2 := applyLog(t, a, log[half:], rng)
	resA, evA, lsA = append(resA, r2...), append(evA, e2...), append(lsA, l2...)
	require.NoError(t, <-saved)

	// b: one entry per batch.
	resB, evB, lsB := applyLog(t, b, log, nil)
	require.Equal(t, resA, resB)
	require.Equal(t, evA, evB)
	require.Equal(t, lsA, lsB)
	require.Equal(t, mustHash(t, a), mustHash(t, b))
	require.Equal(t, a.AppliedIndex(), b.AppliedIndex())

	// c: restored from the halfway snapshot, then fed the rest.
	_, c := openShard(t, cfg)
	applyLog(t, c, log[:10], nil) // state to be replaced
	require.NoError(t, c.RecoverFromSnapshot(bytes.NewReader(buf.Bytes())))
	require.Equal(t, hashHalf, mustHash(t, c))
	require.Equal(t, log[half-1].Index, c.AppliedIndex())
	resC, evC, lsC := applyLog(t, c, log[half:], rng)
	require.Equal(t, resA[half:], resC)
	require.Equal(t, evA[len(evA)-len(evC):], evC)
	require.Equal(t, lsA[len(lsA)-len(lsC):], lsC)
	require.Equal(t, mustHash(t, a), mustHash(t, c))

	// d: restored from a final snapshot; reads agree at every revision.
	snap, err = a.PrepareSnapshot()
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, a.SaveSnapshot(snap, &buf))
	_, d := openShard(t, cfg)
	require.NoError(t, d.RecoverFromSnapshot(bytes.NewReader(buf.Bytes())))
	require.Equal(t, mustHash(t, a), mustHash(t, d))
	cur, comp := a.Revision()
	dc, dcomp := d.Revision()
	require.Equal(t, cur, dc)
	require.Equal(t, comp, dcomp)
	for rev := comp; rev <= cur; rev++ {
		req := &wire.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: rev}
		ra, errA := a.Range(req)
		rd, errD := d.Range(req)
		require.Equal(t, errA, errD)
		require.Equal(t, ra, rd)
	}
	la, err := a.Leases()
	require.NoError(t, err)
	ld, err := d.Leases()
	require.NoError(t, err)
	require.Equal(t, la, ld)
	for _, l := range la {
		ka, err := a.LeaseKeys(l.ID)
		require.NoError(t, err)
		kd, err := d.LeaseKeys(l.ID)
		require.NoError(t, err)
		require.Equal(t, ka, kd)
	}
	for _, n := range primitiveNames {
		sa, errA := a.LockStatus(n)
		sd, errD := d.LockStatus(n)
		require.Equal(t, errA, errD)
		require.Equal(t, sa, sd)
		la, errA := a.Leader(n)
		ld, errD := d.Leader(n)
		require.Equal(t, errA, errD)
		require.Equal(t, la, ld)
	}
	for _, n := range queueNames {
		for _, peek := range []bool{false, true} {
			qa, errA := a.QueueInfo(n, peek)
			qd, errD := d.QueueInfo(n, peek)
			require.Equal(t, errA, errD)
			require.Equal(t, qa, qd)
		}
	}
	for _, n := range barrierNames {
		ba, errA := a.BarrierState(n)
		bd, errD := d.BarrierState(n)
		require.Equal(t, errA, errD)
		require.Equal(t, ba, bd)
	}
	ha, _, errA := a.History([]byte{0}, []byte{0}, comp+1, cur, true, 0)
	hd, _, errD := d.History([]byte{0}, []byte{0}, comp+1, cur, true, 0)
	require.Equal(t, errA, errD)
	require.Equal(t, ha, hd)

	// The log exercised leases: keys attached, revoked with their keys,
	// expiries both applied and ignored.
	attached, revokedKeys := 0, 0
	for _, e := range evA {
		if e.Kv.Lease != 0 {
			attached++
		}
		if e.Type == wire.EventDelete && e.PrevKv != nil && e.PrevKv.Lease != 0 {
			revokedKeys++
		}
	}
	// And the primitives: grants of locks and elections, some of them by
	// a revoke (the holder record put in the revision of an owner's
	// delete with a lease).
	grants, revokeGrants := 0, 0
	for i, e := range evA {
		k := string(e.Kv.Key)
		if e.Type != wire.EventPut || (k != string(lockrules.HolderKey("L")) && k != string(electionrules.LeaderKey("L"))) {
			continue
		}
		grants++
		if i > 0 && evA[i-1].Type == wire.EventDelete && evA[i-1].PrevKv != nil && evA[i-1].PrevKv.Lease != 0 &&
			evA[i-1].Kv.ModRevision == e.Kv.ModRevision {
			revokeGrants++
		}
	}
	t.Logf("holder/leader record puts of L %d, after an owner's delete %d", grants, revokeGrants)
	require.Positive(t, grants)
	// Queues: deliveries and returns; barriers: ready records.
	// (A return: a ready key put in the revision of a delete of a key
	// with a lease.)
	deliveries, returns, ready, enters := 0, 0, 0, 0
	for i, e := range evA {
		k := e.Kv.Key
		switch {
		case e.Type != wire.EventPut:
		case bytes.HasPrefix(k, queuerules.InFlightPrefix("Q")):
			deliveries++
		case bytes.HasPrefix(k, queuerules.ReadyPrefix("Q")) || bytes.HasPrefix(k, queuerules.ReadyPrefix("Q.dead")):
			if i == 0 {
				break
			}
			if p := evA[i-1]; p.Type == wire.EventDelete && p.PrevKv != nil && p.PrevKv.Lease != 0 &&
				p.Kv.ModRevision == e.Kv.ModRevision {
				returns++
			}
		case bytes.Equal(k, barrierrules.ReadyKey("B")) || bytes.Equal(k, barrierrules.ReadyKey("C")):
			ready++
		case bytes.HasPrefix(k, barrierrules.ParticipantPrefix("B")) || bytes.HasPrefix(k, barrierrules.ParticipantPrefix("C")):
			enters++
		}
	}
	t.Logf("deliveries of Q %d, items returned (nack or revoke) to Q or Q.dead %d, barrier participants %d, ready records %d",
		deliveries, returns, enters, ready)
	require.Positive(t, deliveries)
	require.Positive(t, enters)
	var revoked, renewed int
	for _, c := range lsA {
		if c.Revoked {
			revoked++
		} else if c.RenewSeq > 0 {
			renewed++
		}
	}
	t.Logf("events of keys with a lease %d, deletes of such keys %d, revokes %d, renewals %d, leases left %d",
		attached, revokedKeys, revoked, renewed, len(la))
	require.Positive(t, attached)
	require.Positive(t, revokedKeys)
	require.Positive(t, revoked)
	require.Positive(t, renewed)

	// The same bytes for the same state.
	var again bytes.Buffer
	snap, err = d.PrepareSnapshot()
	require.NoError(t, err)
	require.NoError(t, d.SaveSnapshot(snap, &again))
	require.Equal(t, buf.Bytes(), again.Bytes())
}

func TestRecoverRejectsCorruptSnapshot(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	snap, err := h.sh.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.sh.SaveSnapshot(snap, &buf))
	before := mustHash(t, h.sh)
	for _, bad := range [][]byte{nil, []byte("nonsense"), buf.Bytes()[:buf.Len()-1], flip(buf.Bytes(), 12)} {
		require.Error(t, h.sh.RecoverFromSnapshot(bytes.NewReader(bad)))
		require.Equal(t, before, mustHash(t, h.sh), "a bad snapshot changes nothing")
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}
