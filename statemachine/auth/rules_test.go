package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/corruption"
)

func status(m *memStore) *wire.AuthStatusResponse {
	m.t.Helper()
	resp, werr := m.read(wire.MethodAuthStatus, &wire.AuthRequest{})
	require.Nil(m.t, werr)
	return resp.(*wire.AuthStatusResponse)
}

func userRoles(m *memStore, name string) []string {
	m.t.Helper()
	resp, werr := m.read(wire.MethodUserGet, &wire.UserRequest{Name: name})
	require.Nil(m.t, werr, "user get %s", name)
	return resp.(*wire.UserResponse).Roles
}

func rolePerms(m *memStore, name string) []wire.Permission {
	m.t.Helper()
	resp, werr := m.read(wire.MethodRoleGet, &wire.RoleRequest{Name: name})
	require.Nil(m.t, werr, "role get %s", name)
	return resp.(*wire.RoleResponse).Perms
}

func userRecord(m *memStore, name string) *UserRecord {
	m.t.Helper()
	u, err := readUser(m, name)
	require.NoError(m.t, err)
	return u
}

// TestAuthEnable: enabling needs user root holding role root (the message
// says how to get there); enabling twice and disabling twice change
// nothing; each real change bumps the revision once.
func TestAuthEnable(t *testing.T) {
	m := newMemStore(t)
	require.Equal(t, &wire.AuthStatusResponse{}, status(m))
	want := []string{"auth enable needs user root with role root", "user grant-role root root"}
	m.fails(wire.CodeInvalid, wire.MethodAuthEnable, &wire.AuthRequest{}, want...)

	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "root", PasswordHash: hash(1)})
	m.fails(wire.CodeInvalid, wire.MethodAuthEnable, &wire.AuthRequest{}, want...)
	m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: "root"})
	m.fails(wire.CodeInvalid, wire.MethodAuthEnable, &wire.AuthRequest{}, want...) // the role exists, root lacks it
	m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "root", Role: "root"})
	require.EqualValues(t, 3, m.authRev())

	resp := m.must(wire.MethodAuthEnable, &wire.AuthRequest{}).(*wire.AuthStatusResponse)
	require.Equal(t, &wire.AuthStatusResponse{Enabled: true, Revision: 4}, resp)
	require.Equal(t, []string{"put enabled", "put rev"}, m.writes)
	require.Equal(t, &wire.AuthStatusResponse{Enabled: true, Revision: 4}, status(m))
	require.True(t, m.load().Enabled)

	resp = m.must(wire.MethodAuthEnable, &wire.AuthRequest{}).(*wire.AuthStatusResponse)
	require.Equal(t, &wire.AuthStatusResponse{Enabled: true, Revision: 4}, resp)
	require.Empty(t, m.writes, "enabling again changes nothing")

	resp = m.must(wire.MethodAuthDisable, &wire.AuthRequest{}).(*wire.AuthStatusResponse)
	require.Equal(t, &wire.AuthStatusResponse{Revision: 5}, resp)
	require.Equal(t, []string{"del enabled", "put rev"}, m.writes)
	require.False(t, m.load().Enabled)
	resp = m.must(wire.MethodAuthDisable, &wire.AuthRequest{}).(*wire.AuthStatusResponse)
	require.Equal(t, &wire.AuthStatusResponse{Revision: 5}, resp)
	require.Empty(t, m.writes, "disabling again changes nothing")
	require.EqualValues(t, 5, m.load().Revision)
}

