package lockrules_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks/lockrules"
)

// The read-write lock's rules, called over an in-memory lockrules.Store
// (memStore) as package statemachine calls them; the same checks run
// through the real apply in rules_shared_apply_test.go.

const memShard = 3

// memStore is a lockrules.Store of live keys only: every command runs through
// do, which checks that a failing rule wrote nothing and that a command
// makes at most one revision.
type memStore struct {
	t      testing.TB
	rev    int64
	kvs    map[string]*wire.KeyValue
	leases map[int64]bool
	nLease uint64
	wrote  bool
	events []string // "put KEY" / "del KEY" of the last command
}

func newMemStore(t testing.TB) *memStore {
	return &memStore{t: t, kvs: map[string]*wire.KeyValue{}, leases: map[int64]bool{}}
}

func cloneKV(kv *wire.KeyValue) *wire.KeyValue {
	c := *kv
	c.Key, c.Value = bytes.Clone(kv.Key), bytes.Clone(kv.Value)
	return &c
}

func (m *memStore) Get(key []byte) (*wire.KeyValue, error) {
	if kv, ok := m.kvs[string(key)]; ok {
		return cloneKV(kv), nil
	}
	return nil, nil
}

func (m *memStore) sorted(key, end []byte) []string {
	var ks []string
	for k := range m.kvs {
		if k >= string(key) && (len(end) == 0 || k < string(end)) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (m *memStore) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	var out []*wire.KeyValue
	for _, k := range m.sorted(key, end) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, cloneKV(m.kvs[k]))
	}
	return out, nil
}

func (m *memStore) Count(key, end []byte) (int64, error) {
	return int64(len(m.sorted(key, end))), nil
}

func (m *memStore) Put(key, value []byte, lease int64) error {
	if lease != 0 && !m.leases[lease] {
		return fmt.Errorf("put %q with a missing lease %x", key, lease)
	}
	kv := &wire.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value), ModRevision: m.Revision(), Lease: lease, Version: 1, CreateRevision: m.Revision()}
	if old, ok := m.kvs[string(key)]; ok {
		kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
	}
	m.kvs[string(key)] = kv
	m.wrote = true
	m.events = append(m.events, fmt.Sprintf("put %q", key))
	return nil
}

func (m *memStore) Delete(key []byte) (bool, error) {
	if _, ok := m.kvs[string(key)]; !ok {
		return false, nil
	}
	delete(m.kvs, string(key))
	m.wrote = true
	m.events = append(m.events, fmt.Sprintf("del %q", key))
	return true, nil
}

func (m *memStore) LeaseExists(id int64) (bool, error) { return m.leases[id], nil }
func (m *memStore) Shard() uint32                      { return memShard }
func (m *memStore) Revision() int64                    { return m.rev + 1 }

// do runs one command.
func (m *memStore) do(fn func() (*wire.Error, error)) *wire.Error {
	m.t.Helper()
	m.wrote, m.events = false, nil
	werr, err := fn()
	require.NoError(m.t, err)
	if werr != nil {
		require.False(m.t, m.wrote, "a rule that failed wrote: %v", werr)
	}
	if m.wrote {
		m.rev++
	}
	return werr
}

func (m *memStore) grant() int64 {
	m.nLease++
	id := wire.LeaseID(memShard, m.nLease)
	m.leases[id] = true
	return id
}

