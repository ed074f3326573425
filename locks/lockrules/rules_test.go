package lockrules_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
	"github.com/coord-io/coord/statemachine"
	"github.com/coord-io/coord/statemachine/smtest"
)

func lockCmd(name string, lease int64, owner string, try bool) *statemachine.Command {
	return statemachine.NewCommand(lockrules.OpLock, &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(owner), Try: try})
}

func unlockCmd(name string, key []byte, lease int64) *statemachine.Command {
	return statemachine.NewCommand(lockrules.OpUnlock, &wire.UnlockRequest{Name: name, Key: key, Lease: lease})
}

func status(t *testing.T, h *smtest.Harness, name string) *wire.LockStatusResponse {
	t.Helper()
	s, err := h.Shard.LockStatus(name)
	require.NoError(t, err)
	return s
}

// TestLockRules walks one lock through acquire, queueing, try, cancel,
// unlock with hand-off and the errors, step by step.
func TestLockRules(t *testing.T) {
	h := smtest.New(t)
	a, b, c := h.Grant(10), h.Grant(10), h.Grant(10)
	foreign := wire.LeaseID(smtest.ShardID+1, 1)
	o := func(rev int64) []byte { return lockrules.OwnerKey("L", rev) }
	// st is the expected status of L after a step (Header aside).
	type st = wire.LockStatusResponse
	steps := []struct {
		desc   string
		cmd    *statemachine.Command
		code   wire.Code
		msg    string // substring of the error message
		resp   any    // expected response, Header aside
		rev    int64  // the shard's revision after the step
		status st
	}{
		{"free lock: granted at once, token = revision",
			lockCmd("L", a, "host-a pid 42", false), wire.OK, "",
			&wire.LockResponse{Key: o(2), Token: 2}, 2,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a}},
		{"held: queued with token 0",
			lockCmd("L", b, "b", false), wire.OK, "",
			&wire.LockResponse{Key: o(3)}, 3,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 1}},
		{"try while held: CodeLocked naming the holder, nothing written",
			lockCmd("L", c, "c", true), wire.CodeLocked, `lock "L" is held by "host-a pid 42" (token 2)`,
			nil, 3,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 1}},
		{"second waiter",
			lockCmd("L", c, "c", false), wire.OK, "",
			&wire.LockResponse{Key: o(4)}, 4,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 2}},
		{"another lease releases the holder's key: not owner, nothing written",
			unlockCmd("L", o(2), b), wire.CodeNotOwner, "only its owner may release it",
			nil, 4,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 2}},
		{"no lease at all: not owner either",
			unlockCmd("L", o(3), 0), wire.CodeNotOwner, "only its owner may release it",
			nil, 4,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 2}},
		{"a waiter cancels: the holder keeps the lock",
			unlockCmd("L", o(3), b), wire.OK, "",
			&wire.UnlockResponse{}, 5,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 1}},
		{"cancelling again: not an owner",
			unlockCmd("L", o(3), b), wire.CodeNotHolder, "is not an owner of lock \"L\"",
			nil, 5,
			st{Held: true, Key: o(2), Owner: []byte("host-a pid 42"), Token: 2, Lease: a, Waiters: 1}},
		{"the holder unlocks: the next waiter (not the cancelled one) is granted in the same command",
			unlockCmd("L", o(2), a), wire.OK, "",
			&wire.UnlockResponse{}, 6,
			st{Held: true, Key: o(4), Owner: []byte("c"), Token: 6, Lease: c}},
		{"a key of another lock: not an owner",
			unlockCmd("L", lockrules.OwnerKey("M", 4), c), wire.CodeNotHolder, "",
			nil, 6,
			st{Held: true, Key: o(4), Owner: []byte("c"), Token: 6, Lease: c}},
		{"garbage key: not an owner",
			unlockCmd("L", []byte("x"), c), wire.CodeNotHolder, "",
			nil, 6,
			st{Held: true, Key: o(4), Owner: []byte("c"), Token: 6, Lease: c}},
		{"the last holder unlocks: free",
			unlockCmd("L", o(4), c), wire.OK, "",
			&wire.UnlockResponse{}, 7,
			st{}},
		{"try on a free lock: granted",
			lockCmd("L", b, "b", true), wire.OK, "",
			&wire.LockResponse{Key: o(8), Token: 8}, 8,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b}},
		{"the same lease queues again behind itself",
			lockCmd("L", b, "b2", false), wire.OK, "",
			&wire.LockResponse{Key: o(9)}, 9,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1}},
		{"no lease", lockCmd("L", 0, "", false), wire.CodeInvalid, "a lease is required", nil, 9,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1}},
		{"missing lease", lockCmd("L", wire.LeaseID(smtest.ShardID, 99), "", false), wire.CodeLeaseNotFound, "not found", nil, 9,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1}},
		{"lease of another shard", lockCmd("L", foreign, "", false), wire.CodeWrongShard, "routing key {L}", nil, 9,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1}},
		{"malformed lease", lockCmd("L", -5, "", false), wire.CodeLeaseNotFound, "not a lease ID", nil, 9,
			st{Held: true, Key: o(8), Owner: []byte("b"), Token: 8, Lease: b, Waiters: 1}},
	}
	for _, s := range steps {
		var got any
		switch s.resp.(type) {
		case *wire.LockResponse:
			got = &wire.LockResponse{}
		case *wire.UnlockResponse:
			got = &wire.UnlockResponse{}
		}
		rs, _ := h.Apply(s.cmd)
		werr := smtest.Decode(t, rs[0], got)
		if s.code == wire.OK {
			require.Nil(t, werr, s.desc)
			switch g := got.(type) {
			case *wire.LockResponse:
				require.Equal(t, wire.ResponseHeader{Shard: smtest.ShardID, Revision: s.rev}, g.Header, s.desc)
				g.Header = wire.ResponseHeader{}
			case *wire.UnlockResponse:
				require.Equal(t, wire.ResponseHeader{Shard: smtest.ShardID, Revision: s.rev}, g.Header, s.desc)
				g.Header = wire.ResponseHeader{}
			}
			require.Equal(t, s.resp, got, s.desc)
		} else {
			require.NotNil(t, werr, s.desc)
			require.Equal(t, s.code, werr.Code, s.desc)
			require.Contains(t, werr.Message, s.msg, s.desc)
			require.NotContains(t, werr.Message, "\n", s.desc)
		}
		require.Equal(t, s.rev, h.Rev(), s.desc)
		got2 := status(t, h, "L")
		require.Equal(t, wire.ResponseHeader{Shard: smtest.ShardID, Revision: s.rev}, got2.Header, s.desc)
		got2.Header = wire.ResponseHeader{}
		require.Equal(t, &s.status, got2, s.desc)
	}
}

