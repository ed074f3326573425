package lockrules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

// slashNames are lock names with '/' (hierarchical names, as a role's
// prefix permission jobs/ covers), with names that are prefixes of one
// another: each must be an instance of its own.
var slashNames = []string{"jobs", "jobs/a", "jobs/a/b", "a", "a/", "/", "/x", "a/b/c"}

// TestLockSlashNames: names with '/' are valid and work end to end —
// acquire, queue, status, the lease-revoke hand-off (which parses the
// name back from an owner key), fencing tokens, shared owners — and
// instances whose names are prefixes of each other share no key.
func TestLockSlashNames(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	for _, n := range slashNames {
		require.NoError(t, lockrules.ValidateName(n), n)
	}
	// a holds every lock, b waits for each.
	tokens := map[string]int64{}
	for _, n := range slashNames {
		var r wire.LockResponse
		h.Must(lockCmd(n, a, "a", false), &r)
		require.Equal(t, h.Rev(), r.Token, n)
		tokens[n] = r.Token
		h.Must(lockCmd(n, b, "b", false), &r)
		require.Zero(t, r.Token, n)
	}
	for _, n := range slashNames {
		st := status(t, h, n)
		require.True(t, st.Held, n)
		require.Equal(t, tokens[n], st.Token, n)
		require.Equal(t, "a", string(st.Owner), n)
		require.Equal(t, int64(1), st.Waiters, n)
		// A scan over the instance's prefix sees its keys only.
		var keys []string
		for _, kv := range h.Keys(lockrules.Prefix(n), 0) {
			keys = append(keys, string(kv.Key))
		}
		require.Equal(t, []string{
			string(lockrules.HolderKey(n)),
			string(lockrules.OwnerKey(n, tokens[n])),
			string(lockrules.OwnerKey(n, tokens[n]+1)),
		}, keys, n)
		name, ok := lockrules.OwnerName(lockrules.Root, lockrules.OwnerKey(n, tokens[n]))
		require.True(t, ok, n)
		require.Equal(t, n, name)
		require.True(t, (applyDriver{h}).fenced(n, tokens[n]), n)
	}

	// The revoke of a's lease hands every lock to b, in its one revision.
	h.Revoke(a)
	rev := h.Rev()
	for _, n := range slashNames {
		st := status(t, h, n)
		require.True(t, st.Held, n)
		require.Equal(t, "b", string(st.Owner), n)
		require.Equal(t, rev, st.Token, n)
		require.Equal(t, lockrules.OwnerKey(n, tokens[n]+1), st.Key, n)
		require.Zero(t, st.Waiters, n)
	}

	// Unlocking jobs leaves jobs/a held.
	h.Must(unlockCmd("jobs", lockrules.OwnerKey("jobs", tokens["jobs"]+1), b), nil)
	require.False(t, status(t, h, "jobs").Held)
	require.True(t, status(t, h, "jobs/a").Held)
	require.Empty(t, h.Keys(lockrules.Prefix("jobs"), 0))
	require.Len(t, h.Keys(lockrules.Prefix("jobs/a"), 0), 2)
}

// TestRWLockSlashNames: shared owners of a name with '/' are granted
// together, and the revoke of their leases grants the writer behind them.
func TestRWLockSlashNames(t *testing.T) {
	h := smtest.New(t)
	d := applyDriver{h}
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	for _, n := range []string{"rw", "rw/x"} {
		ra, werr := d.lock(rlock(n, a, "a"))
		require.Nil(t, werr)
		require.NotZero(t, ra.Token, n)
		rb, werr := d.lock(rlock(n, b, "b"))
		require.Nil(t, werr)
		require.NotZero(t, rb.Token, n)
		rc, werr := d.lock(wlock(n, c, "c"))
		require.Nil(t, werr)
		require.Zero(t, rc.Token, n)
	}
	require.Len(t, d.status("rw").Holders, 2)
	require.Len(t, d.status("rw/x").Holders, 2)
	h.Revoke(a)
	h.Revoke(b)
	for _, n := range []string{"rw", "rw/x"} {
		st := d.status(n)
		require.True(t, st.Held, n)
		require.Equal(t, "c", string(st.Owner), n)
		require.Equal(t, h.Rev(), st.Token, n)
	}
	// The txn compare of a lock token takes such a name.
	var resp wire.TxnResponse
	h.Must(statemachine.NewCommand(wire.MethodTxn, &wire.TxnRequest{
		Compare: []wire.Compare{{Target: wire.CompareLockToken, Result: wire.CompareEqual, Key: []byte("rw/x"), Version: h.Rev()}},
	}), &resp)
	require.True(t, resp.Succeeded)
}
