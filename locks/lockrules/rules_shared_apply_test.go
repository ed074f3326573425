package lockrules_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

// The read-write rules through statemachine's apply (smtest): the revoke
// hooks in the order the state machine calls them, the txn compare on a
// lock token, snapshots.

// applyDriver is an rwDriver over a real shard.
type applyDriver struct{ h *smtest.Harness }

func (d applyDriver) grant() int64 { return d.h.Grant(10) }
func (d applyDriver) rev() int64   { return d.h.Rev() }

func (d applyDriver) lock(req *wire.LockRequest) (*wire.LockResponse, *wire.Error) {
	d.h.T.Helper()
	var resp wire.LockResponse
	werr, _ := d.h.Do(statemachine.NewCommand(lockrules.OpLock, req), &resp)
	if werr != nil {
		return nil, werr
	}
	require.Equal(d.h.T, wire.ResponseHeader{Shard: smtest.ShardID, Revision: d.h.Rev()}, resp.Header)
	resp.Header = wire.ResponseHeader{}
	return &resp, nil
}

func (d applyDriver) unlock(name string, key []byte, lease int64) *wire.Error {
	d.h.T.Helper()
	werr, _ := d.h.Do(unlockCmd(name, key, lease), nil)
	return werr
}

func (d applyDriver) revoke(lease int64) { d.h.Revoke(lease) }

func (d applyDriver) status(name string) *wire.LockStatusResponse {
	d.h.T.Helper()
	s, err := d.h.Shard.LockStatus(name)
	require.NoError(d.h.T, err)
	s.Header = wire.ResponseHeader{}
	return s
}

// fenced runs "If(lock name = token)" as a txn that writes nothing.
func (d applyDriver) fenced(name string, token int64) bool {
	d.h.T.Helper()
	before := d.h.Rev()
	var resp wire.TxnResponse
	d.h.Must(statemachine.NewCommand(wire.MethodTxn, &wire.TxnRequest{
		Compare: []wire.Compare{{Target: wire.CompareLockToken, Result: wire.CompareEqual, Key: []byte(name), Version: token}},
	}), &resp)
	require.Equal(d.h.T, before, d.h.Rev())
	return resp.Succeeded
}

func TestRWLockRandomHistoryApply(t *testing.T) {
	h := smtest.New(t)
	runRWHistory(t, applyDriver{h}, 1000)

	// Every revision of the history, from the keys alone: the holder
	// record exists exactly when owners do and names the oldest; a marker
	// belongs to a live owner of the same lease; the granted markers are
	// the run of shared owners from the head (none behind an exclusive
	// head), and a shared head's record carries its grant's token.
	for rev := int64(1); rev <= h.Rev(); rev++ {
		for _, n := range []string{"a", "b", "c"} {
			owners := h.Keys(append(lockrules.Prefix(n), 'o', '/'), rev)
			markers := h.Keys(append(lockrules.Prefix(n), 's', '/'), rev)
			kv := h.Get(lockrules.HolderKey(n), rev)
			if len(owners) == 0 {
				require.Nil(t, kv, "lock %s at %d: free but a holder record", n, rev)
				require.Empty(t, markers, "lock %s at %d", n, rev)
				continue
			}
			require.NotNil(t, kv, "lock %s at %d: owners but no holder", n, rev)
			hd, err := lockrules.DecodeHolder(kv.Value)
			require.NoError(t, err)
			require.Equal(t, owners[0].Key, hd.Key, "lock %s at %d: the holder record names the oldest owner", n, rev)
			run := true // still in the run of shared owners from the head
			j := 0
			for i, o := range owners {
				shared := j < len(markers) && bytes.Equal(markers[j].Key, lockrules.GrantKey(n, o.Key, true))
				if !shared {
					run = false
					continue
				}
				m := markers[j]
				j++
				require.Equal(t, o.Lease, m.Lease, "lock %s at %d", n, rev)
				g, err := lockrules.DecodeGrant(m.Value)
				require.NoError(t, err)
				if !run {
					require.Nil(t, g.Key, "lock %s at %d: a shared owner behind an exclusive one granted", n, rev)
					continue
				}
				require.Equal(t, o.Key, g.Key, "lock %s at %d: a shared owner of the head's run waits", n, rev)
				require.Equal(t, m.ModRevision, g.Token, "lock %s at %d: a grant's token is its revision", n, rev)
				if i == 0 {
					require.Equal(t, g.Token, hd.Token, "lock %s at %d", n, rev)
				}
			}
			require.Equal(t, len(markers), j, "lock %s at %d: a marker without its owner", n, rev)
		}
	}

	// Every lock's state survives a snapshot and a restore.
	snap, err := h.Shard.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.Shard.SaveSnapshot(snap, &buf))
	h2 := smtest.New(t)
	require.NoError(t, h2.Shard.RecoverFromSnapshot(&buf))
	for _, n := range []string{"a", "b", "c"} {
		require.Equal(t, applyDriver{h}.status(n), applyDriver{h2}.status(n), n)
	}
}

