package semaphorerules

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// memStore is a Store of one shard in memory, for the rules' tests: live
// keys with the versions and lease attachments of the real store, one
// revision per command that writes, and leases by ID. It does not keep
// history: the tests check state after every command.
type memStore struct {
	shard  uint32
	rev    int64 // the current revision
	kvs    map[string]*wire.KeyValue
	leases map[int64]bool
	wrote  bool // the running command put or deleted a key
}

var _ Store = (*memStore)(nil)

func newMemStore(shard uint32, rev int64) *memStore {
	return &memStore{shard: shard, rev: rev, kvs: map[string]*wire.KeyValue{}, leases: map[int64]bool{}}
}

func cloneKV(kv *wire.KeyValue) *wire.KeyValue {
	c := *kv
	c.Key, c.Value = bytes.Clone(kv.Key), bytes.Clone(kv.Value)
	return &c
}

func (s *memStore) Get(key []byte) (*wire.KeyValue, error) {
	if kv, ok := s.kvs[string(key)]; ok {
		return cloneKV(kv), nil
	}
	return nil, nil
}

// sortedKeys returns the live keys of [key, end) in key order.
func (s *memStore) sortedKeys(key, end []byte) []string {
	var ks []string
	for k := range s.kvs {
		if wire.InRange([]byte(k), key, end) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func (s *memStore) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	var out []*wire.KeyValue
	for _, k := range s.sortedKeys(key, end) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, cloneKV(s.kvs[k]))
	}
	return out, nil
}

func (s *memStore) Count(key, end []byte) (int64, error) {
	return int64(len(s.sortedKeys(key, end))), nil
}

func (s *memStore) Put(key, value []byte, lease int64) error {
	if lease != 0 && !s.leases[lease] {
		return fmt.Errorf("memStore: put %q with lease %016x, which does not exist", key, lease)
	}
	rev := s.Revision()
	kv := &wire.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value), CreateRevision: rev, ModRevision: rev, Version: 1, Lease: lease}
	if prev, ok := s.kvs[string(key)]; ok {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	s.kvs[string(key)] = kv
	s.wrote = true
	return nil
}

func (s *memStore) Delete(key []byte) (bool, error) {
	if _, ok := s.kvs[string(key)]; !ok {
		return false, nil
	}
	delete(s.kvs, string(key))
	s.wrote = true
	return true, nil
}

func (s *memStore) LeaseExists(id int64) (bool, error) { return s.leases[id], nil }
func (s *memStore) Shard() uint32                      { return s.shard }
func (s *memStore) Revision() int64                    { return s.rev + 1 }

// grant creates lease number n of the shard.
func (s *memStore) grant(n uint64) int64 {
	id := wire.LeaseID(s.shard, n)
	s.leases[id] = true
	return id
}

// command runs one command: a rule that fails must not have written; one
// that wrote makes the next revision.
func (s *memStore) command(t testing.TB, rule func() (*wire.Error, error)) *wire.Error {
	t.Helper()
	s.wrote = false
	werr, err := rule()
	require.NoError(t, err)
	if werr != nil {
		require.False(t, s.wrote, "a rule wrote and then failed: %v", werr)
		return werr
	}
	if s.wrote {
		s.rev++
	}
	return nil
}

func (s *memStore) acquire(t testing.TB, req *wire.SemaphoreAcquireRequest) (*wire.SemaphoreAcquireResponse, *wire.Error) {
	var resp *wire.SemaphoreAcquireResponse
	werr := s.command(t, func() (werr *wire.Error, err error) {
		resp, werr, err = ApplyAcquire(s, req)
		return werr, err
	})
	return resp, werr
}

func (s *memStore) release(t testing.TB, req *wire.SemaphoreReleaseRequest) *wire.Error {
	return s.command(t, func() (werr *wire.Error, err error) {
		_, werr, err = ApplyRelease(s, req)
		return werr, err
	})
}

// revoke revokes lease id as the state machine does, in one command: it
// deletes every key of the lease, then calls OwnerDeleted for each
// deleted key under Root, in key order.
func (s *memStore) revoke(t testing.TB, id int64) {
	t.Helper()
	require.Nil(t, s.command(t, func() (*wire.Error, error) {
		var prevs []*wire.KeyValue
		for _, k := range s.sortedKeys([]byte{0}, []byte{0}) {
			if kv := s.kvs[k]; kv.Lease == id {
				prevs = append(prevs, cloneKV(kv))
				delete(s.kvs, k)
				s.wrote = true
			}
		}
		delete(s.leases, id)
		for _, p := range prevs {
			if bytes.HasPrefix(p.Key, []byte(Root)) {
				if err := OwnerDeleted(s, p); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}))
}

func (s *memStore) status(t testing.TB, name string) *wire.SemaphoreStatusResponse {
	t.Helper()
	resp, werr, err := ReadStatus(s, name)
	require.NoError(t, err)
	require.Nil(t, werr)
	return resp
}

// checkInvariants checks doc.go's invariants for semaphore name.
func checkInvariants(t testing.TB, s *memStore, name string) {
	t.Helper()
	m, exists, err := readMeta(s, name)
	require.NoError(t, err)
	owners, err := s.Range(ownerPrefix(name), ownerEnd(name), 0)
	require.NoError(t, err)
	require.Equal(t, len(owners) > 0, exists, "%s: the meta record exists exactly when an owner does", name)
	n := len(owners)
	if exists {
		n++
	}
	require.Len(t, s.sortedKeys(Prefix(name), wire.PrefixEnd(Prefix(name))), n, "%s: no other key under the prefix", name)
	if !exists {
		return
	}
	var held, holders, waiters int64
	var firstWaiter *Owner
	for _, kv := range owners {
		o, err := DecodeOwner(kv.Value)
		require.NoError(t, err)
		rev := ownerRevision(kv.Key)
		require.Equal(t, rev, kv.CreateRevision, "%s: an owner key is named by its arrival", name)
		require.True(t, o.Weight >= 1 && o.Weight <= m.Limit, "%s: weight %d of limit %d", name, o.Weight, m.Limit)
		if o.Token != 0 {
			require.Zero(t, waiters, "%s: holder %d after a waiter", name, rev)
			if m.Waiters > 0 {
				require.Less(t, rev, m.Head, "%s: holder at or above Head", name)
			}
			require.Equal(t, kv.ModRevision, o.Token, "%s: a holder's token is its key's ModRevision", name)
			held += o.Weight
			holders++
			continue
		}
		require.Equal(t, kv.CreateRevision, kv.ModRevision, "%s: a waiter's key was put once", name)
		require.GreaterOrEqual(t, rev, m.Head, "%s: waiter below Head", name)
		if firstWaiter == nil {
			firstWaiter = &o
		}
		waiters++
	}
	require.Equal(t, Meta{Limit: m.Limit, Held: held, Holders: holders, Waiters: waiters, Head: m.Head}, m, "%s: meta counts", name)
	require.LessOrEqual(t, held, m.Limit, "%s: permits held over the limit", name)
	if firstWaiter != nil {
		require.Greater(t, firstWaiter.Weight, m.Limit-held, "%s: the first waiter fits and is left waiting", name)
	} else {
		require.Zero(t, m.Head, "%s: Head without waiters", name)
	}
}
