package statemachine

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election/electionrules"
	"github.com/coord-io/coord/locks/lockrules"
)

// primitiveLog makes a log of lock and election commands that mostly hit
// live state: it applies each command to a scratch shard as it goes and
// picks owner keys, leaders and tokens from what the shard holds (random
// ones sometimes), with lease grants, client and expiry revokes (hand-offs
// inside a revoke), fenced txns, compactions and exactly-once retries.
func primitiveLog(t *testing.T, rng *rand.Rand, n int) []Entry {
	h := newHarness(t) // shard 7
	names := []string{"L", "M", "N"}
	var leases []int64
	seqs := map[uint64]uint64{}
	var log []Entry
	var last *Command // the last command with a client ID, for retries
	pick := func(kvs []*wire.KeyValue) []byte {
		if len(kvs) == 0 || rng.Intn(8) == 0 {
			return lockrules.OwnerKey("L", int64(rng.Intn(int(h.sh.current.Load())+2)))
		}
		return kvs[rng.Intn(len(kvs))].Key
	}
	owners := func(prefix []byte) []*wire.KeyValue {
		p := append(prefix, 'o', '/')
		return h.rng(&wire.RangeRequest{Key: p, RangeEnd: wire.PrefixEnd(p)}).Kvs
	}
	// ownerLease is the lease of key among kvs (a release proves
	// ownership with it), or sometimes another one.
	ownerLease := func(kvs []*wire.KeyValue, key []byte) int64 {
		for _, kv := range kvs {
			if bytes.Equal(kv.Key, key) && rng.Intn(8) != 0 {
				return kv.Lease
			}
		}
		if len(leases) == 0 {
			return 0
		}
		return leases[rng.Intn(len(leases))]
	}
	lease := func() int64 {
		if len(leases) == 0 || rng.Intn(10) == 0 {
			return lid(uint64(1 + rng.Intn(len(leases)+2)))
		}
		return leases[rng.Intn(len(leases))]
	}
	for i := 0; i < n; i++ {
		name := names[rng.Intn(len(names))]
		cmd := &Command{}
		switch r := rng.Intn(100); {
		case r < 8 || len(leases) == 0:
			cmd.Set(OpLeaseGrant, &LeaseGrant{TTL: 5})
		case r < 30:
			cmd.Set(lockrules.OpLock, &wire.LockRequest{Name: name, Lease: lease(), Owner: []byte{byte('a' + i%26)}, Try: rng.Intn(4) == 0})
		case r < 45:
			kvs := owners(lockrules.Prefix(name))
			key := pick(kvs)
			cmd.Set(lockrules.OpUnlock, &wire.UnlockRequest{Name: name, Key: key, Lease: ownerLease(kvs, key)})
		case r < 57:
			cmd.Set(electionrules.OpCampaign, &wire.CampaignRequest{Name: name, Lease: lease(), Value: []byte{byte('A' + i%26)}})
		case r < 63:
			kvs := owners(electionrules.Prefix(name))
			key := pick(kvs)
			if l, err := h.sh.Leader(name); err == nil && rng.Intn(2) == 0 {
				key = l.Key
			}
			cmd.Set(electionrules.OpProclaim, &wire.ProclaimRequest{Name: name, Key: key, Value: []byte{byte('0' + i%10)}, Lease: ownerLease(kvs, key)})
		case r < 72:
			kvs := owners(electionrules.Prefix(name))
			key := pick(kvs)
			cmd.Set(electionrules.OpResign, &wire.ResignRequest{Name: name, Key: key, Lease: ownerLease(kvs, key)})
		case r < 80:
			j := rng.Intn(len(leases))
			id := leases[j]
			leases = append(leases[:j:j], leases[j+1:]...)
			revoke := &LeaseRevoke{ID: id}
			cmd.Set(OpLeaseRevoke, revoke)
			if rng.Intn(2) == 0 {
				info, _ := h.lease(id)
				revoke.Expire, revoke.RenewSeq = true, info.RenewSeq
			}
		case r < 84:
			cmd.Set(OpLeaseRenew, &LeaseRenew{IDs: []int64{lease()}})
		case r < 94:
			s, err := h.sh.LockStatus(name)
			require.NoError(t, err)
			token := s.Token
			if rng.Intn(3) == 0 {
				token = int64(rng.Intn(int(h.sh.current.Load()) + 1))
			}
			cmd.Set(OpTxn, &wire.TxnRequest{
				Compare: []wire.Compare{{Target: wire.CompareLockToken, Key: []byte(name), Version: token}},
				Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("{" + name + "}/data"), Value: []byte{byte(i)}}}},
			})
		case r < 96:
			cur, comp := h.sh.Revision()
			if cur > comp {
				cmd.Set(OpCompact, &wire.CompactRequest{Revision: comp + 1 + rng.Int63n(cur-comp)})
			} else {
				cmd.Set(OpLeaseGrant, &LeaseGrant{TTL: 5})
			}
		default:
			if last == nil {
				continue
			}
			cmd = last // a retry: same client, same sequence number
		}
		if cmd != last && rng.Intn(3) == 0 {
			c := uint64(1 + rng.Intn(3))
			seqs[c]++
			cmd.ClientID, cmd.Seq = c, seqs[c]
			last = cmd
		}
		e := []Entry{h.entry(cmd)}
		log = append(log, Entry{Index: e[0].Index, Cmd: e[0].Cmd})
		_, err := h.sh.Apply(e)
		require.NoError(t, err)
		if cmd.Op == OpLeaseGrant && e[0].Result.Code == wire.OK {
			var g wire.LeaseGrantResponse
			decodeOK(t, e[0].Result, &g)
			if len(leases) == 0 || leases[len(leases)-1] != g.ID { // not a retry
				leases = append(leases, g.ID)
			}
		}
	}
	return log
}