func TestLockNames(t *testing.T) {
	h := smtest.New(t)
	a := h.Grant(10)
	for _, tc := range []struct {
		name string
		msg  string
	}{
		{"", "empty lock name"},
		{"{x}", `contains '{'`},
		{"a/{b", `contains '{'`},
		{"x}", `contains '}'`},
		{strings.Repeat("n", lockrules.MaxNameLen+1), "longer than 256"},
	} {
		err := lockrules.ValidateName(tc.name)
		require.Error(t, err, tc.name)
		require.Equal(t, wire.CodeInvalid, err.(*wire.Error).Code)
		require.Contains(t, err.Error(), tc.msg)
		for _, cmd := range []*statemachine.Command{lockCmd(tc.name, a, "", false), unlockCmd(tc.name, []byte("k"), a)} {
			werr, _ := h.Do(cmd, nil)
			require.NotNil(t, werr, tc.name)
			require.Equal(t, wire.CodeInvalid, werr.Code)
		}
		_, err = h.Shard.LockStatus(tc.name)
		require.Equal(t, wire.CodeInvalid, err.(*wire.Error).Code)
	}
	require.NoError(t, lockrules.ValidateName(strings.Repeat("n", lockrules.MaxNameLen)))
	require.NoError(t, lockrules.ValidateName("a.b-c d\x00é"))
	require.NoError(t, lockrules.ValidateName("jobs/a/b"))
	require.EqualValues(t, 1, h.Rev(), "nothing was written (an empty shard is at revision 1)")
}

