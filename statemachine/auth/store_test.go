package auth

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/primitive"
)

// memStore is a primitive.Store of live keys only, in shard shard
// (wire.AuthShard unless a test changes it). Every command runs through
// do, which checks that a rule that failed wrote nothing, and records the
// writes of the last command in order.
type memStore struct {
	t      testing.TB
	shard  uint32
	rev    int64
	kvs    map[string][]byte
	wrote  bool
	writes []string // "put KEY" / "del KEY" of the last command
}

var _ primitive.Store = (*memStore)(nil)

func newMemStore(t testing.TB) *memStore {
	return &memStore{t: t, shard: wire.AuthShard, kvs: map[string][]byte{}}
}

func (m *memStore) Get(key []byte) (*wire.KeyValue, error) {
	v, ok := m.kvs[string(key)]
	if !ok {
		return nil, nil
	}
	return &wire.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(v)}, nil
}

// keys returns the live keys of [key, end) in order (end as in
// wire.RangeRequest).
func (m *memStore) keys(key, end []byte) []string {
	var ks []string
	for k := range m.kvs {
		switch {
		case len(end) == 0:
			if k != string(key) {
				continue
			}
		case len(end) == 1 && end[0] == 0:
			if k < string(key) {
				continue
			}
		default:
			if k < string(key) || k >= string(end) {
				continue
			}
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *memStore) Range(key, end []byte, limit int) ([]*wire.KeyValue, error) {
	var out []*wire.KeyValue
	for _, k := range m.keys(key, end) {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, &wire.KeyValue{Key: []byte(k), Value: bytes.Clone(m.kvs[k])})
	}
	return out, nil
}

func (m *memStore) Count(key, end []byte) (int64, error) { return int64(len(m.keys(key, end))), nil }

func (m *memStore) Put(key, value []byte, lease int64) error {
	if lease != 0 {
		return fmt.Errorf("put %q with lease %x: the auth store has no leases", key, lease)
	}
	m.kvs[string(key)] = bytes.Clone(value)
	m.wrote = true
	m.writes = append(m.writes, "put "+strings.TrimPrefix(string(key), Root))
	return nil
}

func (m *memStore) Delete(key []byte) (bool, error) {
	if _, ok := m.kvs[string(key)]; !ok {
		return false, nil
	}
	delete(m.kvs, string(key))
	m.wrote = true
	m.writes = append(m.writes, "del "+strings.TrimPrefix(string(key), Root))
	return true, nil
}

func (m *memStore) LeaseExists(int64) (bool, error) { return false, nil }
func (m *memStore) Shard() uint32                   { return m.shard }
func (m *memStore) Revision() int64                 { return m.rev + 1 }

// op runs the operation registered under name with req as one command, as
// the state machine would (through Primitive): it returns the response or
// the user error, and fails the test on an internal error or a failed
// command that wrote.
func (m *memStore) op(name string, req any) (any, *wire.Error) {
	m.t.Helper()
	for _, op := range Primitive.Ops {
		if op.Name != name {
			continue
		}
		m.wrote, m.writes = false, nil
		resp, werr, err := op.Apply(leaseStore{m}, req)
		require.NoError(m.t, err, name)
		if werr != nil {
			require.False(m.t, m.wrote, "%s failed (%v) and wrote %v", name, werr, m.writes)
			return nil, werr
		}
		require.NotNil(m.t, resp, name)
		if m.wrote {
			m.rev++
		}
		return resp, nil
	}
	m.t.Fatalf("no op %q", name)
	return nil, nil
}

// must runs op name and fails the test on a user error.
func (m *memStore) must(name string, req any) any {
	m.t.Helper()
	resp, werr := m.op(name, req)
	require.Nil(m.t, werr, "%s: %v", name, werr)
	return resp
}

// fails runs op name and requires that it fails with code, with a
// message that contains each of words.
func (m *memStore) fails(code wire.Code, name string, req any, words ...string) {
	m.t.Helper()
	_, werr := m.op(name, req)
	require.NotNil(m.t, werr, "%s succeeded; want %v", name, code)
	require.Equal(m.t, code, werr.Code, "%s: %v", name, werr)
	for _, w := range words {
		require.Contains(m.t, werr.Message, w)
	}
}

// read runs the read registered under name.
func (m *memStore) read(name string, req any) (any, *wire.Error) {
	m.t.Helper()
	for _, q := range Primitive.Reads {
		if q.Name == name {
			resp, werr, err := q.Read(m, req)
			require.NoError(m.t, err, name)
			return resp, werr
		}
	}
	m.t.Fatalf("no read %q", name)
	return nil, nil
}

// authRev is the auth revision as auth.status reads it.
func (m *memStore) authRev() int64 {
	m.t.Helper()
	resp, werr := m.read(wire.MethodAuthStatus, &wire.AuthRequest{})
	require.Nil(m.t, werr)
	return resp.(*wire.AuthStatusResponse).Revision
}

// load is Load of the store.
func (m *memStore) load() *State {
	m.t.Helper()
	s, err := Load(m)
	require.NoError(m.t, err)
	return s
}

// leaseStore lifts a memStore to the primitive.LeaseStore an Op applies
// over (the auth store grants no leases).
type leaseStore struct{ *memStore }

func (leaseStore) GrantLease(int64) (int64, *wire.Error, error) {
	return 0, nil, fmt.Errorf("the auth store grants no leases")
}
func (leaseStore) RevokeLease(int64) error { return fmt.Errorf("the auth store revokes no leases") }

// hash is a well-formed bcrypt hash (the rules never check it against a
// password), different for each seed.
func hash(seed byte) []byte {
	return []byte("$2a$10$" + strings.Repeat(string('a'+seed%26), 53))
}

func addUser(m *memStore, name string, roles ...string) {
	m.t.Helper()
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: name, PasswordHash: hash(name[0])})
	for _, r := range roles {
		if _, werr := m.read(wire.MethodRoleGet, &wire.RoleRequest{Name: r}); werr != nil {
			m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: r})
		}
		m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: name, Role: r})
	}
}

func grant(m *memStore, role string, typ wire.PermType, kind, key, end string) {
	m.t.Helper()
	if _, werr := m.read(wire.MethodRoleGet, &wire.RoleRequest{Name: role}); werr != nil {
		m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: role})
	}
	p := &wire.Permission{Type: typ, Kind: kind, Key: []byte(key)}
	if end != "" {
		p.RangeEnd = []byte(end)
	}
	m.must(wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: role, Perm: p})
}

// enableAuth adds root with role root and enables auth.
func enableAuth(m *memStore) {
	m.t.Helper()
	addUser(m, wire.RootUser, wire.RootRole)
	m.must(wire.MethodAuthEnable, &wire.AuthRequest{})
}