// TestUserAdd: a valid new name with a bcrypt hash or no password; never
// a plaintext password; an existing name is refused.
func TestUserAdd(t *testing.T) {
	m := newMemStore(t)
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "alice", PasswordHash: hash(0)})
	require.Equal(t, []string{"put user/alice", "put rev"}, m.writes)
	require.Equal(t, &UserRecord{Hash: hash(0)}, userRecord(m, "alice"))
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "svc/app-1", NoPassword: true})
	require.Equal(t, &UserRecord{NoPassword: true}, userRecord(m, "svc/app-1"))
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "émile", PasswordHash: hash(2)})
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: strings.Repeat("x", MaxNameLen), NoPassword: true})
	require.EqualValues(t, 4, m.authRev())

	m.fails(wire.CodeAlreadyExists, wire.MethodUserAdd, &wire.UserRequest{Name: "alice", PasswordHash: hash(3)}, `"alice" already exists`)
	require.Equal(t, hash(0), userRecord(m, "alice").Hash)

	for _, name := range []string{"", "a b", "a\tb", "a:b", "a\x00b", "a\nb", "\xff", strings.Repeat("x", MaxNameLen+1)} {
		m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: name, PasswordHash: hash(0)})
	}
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob", Password: "secret", PasswordHash: hash(0)}, "hashed")
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob", Password: "secret"}, "hashed")
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob"}, "needs a password")
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob", PasswordHash: hash(0), NoPassword: true}, "not both")
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob", PasswordHash: []byte("secret")}, "not a bcrypt hash")
	m.fails(wire.CodeInvalid, wire.MethodUserAdd, &wire.UserRequest{Name: "bob", PasswordHash: append(hash(0), 'x')}, "not a bcrypt hash")
	require.Nil(t, userRecord(m, "bob"))
	require.EqualValues(t, 4, m.authRev(), "a refused add changes nothing")
}

// TestUserDelete: an unknown user is not found; root cannot be deleted
// while auth is enabled, and can after it is disabled.
func TestUserDelete(t *testing.T) {
	m := newMemStore(t)
	m.fails(wire.CodeNotFound, wire.MethodUserDelete, &wire.UserRequest{Name: "alice"}, `"alice" not found`)
	addUser(m, "alice")
	enableAuth(m)
	rev := m.authRev()
	m.must(wire.MethodUserDelete, &wire.UserRequest{Name: "alice"})
	require.Equal(t, []string{"del user/alice", "put rev"}, m.writes)
	require.Nil(t, userRecord(m, "alice"))
	require.Equal(t, rev+1, m.authRev())
	m.fails(wire.CodeNotFound, wire.MethodUserDelete, &wire.UserRequest{Name: "alice"})

	m.fails(wire.CodeInvalid, wire.MethodUserDelete, &wire.UserRequest{Name: "root"}, "disable auth first")
	require.NotNil(t, userRecord(m, "root"))
	m.must(wire.MethodAuthDisable, &wire.AuthRequest{})
	m.must(wire.MethodUserDelete, &wire.UserRequest{Name: "root"})
	require.Nil(t, userRecord(m, "root"))
}

// TestUserPasswd: passwd sets the hash (a no-password user gets one) of a
// known user; it never takes a plaintext password.
func TestUserPasswd(t *testing.T) {
	m := newMemStore(t)
	m.fails(wire.CodeNotFound, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", PasswordHash: hash(1)}, `"alice" not found`)
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "alice", NoPassword: true})
	m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"})
	m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"})
	m.must(wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", PasswordHash: hash(1)})
	require.Equal(t, []string{"put user/alice", "put rev"}, m.writes)
	require.Equal(t, &UserRecord{Hash: hash(1), Roles: []string{"app"}}, userRecord(m, "alice"))
	require.EqualValues(t, 4, m.authRev())

	m.fails(wire.CodeInvalid, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", Password: "secret"}, "hashed")
	m.fails(wire.CodeInvalid, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice"}, "needs a new password")
	m.fails(wire.CodeInvalid, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", PasswordHash: []byte("secret")}, "bcrypt")
	m.fails(wire.CodeInvalid, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", NoPassword: true})
	require.Equal(t, hash(1), userRecord(m, "alice").Hash)
	require.EqualValues(t, 4, m.authRev())
}

// TestUserRoles: grant-role needs the user and the role, keeps roles
// sorted and is idempotent; revoke-role needs the grant and never takes
// role root from user root while auth is enabled.
func TestUserRoles(t *testing.T) {
	m := newMemStore(t)
	m.fails(wire.CodeNotFound, wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"}, `user "alice" not found`)
	addUser(m, "alice")
	m.fails(wire.CodeNotFound, wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"}, `role "app" not found`)
	for _, r := range []string{"zeta", "app", "ops"} {
		m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: r})
		m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: r})
		require.Equal(t, []string{"put user/alice", "put rev"}, m.writes)
	}
	require.Equal(t, []string{"app", "ops", "zeta"}, userRoles(m, "alice"))
	rev := m.authRev()
	m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "ops"})
	require.Empty(t, m.writes, "granting a role again changes nothing")
	require.Equal(t, rev, m.authRev())

	m.fails(wire.CodeNotFound, wire.MethodUserRevokeRole, &wire.UserRequest{Name: "bob", Role: "ops"}, `user "bob" not found`)
	m.fails(wire.CodeNotFound, wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "nope"}, `does not have role "nope"`)
	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "ops"})
	require.Equal(t, []string{"app", "zeta"}, userRoles(m, "alice"))
	require.Equal(t, rev+1, m.authRev())
	m.fails(wire.CodeNotFound, wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "ops"})

	enableAuth(m)
	m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "root", Role: "app"})
	m.fails(wire.CodeInvalid, wire.MethodUserRevokeRole, &wire.UserRequest{Name: "root", Role: "root"}, "disable auth first")
	require.Equal(t, []string{"app", "root"}, userRoles(m, "root"))
	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "root", Role: "app"}) // another role is fine
	m.must(wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "root"})
	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "root"}) // root from another user too
	m.must(wire.MethodAuthDisable, &wire.AuthRequest{})
	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "root", Role: "root"})
	require.Empty(t, userRoles(m, "root"))
}