// TestLockKeyLayout pins the layout documented in package locks.
func TestLockKeyLayout(t *testing.T) {
	require.Equal(t, "\x00coord/lock/{jobs}/", string(lockrules.Prefix("jobs")))
	require.Equal(t, "\x00coord/lock/{jobs}/h", string(lockrules.HolderKey("jobs")))
	require.Equal(t, "\x00coord/lock/{jobs}/o/\x00\x00\x00\x00\x00\x00\x00\x11", string(lockrules.OwnerKey("jobs", 17)))
	// The lock lives in the shard of the keys tagged {jobs}, and of the
	// name itself (what a CompareLockToken routes by).
	for _, k := range [][]byte{lockrules.Prefix("jobs"), lockrules.HolderKey("jobs"), lockrules.OwnerKey("jobs", 1), []byte("jobs")} {
		require.Equal(t, wire.ShardOf([]byte("{jobs}/data"), 64), wire.ShardOf(k, 64))
	}

	h := smtest.New(t)
	a := h.Grant(10)
	h.Put("x", "1") // rev 2
	var resp wire.LockResponse
	h.Must(lockCmd("jobs", a, "me", false), &resp) // rev 3
	kv := h.Get(lockrules.HolderKey("jobs"), 0)
	require.NotNil(t, kv)
	hd, err := lockrules.DecodeHolder(kv.Value)
	require.NoError(t, err)
	require.Equal(t, lockrules.Holder{Key: lockrules.OwnerKey("jobs", 3), Token: 3, Lease: a, Tail: 3, Owner: []byte("me")}, hd)
	require.Zero(t, kv.Lease, "the holder record belongs to no lease")
	owner := h.Get(lockrules.OwnerKey("jobs", 3), 0)
	require.Equal(t, a, owner.Lease)
	require.Equal(t, "me", string(owner.Value))
	keys, err := h.Shard.LeaseKeys(a)
	require.NoError(t, err)
	require.Equal(t, [][]byte{lockrules.OwnerKey("jobs", 3)}, keys)
}

func eventKeys(evs []wire.Event) []string {
	var out []string
	for _, e := range evs {
		t := "put"
		if e.Type == wire.EventDelete {
			t = "del"
		}
		out = append(out, fmt.Sprintf("%s %q @%d", t, e.Kv.Key, e.Kv.ModRevision))
	}
	return out
}

// TestLockRevokeHandsOn: the revoke of a holder's lease grants the next
// owner in the same command, at the revoke's one revision.
func TestLockRevokeHandsOn(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	var r wire.LockResponse
	h.Must(lockCmd("L", a, "a", false), &r) // 2: a holds L
	h.Must(lockCmd("L", b, "b", false), &r) // 3: b waits
	h.Must(lockCmd("L", a, "a", false), &r) // 4: a waits behind b as well
	h.Must(lockCmd("M", a, "a", false), &r) // 5: a holds M, alone
	h.Must(lockCmd("N", b, "b", false), &r) // 6: b holds N
	h.Must(lockCmd("N", a, "a", false), &r) // 7: a waits for N

	evs := h.Revoke(a)
	require.Equal(t, int64(8), h.Rev(), "one revision")
	q := func(name string, rev int64) string { return fmt.Sprintf("%q", lockrules.OwnerKey(name, rev)) }
	require.Equal(t, []string{
		"del " + q("L", 2) + " @8",
		"del " + q("L", 4) + " @8",
		"del " + q("M", 5) + " @8",
		"del " + q("N", 7) + " @8",
		fmt.Sprintf("put %q @8", lockrules.HolderKey("L")),
		fmt.Sprintf("del %q @8", lockrules.HolderKey("M")),
	}, eventKeys(evs))

	require.Equal(t, &wire.LockStatusResponse{Header: wire.ResponseHeader{Shard: smtest.ShardID, Revision: 8},
		Held: true, Key: lockrules.OwnerKey("L", 3), Owner: []byte("b"), Token: 8, Lease: b}, status(t, h, "L"))
	require.False(t, status(t, h, "M").Held)
	require.Equal(t, int64(6), status(t, h, "N").Token, "N's holder is unaffected")
	require.Zero(t, status(t, h, "N").Waiters)

	// The new holder's record survives a snapshot and a restore.
	snap, err := h.Shard.PrepareSnapshot()
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, h.Shard.SaveSnapshot(snap, &buf))
	h2 := smtest.New(t)
	require.NoError(t, h2.Shard.RecoverFromSnapshot(&buf))
	require.Equal(t, status(t, h, "L"), status(t, h2, "L"))
}