// TestPrimitivesDeterminism replays a log of lock and election commands
// that hit live state in random batches, one entry per batch, and from a
// snapshot taken halfway: results, events, state and reads agree.
func TestPrimitivesDeterminism(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	log := primitiveLog(t, rng, 1500)
	half := len(log) / 2

	a, b, c := newHarness(t).sh, newHarness(t).sh, newHarness(t).sh
	resA, evA, lsA := applyLog(t, a, log[:half], rng)
	snap, err := a.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, a.SaveSnapshot(snap, &buf))
	r2, e2, l2 := applyLog(t, a, log[half:], rng)
	resA, evA, lsA = append(resA, r2...), append(evA, e2...), append(lsA, l2...)

	resB, evB, lsB := applyLog(t, b, log, nil)
	require.Equal(t, resA, resB)
	require.Equal(t, evA, evB)
	require.Equal(t, lsA, lsB)
	require.Equal(t, mustHash(t, a), mustHash(t, b))

	require.NoError(t, c.RecoverFromSnapshot(&buf))
	resC, evC, _ := applyLog(t, c, log[half:], rng)
	require.Equal(t, resA[half:], resC)
	require.Equal(t, evA[len(evA)-len(evC):], evC)
	require.Equal(t, mustHash(t, a), mustHash(t, c))
	for _, n := range []string{"L", "M", "N"} {
		sa, err := a.LockStatus(n)
		require.NoError(t, err)
		sc, err := c.LockStatus(n)
		require.NoError(t, err)
		require.Equal(t, sa, sc)
		la, errA := a.Leader(n)
		lc, errC := c.Leader(n)
		require.Equal(t, errA, errC)
		require.Equal(t, la, lc)
	}

	// The log did what it is for: grants by Lock, Unlock, Campaign,
	// Resign and revokes, proclaims, and fenced txns both ways.
	counts := map[string]int{}
	for i, e := range log {
		cmd, err := DecodeCommand(e.Cmd)
		require.NoError(t, err)
		ok := resA[i].Code == wire.OK
		switch {
		case cmd.Op == lockrules.OpLock && ok:
			var r wire.LockResponse
			decodeOK(t, resA[i], &r)
			if r.Token != 0 {
				counts["lock granted"]++
			} else {
				counts["lock queued"]++
			}
		case cmd.Op == lockrules.OpLock && resA[i].Code == wire.CodeLocked:
			counts["try refused"]++
		case cmd.Op == lockrules.OpUnlock && ok:
			counts["unlock"]++
		case cmd.Op == electionrules.OpProclaim && ok:
			counts["proclaim"]++
		case cmd.Op == OpTxn && ok:
			var r wire.TxnResponse
			decodeOK(t, resA[i], &r)
			if r.Succeeded {
				counts["fenced write"]++
			} else {
				counts["fenced refusal"]++
			}
		}
	}
	for i, e := range evA {
		if e.Type == wire.EventPut && bytes.HasSuffix(e.Kv.Key, []byte("}/h")) && i > 0 &&
			evA[i-1].Type == wire.EventDelete && evA[i-1].PrevKv.Lease != 0 && evA[i-1].Kv.ModRevision == e.Kv.ModRevision {
			counts["grant as an owner leaves"]++
		}
	}
	t.Logf("%v", counts)
	for _, k := range []string{"lock granted", "lock queued", "try refused", "unlock", "proclaim", "fenced write", "fenced refusal", "grant as an owner leaves"} {
		require.Positive(t, counts[k], k)
	}
}