// TestRoleAddDelete: role names follow the users' rules; a deleted role
// is revoked from every user holding it, in name order, in the same
// command; root cannot be deleted while auth is enabled.
func TestRoleAddDelete(t *testing.T) {
	m := newMemStore(t)
	m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"})
	require.Equal(t, []string{"put role/app", "put rev"}, m.writes)
	require.Empty(t, rolePerms(m, "app"))
	m.fails(wire.CodeAlreadyExists, wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}, `role "app" already exists`)
	for _, name := range []string{"", "a b", "a:b", "\x7f", strings.Repeat("r", MaxNameLen+1)} {
		m.fails(wire.CodeInvalid, wire.MethodRoleAdd, &wire.RoleRequest{Name: name})
	}
	m.fails(wire.CodeNotFound, wire.MethodRoleDelete, &wire.RoleRequest{Name: "nope"}, `role "nope" not found`)

	addUser(m, "carol", "app", "ops")
	addUser(m, "alice", "app")
	addUser(m, "bob", "ops")
	rev := m.authRev()
	m.must(wire.MethodRoleDelete, &wire.RoleRequest{Name: "app"})
	require.Equal(t, []string{"put user/alice", "put user/carol", "del role/app", "put rev"}, m.writes)
	require.Equal(t, rev+1, m.authRev())
	require.Empty(t, userRoles(m, "alice"))
	require.Equal(t, []string{"ops"}, userRoles(m, "carol"))
	require.Equal(t, []string{"ops"}, userRoles(m, "bob"))
	_, werr := m.read(wire.MethodRoleGet, &wire.RoleRequest{Name: "app"})
	require.Equal(t, wire.CodeNotFound, werr.Code)

	enableAuth(m)
	m.fails(wire.CodeInvalid, wire.MethodRoleDelete, &wire.RoleRequest{Name: "root"}, "disable auth first")
	require.Equal(t, []string{"root"}, userRoles(m, "root"))
	m.must(wire.MethodAuthDisable, &wire.AuthRequest{})
	m.must(wire.MethodRoleDelete, &wire.RoleRequest{Name: "root"})
	require.Empty(t, userRoles(m, "root"))
	m.fails(wire.CodeInvalid, wire.MethodAuthEnable, &wire.AuthRequest{}, "auth enable needs user root with role root")
}

func perm(typ wire.PermType, kind, key, end string) *wire.Permission {
	p := &wire.Permission{Type: typ, Kind: kind}
	if key != "" {
		p.Key = []byte(key)
	}
	if end != "" {
		p.RangeEnd = []byte(end)
	}
	return p
}