// TestLockTokenCompare: a txn fenced by "lock L = token T" writes for the
// current holder's token only.
func TestLockTokenCompare(t *testing.T) {
	h := smtest.New(t)
	a, b := h.Grant(10), h.Grant(10)
	var ra, rb wire.LockResponse
	h.Must(lockCmd("L", a, "a", false), &ra)
	h.Must(lockCmd("L", b, "b", false), &rb)
	h.Must(unlockCmd("L", ra.Key, a), nil) // b holds L with token 4
	tokB := status(t, h, "L").Token
	require.Equal(t, int64(4), tokB)

	fenced := func(name string, rel wire.CompareResult, token int64, v string) *statemachine.Command {
		return statemachine.NewCommand(statemachine.OpTxn, &wire.TxnRequest{
			Compare: []wire.Compare{{Target: wire.CompareLockToken, Result: rel, Key: []byte(name), Version: token}},
			Success: []wire.RequestOp{{Put: &wire.PutRequest{Key: []byte("{" + name + "}/data"), Value: []byte(v)}}},
		})
	}
	for _, tc := range []struct {
		desc  string
		cmd   *statemachine.Command
		ok    bool
		value string // {L}/data after
	}{
		{"older token (a's): refused", fenced("L", wire.CompareEqual, ra.Token, "from a"), false, ""},
		{"current token: written", fenced("L", wire.CompareEqual, tokB, "from b"), true, "from b"},
		{"not equal", fenced("L", wire.CompareNotEqual, tokB, "x"), false, "from b"},
		{"greater than an older token", fenced("L", wire.CompareGreater, ra.Token, "newer"), true, "newer"},
		{"less", fenced("L", wire.CompareLess, tokB, "x"), false, "newer"},
		{"a free lock has token 0", fenced("free", wire.CompareEqual, 0, "free"), true, "newer"},
	} {
		var resp wire.TxnResponse
		h.Must(tc.cmd, &resp)
		require.Equal(t, tc.ok, resp.Succeeded, tc.desc)
		if kv := h.Get([]byte("{L}/data"), 0); tc.value == "" {
			require.Nil(t, kv, tc.desc)
		} else {
			require.Equal(t, tc.value, string(kv.Value), tc.desc)
		}
	}

	// After b unlocks, b's token fences nothing.
	h.Must(unlockCmd("L", rb.Key, b), nil)
	var resp wire.TxnResponse
	h.Must(fenced("L", wire.CompareEqual, tokB, "late"), &resp)
	require.False(t, resp.Succeeded)

	for _, c := range []wire.Compare{
		{Target: wire.CompareLockToken, Key: []byte("a{b")},
		{Target: wire.CompareLockToken, Key: []byte("L"), RangeEnd: []byte("M")},
		{Target: 6, Key: []byte("L")},
	} {
		werr, _ := h.Do(statemachine.NewCommand(statemachine.OpTxn, &wire.TxnRequest{Compare: []wire.Compare{c}}), nil)
		require.NotNil(t, werr)
		require.Equal(t, wire.CodeInvalid, werr.Code, "%+v", c)
	}
}