// revoke revokes lease id as package statemachine does: delete every key
// attached to it, then call OwnerDeleted for each deleted key in key
// order, all in one command.
func (m *memStore) revoke(id int64) {
	m.t.Helper()
	m.do(func() (*wire.Error, error) {
		var gone [][]byte
		for _, k := range m.sorted(nil, nil) {
			if m.kvs[k].Lease == id {
				gone = append(gone, []byte(k))
				_, _ = m.Delete([]byte(k))
			}
		}
		delete(m.leases, id)
		for _, k := range gone {
			if err := lockrules.OwnerDeleted(m, k); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}

// memDriver runs the rules over a memStore.
type memDriver struct{ m *memStore }

func (d memDriver) grant() int64 { return d.m.grant() }
func (d memDriver) rev() int64   { return d.m.rev }

func (d memDriver) lock(req *wire.LockRequest) (*wire.LockResponse, *wire.Error) {
	d.m.t.Helper()
	var resp *wire.LockResponse
	werr := d.m.do(func() (werr *wire.Error, err error) {
		resp, werr, err = lockrules.ApplyLock(d.m, req)
		return werr, err
	})
	return resp, werr
}

func (d memDriver) unlock(name string, key []byte, lease int64) *wire.Error {
	d.m.t.Helper()
	return d.m.do(func() (werr *wire.Error, err error) {
		_, werr, err = lockrules.ApplyUnlock(d.m, &wire.UnlockRequest{Name: name, Key: key, Lease: lease})
		return werr, err
	})
}

func (d memDriver) revoke(lease int64) { d.m.revoke(lease) }

func (d memDriver) status(name string) *wire.LockStatusResponse {
	d.m.t.Helper()
	s, werr, err := lockrules.ReadStatus(d.m, name)
	require.NoError(d.m.t, err)
	require.Nil(d.m.t, werr)
	return s
}

func (d memDriver) fenced(name string, token int64) bool {
	d.m.t.Helper()
	got, werr, err := lockrules.ReadToken(d.m, name)
	require.NoError(d.m.t, err)
	require.Nil(d.m.t, werr)
	return got == token
}

// rwDriver applies commands to one shard: memDriver calls the rules,
// applyDriver goes through statemachine's apply.
type rwDriver interface {
	grant() int64
	rev() int64
	lock(req *wire.LockRequest) (*wire.LockResponse, *wire.Error)
	unlock(name string, key []byte, lease int64) *wire.Error
	revoke(lease int64)
	status(name string) *wire.LockStatusResponse
	// fenced reports whether "lock name = token" (wire.CompareLockToken)
	// holds.
	fenced(name string, token int64) bool
}

func rlock(name string, lease int64, owner string) *wire.LockRequest {
	return &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(owner), Shared: true}
}

func wlock(name string, lease int64, owner string) *wire.LockRequest {
	return &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(owner)}
}

func tryLock(r *wire.LockRequest) *wire.LockRequest { r.Try = true; return r }

// TestRWLockWorkedExample is the worked example of doc.go ("Read-write
// locks"), step by step, with the keys each step writes.
func TestRWLockWorkedExample(t *testing.T) {
	m := newMemStore(t)
	d := memDriver{m}
	A, B, C, D := m.grant(), m.grant(), m.grant(), m.grant()
	o := func(rev int64) []byte { return lockrules.OwnerKey("cfg", rev) }
	s := func(rev int64) []byte { return lockrules.SharedKey("cfg", rev) }
	hk := lockrules.HolderKey("cfg")
	put := func(k []byte) string { return fmt.Sprintf("put %q", k) }
	del := func(k []byte) string { return fmt.Sprintf("del %q", k) }
	grant := func(rev, token, lease int64) []byte {
		return lockrules.Holder{Key: o(rev), Token: token, Lease: lease}.Encode()
	}
	holder := func(rev, token, lease, tail int64, owner string) lockrules.Holder {
		return lockrules.Holder{Key: o(rev), Token: token, Lease: lease, Tail: tail, Owner: []byte(owner)}
	}
	checkKeys := func(desc string, h lockrules.Holder, markers map[int64][]byte) {
		t.Helper()
		kv, _ := m.Get(hk)
		require.NotNil(t, kv, desc)
		got, err := lockrules.DecodeHolder(kv.Value)
		require.NoError(t, err)
		require.Equal(t, h, got, desc)
		p := append(lockrules.Prefix("cfg"), 's', '/')
		ms, _ := m.Range(p, wire.PrefixEnd(p), 0)
		require.Len(t, ms, len(markers), desc)
		for _, kv := range ms {
			want, ok := markers[int64(binary.BigEndian.Uint64(kv.Key[len(p):]))]
			require.True(t, ok, "%s: marker %q", desc, kv.Key)
			require.Equal(t, string(want), string(kv.Value), "%s: marker %q", desc, kv.Key)
		}
	}

	// rev 1: A reads.
	r, werr := d.lock(rlock("cfg", A, "reader-a"))
	require.Nil(t, werr)
	require.Equal(t, &wire.LockResponse{Key: o(1), Token: 1}, r)
	require.Equal(t, []string{put(o(1)), put(s(1)), put(hk)}, m.events)
	checkKeys("rev 1", holder(1, 1, A, 1, "reader-a"), map[int64][]byte{1: grant(1, 1, A)})

	// rev 2: B reads beside A.
	r, _ = d.lock(rlock("cfg", B, "reader-b"))
	require.Equal(t, &wire.LockResponse{Key: o(2), Token: 2}, r)
	checkKeys("rev 2", holder(1, 1, A, 2, "reader-a"), map[int64][]byte{1: grant(1, 1, A), 2: grant(2, 2, B)})

	// rev 3: the writer C waits for the readers.
	r, _ = d.lock(wlock("cfg", C, "writer-c"))
	require.Equal(t, &wire.LockResponse{Key: o(3)}, r)
	require.Equal(t, []string{put(o(3)), put(hk)}, m.events, "an exclusive Lock writes what it always did")

	// rev 4: the reader D queues behind the waiting writer.
	r, _ = d.lock(rlock("cfg", D, "reader-d"))
	require.Equal(t, &wire.LockResponse{Key: o(4)}, r)
	checkKeys("rev 4", holder(1, 1, A, 4, "reader-a"), map[int64][]byte{1: grant(1, 1, A), 2: grant(2, 2, B), 4: nil})

	_, werr = d.lock(tryLock(rlock("cfg", D, "reader-d")))
	require.Equal(t, wire.CodeLocked, werr.Code)
	require.Equal(t, `lock "cfg" is held shared by 2 owner(s) and an exclusive owner waits (shared owners queue behind it)`, werr.Message)
	_, werr = d.lock(tryLock(wlock("cfg", D, "writer-d")))
	require.Equal(t, wire.CodeLocked, werr.Code)
	require.Equal(t, `lock "cfg" is held shared by 2 owner(s) and an exclusive owner waits (shared owners queue behind it)`, werr.Message)
	require.False(t, d.fenced("cfg", 1), "a reader's token fences nothing")
	require.True(t, d.fenced("cfg", 0), "LockToken is 0 while readers hold")

	require.Equal(t, &wire.LockStatusResponse{Held: true, Waiters: 2, Readers: 2,
		Holders: []wire.LockOwner{
			{Key: o(1), Owner: []byte("reader-a"), Token: 1, Lease: A, Shared: true},
			{Key: o(2), Owner: []byte("reader-b"), Token: 2, Lease: B, Shared: true},
		},
		Queue: []wire.LockOwner{
			{Key: o(3), Owner: []byte("writer-c"), Lease: C},
			{Key: o(4), Owner: []byte("reader-d"), Lease: D, Shared: true},
		}}, d.status("cfg"))

	// rev 5: A leaves; B still reads and the holder record names it.
	require.Nil(t, d.unlock("cfg", o(1), A))
	require.Equal(t, int64(5), m.rev)
	require.Equal(t, []string{del(o(1)), del(s(1)), put(hk)}, m.events)
	checkKeys("rev 5", holder(2, 2, B, 4, "reader-b"), map[int64][]byte{2: grant(2, 2, B), 4: nil})

	// rev 6: B's lease is revoked: C holds alone, with token 6.
	d.revoke(B)
	require.Equal(t, int64(6), m.rev)
	require.Equal(t, []string{del(o(2)), del(s(2)), put(hk)}, m.events)
	checkKeys("rev 6", holder(3, 6, C, 4, "writer-c"), map[int64][]byte{4: nil})
	require.True(t, d.fenced("cfg", 6))
	require.False(t, d.fenced("cfg", 0))
	_, werr = d.lock(tryLock(rlock("cfg", A, "a")))
	require.Equal(t, `lock "cfg" is held by "writer-c" (token 6)`, werr.Message)
	require.Equal(t, &wire.LockStatusResponse{Held: true, Key: o(3), Owner: []byte("writer-c"), Token: 6, Lease: C, Waiters: 1,
		Holders: []wire.LockOwner{{Key: o(3), Owner: []byte("writer-c"), Token: 6, Lease: C}},
		Queue:   []wire.LockOwner{{Key: o(4), Owner: []byte("reader-d"), Lease: D, Shared: true}},
	}, d.status("cfg"))

	// rev 7: C unlocks: D reads with token 7, granted by the unlock.
	require.Nil(t, d.unlock("cfg", o(3), C))
	require.Equal(t, []string{del(o(3)), put(s(4)), put(hk)}, m.events)
	checkKeys("rev 7", holder(4, 7, D, 4, "reader-d"), map[int64][]byte{4: grant(4, 7, D)})

	// rev 8: D unlocks: free, nothing left.
	require.Nil(t, d.unlock("cfg", o(4), D))
	require.Equal(t, []string{del(o(4)), del(s(4)), del(hk)}, m.events)
	require.Empty(t, m.sorted(lockrules.Prefix("cfg"), wire.PrefixEnd(lockrules.Prefix("cfg"))))
	require.Equal(t, &wire.LockStatusResponse{}, d.status("cfg"))
}

// model is the expected state of the locks of a random history: per name,
// the owners in arrival order; an owner's token is 0 while it waits.
type model map[string][]*mOwner

type mOwner struct {
	key    []byte
	lease  int64
	data   string
	shared bool
	token  int64
}

// holding is the rule: an exclusive head alone, else the run of shared
// owners from the head.
func (m model) holding(name string) int {
	q := m[name]
	if len(q) == 0 {
		return 0
	}
	if !q[0].shared {
		return 1
	}
	n := 0
	for n < len(q) && q[n].shared {
		n++
	}
	return n
}

// settle grants, at rev, every owner that holds by the rule and has no
// token yet, and returns the number of new grants.
func (m model) settle(name string, rev int64) int {
	n := 0
	for _, o := range m[name][:m.holding(name)] {
		if o.token == 0 {
			o.token = rev
			n++
		}
	}
	return n
}

func (m model) hasShared(name string) bool {
	for _, o := range m[name] {
		if o.shared {
			return true
		}
	}
	return false
}

// checkRWLock checks the status of lock name against the model and the
// rule, independently of each other: either one exclusive holder and
// nobody else, or shared holders only; the holders are the oldest owners
// (FIFO), the first waiter of shared holders is exclusive (nobody waits
// who could hold; a reader behind a waiting writer waits), and the
// exclusive holder's token is the LockToken.
func checkRWLock(t *testing.T, d rwDriver, m model, name string) {
	t.Helper()
	s := d.status(name)
	q := m[name]
	n := m.holding(name)
	require.Equal(t, len(q) > 0, s.Held, name)
	require.Equal(t, int64(len(q)-n), s.Waiters, name)
	if len(q) == 0 {
		require.True(t, d.fenced(name, 0))
		return
	}
	if !q[0].shared {
		require.Equal(t, q[0].key, s.Key, name)
		require.Equal(t, q[0].token, s.Token, name)
		require.Equal(t, q[0].lease, s.Lease, name)
		require.Equal(t, q[0].data, string(s.Owner), name)
		require.Zero(t, s.Readers)
		require.True(t, d.fenced(name, q[0].token), "%s: LockToken is the exclusive holder's", name)
	} else {
		require.Nil(t, s.Key)
		require.Zero(t, s.Token)
		require.Equal(t, int64(n), s.Readers, name)
		require.True(t, d.fenced(name, 0), "%s: LockToken is 0 while readers hold", name)
		require.False(t, d.fenced(name, q[0].token), "%s: a reader's token fences nothing", name)
	}
	if !m.hasShared(name) {
		require.Nil(t, s.Holders, name)
		require.Nil(t, s.Queue, name)
		return
	}
	var holders, queue []wire.LockOwner
	for i, o := range q {
		lo := wire.LockOwner{Key: o.key, Owner: []byte(o.data), Lease: o.lease, Shared: o.shared}
		if o.data == "" {
			lo.Owner = nil
		}
		if i < n {
			lo.Token = o.token
			holders = append(holders, lo)
		} else {
			require.Zero(t, o.token, "%s: a waiter with a token", name)
			queue = append(queue, lo)
		}
	}
	require.Equal(t, holders, s.Holders, name)
	require.Equal(t, queue, s.Queue, name)

	// The rule, from the status alone.
	if !s.Holders[0].Shared {
		require.Len(t, s.Holders, 1, "%s: an exclusive holder beside others", name)
	}
	for i, h := range s.Holders {
		if i > 0 {
			require.True(t, h.Shared, "%s: an exclusive holder beside others", name)
			require.Negative(t, bytes.Compare(s.Holders[i-1].Key, h.Key), "%s: holders out of arrival order", name)
		}
	}
	if len(s.Queue) > 0 {
		require.Negative(t, bytes.Compare(s.Holders[len(s.Holders)-1].Key, s.Queue[0].Key), "%s: a waiter ahead of a holder", name)
		if s.Holders[0].Shared {
			require.False(t, s.Queue[0].Shared, "%s: a shared owner waits that could hold", name)
		}
	}
}

// runRWHistory runs a seeded random history of shared and exclusive
// acquires, tries, unlocks, cancels, bogus unlocks and lease revokes on
// a few locks through d, checking after every command every lock against
// the model and the rule (checkRWLock), and that each new grant's token
// is the revision that granted it, above every earlier exclusive token
// and not below any earlier token of the lock.
func runRWHistory(t *testing.T, d rwDriver, steps int) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	defer func() {
		if t.Failed() {
			t.Logf("reproduce with seed %d", seed)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	names := []string{"a", "b", "c"}
	m := model{}
	var leases []int64
	for i := 0; i < 4; i++ {
		leases = append(leases, d.grant())
	}
	maxToken := map[string]int64{} // the highest token granted, per lock
	grants, sharedGrants := 0, 0
	// settle grants in the model after a command at rev: the new grants'
	// token is rev, above every earlier token of the lock (checkRWLock
	// then checks that the store agrees).
	settle := func(name string, rev int64) {
		if m.settle(name, rev) == 0 {
			return
		}
		require.Greater(t, rev, maxToken[name])
		maxToken[name] = rev
		for _, o := range m[name][:m.holding(name)] {
			if o.token == rev {
				grants++
				if o.shared {
					sharedGrants++
				}
			}
		}
	}

	for i := 0; i < steps; i++ {
		name := names[rng.Intn(len(names))]
		before := d.rev()
		switch r := rng.Intn(100); {
		case r < 45 && len(leases) > 0:
			lease := leases[rng.Intn(len(leases))]
			shared := rng.Intn(3) > 0
			data := fmt.Sprintf("o%d", i)
			if rng.Intn(10) == 0 {
				data = ""
			}
			req := &wire.LockRequest{Name: name, Lease: lease, Owner: []byte(data), Shared: shared, Try: rng.Intn(4) == 0}
			o := &mOwner{lease: lease, data: data, shared: shared}
			m[name] = append(m[name], o)
			canHold := m.holding(name) == len(m[name])
			resp, werr := d.lock(req)
			if req.Try && !canHold {
				m[name] = m[name][:len(m[name])-1]
				require.NotNil(t, werr)
				require.Equal(t, wire.CodeLocked, werr.Code)
				require.Equal(t, before, d.rev())
				break
			}
			require.Nil(t, werr)
			require.Equal(t, before+1, d.rev())
			o.key = lockrules.OwnerKey(name, before+1)
			require.Equal(t, o.key, resp.Key)
			settle(name, before+1)
			require.Equal(t, o.token, resp.Token, "granted at once exactly when it can hold")
		case r < 75 && len(m[name]) > 0:
			// Unlock a holder (half the time) or any owner.
			q := m[name]
			j := rng.Intn(len(q))
			if rng.Intn(2) == 0 {
				j = rng.Intn(m.holding(name))
			}
			require.Nil(t, d.unlock(name, q[j].key, q[j].lease))
			require.Equal(t, before+1, d.rev())
			m[name] = append(q[:j:j], q[j+1:]...)
			settle(name, before+1)
		case r < 80:
			// A key that is not an owner (any more): refused, nothing written.
			key := lockrules.OwnerKey(name, int64(rng.Intn(int(before)+2)))
			live := false
			for _, o := range m[name] {
				live = live || bytes.Equal(o.key, key)
			}
			if live {
				break
			}
			werr := d.unlock(name, key, 0)
			require.NotNil(t, werr)
			require.Equal(t, wire.CodeNotHolder, werr.Code)
			require.Equal(t, before, d.rev())
		case r < 90 && len(leases) > 0:
			j := rng.Intn(len(leases))
			lease := leases[j]
			leases = append(leases[:j:j], leases[j+1:]...)
			d.revoke(lease)
			gone := false
			for _, n := range names {
				var keep []*mOwner
				for _, o := range m[n] {
					if o.lease != lease {
						keep = append(keep, o)
					} else {
						gone = true
					}
				}
				m[n] = keep
			}
			if gone {
				require.Equal(t, before+1, d.rev(), "a revoke makes one revision")
				for _, n := range names {
					settle(n, before+1)
				}
			} else {
				require.Equal(t, before, d.rev())
			}
		default:
			leases = append(leases, d.grant())
		}
		for _, n := range names {
			checkRWLock(t, d, m, n)
		}
	}
	t.Logf("%d revisions, %d grants, %d of them shared", d.rev(), grants, sharedGrants)
	require.Greater(t, grants, steps/20)
}

func TestRWLockRandomHistory(t *testing.T) {
	runRWHistory(t, memDriver{newMemStore(t)}, 2000)
}

// TestRWLockHandOff: every way an owner leaves hands the lock on by the
// rule, in the same command, and a lock whose shared owners are all gone
// is an exclusive lock again.
func TestRWLockHandOff(t *testing.T) {
	m := newMemStore(t)
	d := memDriver{m}
	A, B, C, D, E := m.grant(), m.grant(), m.grant(), m.grant(), m.grant()
	o := func(rev int64) []byte { return lockrules.OwnerKey("L", rev) }
	type own struct {
		rev, token, lease int64
		shared            bool
	}
	// expect checks the holders and the queue, in order.
	expect := func(desc string, holders, queue []own) {
		t.Helper()
		s := d.status("L")
		var hs, qs []own
		for _, h := range s.Holders {
			hs = append(hs, own{int64(binary.BigEndian.Uint64(h.Key[len(h.Key)-8:])), h.Token, h.Lease, h.Shared})
		}
		for _, w := range s.Queue {
			qs = append(qs, own{int64(binary.BigEndian.Uint64(w.Key[len(w.Key)-8:])), w.Token, w.Lease, w.Shared})
		}
		require.Equal(t, holders, hs, desc)
		require.Equal(t, queue, qs, desc)
		require.Equal(t, int64(len(queue)), s.Waiters, desc)
	}
	lock := func(req *wire.LockRequest) *wire.LockResponse {
		t.Helper()
		r, werr := d.lock(req)
		require.Nil(t, werr)
		return r
	}

	require.Equal(t, int64(1), lock(rlock("L", A, "")).Token) // 1
	require.Equal(t, int64(2), lock(rlock("L", B, "")).Token) // 2
	require.Zero(t, lock(wlock("L", C, "")).Token)            // 3
	require.Zero(t, lock(rlock("L", D, "")).Token)            // 4
	require.Zero(t, lock(rlock("L", E, "")).Token)            // 5
	require.Zero(t, lock(wlock("L", E, "")).Token)            // 6
	require.Zero(t, lock(rlock("L", D, "")).Token)            // 7
	expect("readers hold, a writer waits, readers behind it wait",
		[]own{{1, 1, A, true}, {2, 2, B, true}},
		[]own{{3, 0, C, false}, {4, 0, D, true}, {5, 0, E, true}, {6, 0, E, false}, {7, 0, D, true}})

	// The waiting writer gives up: the readers behind it, up to the next
	// writer, hold from that command on, with its revision as token.
	require.Nil(t, d.unlock("L", o(3), C)) // 8
	require.Equal(t, []string{
		fmt.Sprintf("del %q", o(3)),
		fmt.Sprintf("put %q", lockrules.SharedKey("L", 4)),
		fmt.Sprintf("put %q", lockrules.SharedKey("L", 5)),
	}, m.events, "the holder record still names the head: not rewritten")
	expect("writer cancelled",
		[]own{{1, 1, A, true}, {2, 2, B, true}, {4, 8, D, true}, {5, 8, E, true}},
		[]own{{6, 0, E, false}, {7, 0, D, true}})

	// A reader in the middle leaves: nothing else changes.
	require.Nil(t, d.unlock("L", o(2), B)) // 9
	require.Equal(t, []string{fmt.Sprintf("del %q", o(2)), fmt.Sprintf("del %q", lockrules.SharedKey("L", 2))}, m.events)
	// The head reader leaves: the record names the next reader, token kept.
	require.Nil(t, d.unlock("L", o(1), A)) // 10
	kv, _ := m.Get(lockrules.HolderKey("L"))
	hd, err := lockrules.DecodeHolder(kv.Value)
	require.NoError(t, err)
	require.Equal(t, lockrules.Holder{Key: o(4), Token: 8, Lease: D, Tail: 7}, hd)
	expect("readers left", []own{{4, 8, D, true}, {5, 8, E, true}}, []own{{6, 0, E, false}, {7, 0, D, true}})

	// D's lease ends: its reader (holding) and its later reader (waiting)
	// go; E still reads, and its own writer waits behind itself.
	m.revoke(D) // 11
	expect("revoke of a reader", []own{{5, 8, E, true}}, []own{{6, 0, E, false}})
	// E's lease ends: both its reader and its writer go: free.
	m.revoke(E) // 12
	require.Equal(t, &wire.LockStatusResponse{}, d.status("L"))
	require.Empty(t, m.sorted(lockrules.Prefix("L"), wire.PrefixEnd(lockrules.Prefix("L"))))

	// A writer holding with readers waiting: its revoke grants them all at
	// once, up to the next writer.
	F, G := m.grant(), m.grant()
	require.Equal(t, int64(13), lock(wlock("L", F, "")).Token)
	lock(rlock("L", G, "")) // 14
	lock(rlock("L", A, "")) // 15
	lock(wlock("L", B, "")) // 16
	lock(rlock("L", C, "")) // 17
	require.True(t, d.fenced("L", 13))
	m.revoke(F) // 18
	expect("revoke of a writer", []own{{14, 18, G, true}, {15, 18, A, true}}, []own{{16, 0, B, false}, {17, 0, C, true}})
	require.True(t, d.fenced("L", 0))
	m.revoke(G)                             // 19
	require.Nil(t, d.unlock("L", o(15), A)) // 20: the writer holds
	expect("the readers left", []own{{16, 20, B, false}}, []own{{17, 0, C, true}})
	require.True(t, d.fenced("L", 20))

	// The last shared owner leaves: an exclusive lock again, whose status
	// is the exclusive one.
	require.Nil(t, d.unlock("L", o(17), C)) // 21
	lock(wlock("L", C, "c"))                // 22
	require.Equal(t, &wire.LockStatusResponse{Held: true, Key: o(16), Token: 20, Lease: B, Waiters: 1}, d.status("L"))
	require.Nil(t, d.unlock("L", o(16), B)) // 23: by the exclusive rule
	require.Equal(t, &wire.LockStatusResponse{Held: true, Key: o(22), Owner: []byte("c"), Token: 23, Lease: C}, d.status("L"))
	require.Empty(t, m.sorted(append(lockrules.Prefix("L"), 's'), wire.PrefixEnd(append(lockrules.Prefix("L"), 's'))))
}

// TestRWLockTry: a shared Try holds when every owner ahead holds shared;
// a Try that cannot hold writes nothing and names who holds.
func TestRWLockTry(t *testing.T) {
	m := newMemStore(t)
	d := memDriver{m}
	A, B, C := m.grant(), m.grant(), m.grant()
	r, werr := d.lock(tryLock(rlock("L", A, "a")))
	require.Nil(t, werr)
	require.Equal(t, int64(1), r.Token, "free")
	r, werr = d.lock(tryLock(rlock("L", B, "b")))
	require.Nil(t, werr)
	require.Equal(t, int64(2), r.Token, "beside a reader")
	_, werr = d.lock(tryLock(wlock("L", C, "c")))
	require.Equal(t, wire.CodeLocked, werr.Code)
	require.Equal(t, `lock "L" is held shared by 2 owner(s)`, werr.Message)
	require.Nil(t, d.unlock("L", lockrules.OwnerKey("L", 1), A))
	require.Nil(t, d.unlock("L", lockrules.OwnerKey("L", 2), B))
	r, _ = d.lock(tryLock(wlock("L", C, "c")))
	require.Equal(t, int64(5), r.Token)
	_, werr = d.lock(tryLock(rlock("L", A, "a")))
	require.Equal(t, `lock "L" is held by "c" (token 5)`, werr.Message)
	require.Equal(t, int64(5), m.rev)

	// Shared requests are checked as exclusive ones are.
	for _, req := range []*wire.LockRequest{rlock("", A, ""), rlock("x{y", A, ""), rlock("L", 0, ""), rlock("L", wire.LeaseID(memShard+1, 1), "")} {
		_, werr := d.lock(req)
		require.NotNil(t, werr, "%+v", req)
	}
	require.Equal(t, int64(5), m.rev)
}

// TestRWLockKeys pins the keys of doc.go and the grant keys a waiting
// Lock watches.
func TestRWLockKeys(t *testing.T) {
	require.Equal(t, "\x00coord/lock/{jobs}/s/\x00\x00\x00\x00\x00\x00\x00\x11", string(lockrules.SharedKey("jobs", 17)))
	require.Equal(t, lockrules.HolderKey("jobs"), lockrules.GrantKey("jobs", lockrules.OwnerKey("jobs", 17), false))
	require.Equal(t, lockrules.SharedKey("jobs", 17), lockrules.GrantKey("jobs", lockrules.OwnerKey("jobs", 17), true))
	g, err := lockrules.DecodeGrant(nil)
	require.NoError(t, err)
	require.Nil(t, g.Key, "a waiting marker names nobody")
	h := lockrules.Holder{Key: lockrules.OwnerKey("jobs", 17), Token: 20, Lease: 9}
	g, err = lockrules.DecodeGrant(h.Encode())
	require.NoError(t, err)
	require.Equal(t, h, g)
	_, err = lockrules.DecodeGrant([]byte{9})
	require.ErrorIs(t, err, lockrules.ErrCorruptHolder)
	// A shared marker is no owner key: a revoke hook ignores it as such.
	_, ok := lockrules.OwnerName(lockrules.Root, lockrules.SharedKey("jobs", 17))
	require.False(t, ok)
}