// TestRoleGrantPermission: a permission needs a type, a kind, a key (or
// the open end) and a range end after the key; kind kv is stored as "";
// the same kind, key and end replaces the type; permissions stay sorted.
func TestRoleGrantPermission(t *testing.T) {
	m := newMemStore(t)
	gp := func(p *wire.Permission) *wire.RoleRequest { return &wire.RoleRequest{Name: "app", Perm: p} }
	m.fails(wire.CodeNotFound, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "k", "")), `role "app" not found`)
	m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"})

	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(nil), "permission is needed")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(0, "", "k", "")), "read (1), write (2) or readwrite (3)")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(4, "", "k", "")), "permission type 4")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "locks", "k", "")), `kind "locks"`)
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "", "")), "needs a key")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "", "z")), "needs a key")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "b", "a")), "not after key")
	m.fails(wire.CodeInvalid, wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "b", "b")), "not after key")
	require.EqualValues(t, 1, m.authRev())

	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "lock", "jobs/", "jobs0")))
	require.Equal(t, []string{"put role/app", "put rev"}, m.writes)
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermReadWrite, "kv", "/app/", "/app0")))
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermWrite, "", "/a", "")))
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "", "\x00"))) // every key
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "queue", "q", "\x00")))
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "/app/", "")))
	require.EqualValues(t, 7, m.authRev())
	require.Equal(t, []wire.Permission{
		*perm(wire.PermRead, "", "", "\x00"),
		*perm(wire.PermWrite, "", "/a", ""),
		*perm(wire.PermRead, "", "/app/", ""),
		*perm(wire.PermReadWrite, "", "/app/", "/app0"),
		*perm(wire.PermRead, "lock", "jobs/", "jobs0"),
		*perm(wire.PermRead, "queue", "q", "\x00"),
	}, rolePerms(m, "app"))

	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "", "/app/", "/app0")))
	require.Equal(t, []string{"put role/app", "put rev"}, m.writes)
	require.Equal(t, *perm(wire.PermRead, "", "/app/", "/app0"), rolePerms(m, "app")[3], "the type is replaced")
	require.Len(t, rolePerms(m, "app"), 6)
	m.must(wire.MethodRoleGrantPermission, gp(perm(wire.PermRead, "kv", "/app/", "/app0")))
	require.Empty(t, m.writes, "granting the same permission again changes nothing")
	require.EqualValues(t, 8, m.authRev())
}

// TestRoleRevokePermission: a permission is matched by kind (kv and ""
// alike), key and range end, whatever its type; none → not found.
func TestRoleRevokePermission(t *testing.T) {
	m := newMemStore(t)
	rp := func(p *wire.Permission) *wire.RoleRequest { return &wire.RoleRequest{Name: "app", Perm: p} }
	m.fails(wire.CodeNotFound, wire.MethodRoleRevokePermission, rp(perm(0, "", "k", "")), `role "app" not found`)
	grant(m, "app", wire.PermReadWrite, "", "/app/", "/app0")
	grant(m, "app", wire.PermRead, "lock", "jobs/", "jobs0")
	grant(m, "app", wire.PermRead, "", "k", "")
	rev := m.authRev()

	m.fails(wire.CodeInvalid, wire.MethodRoleRevokePermission, rp(nil))
	m.fails(wire.CodeInvalid, wire.MethodRoleRevokePermission, rp(perm(0, "", "b", "a")))
	m.fails(wire.CodeNotFound, wire.MethodRoleRevokePermission, rp(perm(0, "", "/app/", "")), `no permission on "/app/" (kv)`)
	m.fails(wire.CodeNotFound, wire.MethodRoleRevokePermission, rp(perm(0, "", "jobs/", "jobs0")), `(kv)`) // another kind
	m.fails(wire.CodeNotFound, wire.MethodRoleRevokePermission, rp(perm(0, "election", "jobs/", "jobs0")), `(election)`)
	m.fails(wire.CodeNotFound, wire.MethodRoleRevokePermission, rp(perm(0, "", "/app/", "\x00")), `["/app/", end) (kv)`)
	require.Equal(t, rev, m.authRev())

	m.must(wire.MethodRoleRevokePermission, rp(perm(wire.PermRead, "kv", "/app/", "/app0")))
	require.Equal(t, []string{"put role/app", "put rev"}, m.writes)
	m.must(wire.MethodRoleRevokePermission, rp(perm(0, "lock", "jobs/", "jobs0")))
	require.Equal(t, []wire.Permission{*perm(wire.PermRead, "", "k", "")}, rolePerms(m, "app"))
	m.must(wire.MethodRoleRevokePermission, rp(perm(0, "", "k", "")))
	require.Empty(t, rolePerms(m, "app"))
	require.Equal(t, rev+3, m.authRev())
}