// TestLockRandomHistory runs a long random sequence of acquires, tries,
// unlocks, cancels, bogus unlocks and lease revokes on several locks,
// checks every result against a model FIFO, and then checks every
// revision of the history: the holder record exists exactly when owners
// do and names the lowest owner key; each grant's token is the revision
// of its holder record and tokens strictly increase per lock.
func TestLockRandomHistory(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	h := smtest.New(t)

	names := []string{"a", "b", "c", "d", "e"}
	type owner struct {
		key   []byte
		lease int64
		data  string
	}
	model := map[string][]owner{} // name → owners in FIFO order
	var leases []int64
	grant := func() { leases = append(leases, h.Grant(10)) }
	for i := 0; i < 4; i++ {
		grant()
	}
	lastToken := map[string]int64{}
	checkHolder := func(name string) {
		s := status(t, h, name)
		q := model[name]
		if len(q) == 0 {
			require.False(t, s.Held, name)
			return
		}
		require.True(t, s.Held, name)
		require.Equal(t, q[0].key, s.Key, name)
		require.Equal(t, q[0].lease, s.Lease, name)
		require.Equal(t, q[0].data, string(s.Owner), name)
		require.Equal(t, int64(len(q)-1), s.Waiters, name)
		require.GreaterOrEqual(t, s.Token, lastToken[name], name)
		lastToken[name] = s.Token
	}

	for i := 0; i < 1000; i++ {
		name := names[rng.Intn(len(names))]
		before := h.Rev()
		switch r := rng.Intn(100); {
		case r < 45 && len(leases) > 0:
			lease := leases[rng.Intn(len(leases))]
			try := rng.Intn(4) == 0
			data := fmt.Sprintf("o%d", i)
			var resp wire.LockResponse
			werr, _ := h.Do(lockCmd(name, lease, data, try), &resp)
			if try && len(model[name]) > 0 {
				require.NotNil(t, werr)
				require.Equal(t, wire.CodeLocked, werr.Code)
				require.Equal(t, before, h.Rev())
				break
			}
			require.Nil(t, werr)
			require.Equal(t, before+1, h.Rev())
			require.Equal(t, lockrules.OwnerKey(name, before+1), resp.Key)
			if len(model[name]) == 0 {
				require.Equal(t, before+1, resp.Token)
			} else {
				require.Zero(t, resp.Token)
			}
			model[name] = append(model[name], owner{resp.Key, lease, data})
		case r < 75 && len(model[name]) > 0:
			// Unlock the holder (half the time) or cancel a waiter.
			q := model[name]
			j := 0
			if rng.Intn(2) == 0 {
				j = rng.Intn(len(q))
			}
			h.Must(unlockCmd(name, q[j].key, q[j].lease), nil)
			require.Equal(t, before+1, h.Rev())
			model[name] = append(q[:j:j], q[j+1:]...)
		case r < 80:
			// A key that is not an owner (any more): refused, nothing written.
			key := lockrules.OwnerKey(name, int64(rng.Intn(int(before)+2)))
			live := false
			for _, o := range model[name] {
				live = live || bytes.Equal(o.key, key)
			}
			if live {
				break
			}
			werr, _ := h.Do(unlockCmd(name, key, 0), nil)
			require.NotNil(t, werr)
			require.Equal(t, wire.CodeNotHolder, werr.Code)
			require.Equal(t, before, h.Rev())
		case r < 90 && len(leases) > 0:
			j := rng.Intn(len(leases))
			lease := leases[j]
			leases = append(leases[:j:j], leases[j+1:]...)
			h.Revoke(lease)
			gone := false
			for n, q := range model {
				var keep []owner
				for _, o := range q {
					if o.lease != lease {
						keep = append(keep, o)
					} else {
						gone = true
					}
				}
				model[n] = keep
			}
			if gone {
				require.Equal(t, before+1, h.Rev(), "a revoke makes one revision")
			} else {
				require.Equal(t, before, h.Rev())
			}
		default:
			grant()
		}
		for _, n := range names {
			checkHolder(n)
		}
	}

	// Every revision of the history.
	cur := h.Rev()
	tokens := map[string][]int64{}
	grants := 0
	for rev := int64(1); rev <= cur; rev++ {
		for _, n := range names {
			owners := h.Keys(append(lockrules.Prefix(n), 'o', '/'), rev)
			kv := h.Get(lockrules.HolderKey(n), rev)
			if len(owners) == 0 {
				require.Nil(t, kv, "lock %s at %d: free but a holder record", n, rev)
				continue
			}
			require.NotNil(t, kv, "lock %s at %d: owners but no holder", n, rev)
			hd, err := lockrules.DecodeHolder(kv.Value)
			require.NoError(t, err)
			require.Equal(t, owners[0].Key, hd.Key, "lock %s at %d: the holder is the oldest owner", n, rev)
			require.Equal(t, owners[0].Lease, hd.Lease)
			require.Equal(t, owners[0].Value, hd.Owner)
			require.LessOrEqual(t, hd.Token, rev)
			ts := tokens[n]
			if len(ts) == 0 || ts[len(ts)-1] != hd.Token {
				// A new grant: its token is the revision it happened at,
				// above every earlier token of the lock.
				require.Equal(t, rev, hd.Token, "lock %s: grant at %d", n, rev)
				if len(ts) > 0 {
					require.Greater(t, hd.Token, ts[len(ts)-1])
				}
				tokens[n] = append(ts, hd.Token)
				grants++
			}
		}
	}
	t.Logf("%d revisions, %d grants", cur, grants)
	require.Greater(t, grants, 50)
}