// TestRWLockRevokeApply: a revoke deletes the lease's owner keys and
// shared markers, then hands every lock on, in one revision.
func TestRWLockRevokeApply(t *testing.T) {
	h := smtest.New(t)
	d := applyDriver{h}
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	d.lock(rlock("L", a, "a")) // 2: a reads L
	d.lock(wlock("L", b, "b")) // 3: b waits to write
	d.lock(rlock("L", c, "c")) // 4: c waits behind b
	d.lock(rlock("L", a, "a")) // 5: a waits behind b as well
	d.lock(wlock("M", a, "a")) // 6: a writes M
	d.lock(rlock("M", c, "c")) // 7: c waits to read M
	require.Equal(t, int64(7), h.Rev())

	evs := h.Revoke(a)
	require.Equal(t, int64(8), h.Rev(), "one revision")
	q := func(k []byte) string { return fmt.Sprintf("%q", k) }
	require.Equal(t, []string{
		"del " + q(lockrules.OwnerKey("L", 2)) + " @8",
		"del " + q(lockrules.OwnerKey("L", 5)) + " @8",
		"del " + q(lockrules.SharedKey("L", 2)) + " @8",
		"del " + q(lockrules.SharedKey("L", 5)) + " @8",
		"del " + q(lockrules.OwnerKey("M", 6)) + " @8",
		"put " + q(lockrules.HolderKey("L")) + " @8",
		"put " + q(lockrules.SharedKey("M", 7)) + " @8",
		"put " + q(lockrules.HolderKey("M")) + " @8",
	}, eventKeys(evs))
	require.Equal(t, &wire.LockStatusResponse{Held: true, Key: lockrules.OwnerKey("L", 3), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1,
		Holders: []wire.LockOwner{{Key: lockrules.OwnerKey("L", 3), Owner: []byte("b"), Token: 8, Lease: b}},
		Queue:   []wire.LockOwner{{Key: lockrules.OwnerKey("L", 4), Owner: []byte("c"), Lease: c, Shared: true}},
	}, d.status("L"))
	require.Equal(t, &wire.LockStatusResponse{Held: true, Readers: 1,
		Holders: []wire.LockOwner{{Key: lockrules.OwnerKey("M", 7), Owner: []byte("c"), Token: 8, Lease: c, Shared: true}},
	}, d.status("M"))
	keys, err := h.Shard.LeaseKeys(c)
	require.NoError(t, err)
	require.Equal(t, [][]byte{lockrules.OwnerKey("L", 4), lockrules.SharedKey("L", 4), lockrules.OwnerKey("M", 7), lockrules.SharedKey("M", 7)}, keys,
		"a shared owner's marker is attached to its lease")
}

// TestRWLockTokenCompareApply: a txn fenced by "lock L = T" writes for
// the exclusive holder's token only; while readers hold, no token
// passes, and "lock L = 0" does.
func TestRWLockTokenCompareApply(t *testing.T) {
	h := smtest.New(t)
	d := applyDriver{h}
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	ra, _ := d.lock(rlock("L", a, "a")) // 2
	rb, _ := d.lock(wlock("L", b, "b")) // 3
	d.lock(rlock("L", c, "c"))          // 4
	fenced := func(token int64, v string) bool {
		var resp wire.TxnResponse
		h.Must(statemachine.NewCommand(wire.MethodTxn, &wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareLockToken, Result: wire.CompareEqual, Key: []byte("L"), Version: token}},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("{L}/data"), Value: []byte(v)}}},
		}), &resp)
		return resp.Succeeded
	}
	require.False(t, fenced(ra.Token, "reader a"), "a reader's token fences nothing")
	require.True(t, fenced(0, "no writer"), "0 while readers hold") // 5
	require.Nil(t, d.unlock("L", ra.Key, a))                        // 6: b writes
	require.Equal(t, int64(6), d.status("L").Token)
	require.False(t, fenced(0, "x"))
	require.False(t, fenced(ra.Token, "x"))
	require.True(t, fenced(6, "writer b"))   // 7
	require.Nil(t, d.unlock("L", rb.Key, b)) // 8: c reads
	require.False(t, fenced(6, "late writer"))
	require.False(t, fenced(8, "reader c"))
	require.Equal(t, "writer b", string(h.Get([]byte("{L}/data"), 0).Value))
	require.Equal(t, int64(8), d.status("L").Holders[0].Token)
}