// TestReads: status, user get and list, role get and list; unknown names
// are not found.
func TestReads(t *testing.T) {
	m := newMemStore(t)
	list := func(method string) any {
		var req any = &wire.UserRequest{}
		if method == wire.MethodRoleList {
			req = &wire.RoleRequest{}
		}
		resp, werr := m.read(method, req)
		require.Nil(t, werr)
		return resp
	}
	require.Empty(t, list(wire.MethodUserList).(*wire.UserResponse).Users)
	require.Empty(t, list(wire.MethodRoleList).(*wire.RoleResponse).Roles)
	addUser(m, "root", "root")
	addUser(m, "bob", "ops", "app")
	addUser(m, "alice")
	grant(m, "app", wire.PermRead, "", "a", "")
	require.Equal(t, []string{"alice", "bob", "root"}, list(wire.MethodUserList).(*wire.UserResponse).Users)
	require.Equal(t, []string{"app", "ops", "root"}, list(wire.MethodRoleList).(*wire.RoleResponse).Roles)
	require.Equal(t, []string{"app", "ops"}, userRoles(m, "bob"))
	require.Empty(t, userRoles(m, "alice"))
	require.Equal(t, []wire.Permission{*perm(wire.PermRead, "", "a", "")}, rolePerms(m, "app"))
	_, werr := m.read(wire.MethodUserGet, &wire.UserRequest{Name: "nobody"})
	require.Equal(t, wire.CodeNotFound, werr.Code)
	_, werr = m.read(wire.MethodRoleGet, &wire.RoleRequest{Name: "nothing"})
	require.Equal(t, wire.CodeNotFound, werr.Code)
	require.Equal(t, &wire.AuthStatusResponse{Revision: 10}, status(m))
	m.must(wire.MethodAuthEnable, &wire.AuthRequest{})
	require.Equal(t, &wire.AuthStatusResponse{Enabled: true, Revision: 11}, status(m))
}

// TestWrongShard: the auth store's changes apply only in wire.AuthShard.
func TestWrongShard(t *testing.T) {
	m := newMemStore(t)
	m.shard = 7
	m.fails(wire.CodeWrongShard, wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}, "shard 0")
	m.fails(wire.CodeWrongShard, wire.MethodUserAdd, &wire.UserRequest{Name: "a", NoPassword: true}, "shard 0")
	m.fails(wire.CodeWrongShard, wire.MethodAuthDisable, &wire.AuthRequest{}, "shard 0")
	require.Empty(t, m.kvs)
}

// TestOpNames: every wire method of the auth store is registered, under
// its own name, as an op (writes) or a read.
func TestOpNames(t *testing.T) {
	var got []string
	for _, op := range Primitive.Ops {
		got = append(got, op.Name)
	}
	for _, q := range Primitive.Reads {
		got = append(got, q.Name)
	}
	require.ElementsMatch(t, []string{
		wire.MethodAuthEnable, wire.MethodAuthDisable, wire.MethodAuthStatus,
		wire.MethodUserAdd, wire.MethodUserDelete, wire.MethodUserGet, wire.MethodUserList,
		wire.MethodUserPasswd, wire.MethodUserGrantRole, wire.MethodUserRevokeRole,
		wire.MethodRoleAdd, wire.MethodRoleDelete, wire.MethodRoleGet, wire.MethodRoleList,
		wire.MethodRoleGrantPermission, wire.MethodRoleRevokePermission,
	}, got)
	require.Equal(t, Root, Primitive.Root)
}

// TestCorruptRecords: a record that cannot be read is an error marked as
// corruption, from the rules and from Load, never a user error.
func TestCorruptRecords(t *testing.T) {
	for _, key := range [][]byte{UserKey("alice"), RoleKey("ops"), RevKey} {
		m := newMemStore(t)
		addUser(m, "alice", "app")
		m.must(wire.MethodRoleAdd, &wire.RoleRequest{Name: "ops"})
		m.kvs[string(key)] = []byte("\xc1garbage")
		_, err := Load(m)
		require.ErrorIs(t, err, corruption.ErrCorruption, "Load with a corrupt %q", key)
		require.ErrorIs(t, err, ErrCorrupt)

		var opErr error
		for _, op := range Primitive.Ops {
			if op.Name == wire.MethodUserGrantRole {
				_, werr, err := op.Apply(leaseStore{m}, &wire.UserRequest{Name: "alice", Role: "ops"})
				require.Nil(t, werr)
				opErr = err
			}
		}
		require.True(t, errors.Is(opErr, corruption.ErrCorruption), "grant-role over a corrupt %q: %v", key, opErr)
	}
}
