package auth

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

const (
	r  = wire.PermRead
	w  = wire.PermWrite
	rw = wire.PermReadWrite
)

// check is one question to State.Allowed and its answer.
type check struct {
	user, kind string
	typ        wire.PermType
	key, end   string
	want       bool
}

func runChecks(t *testing.T, s *State, checks []check) {
	t.Helper()
	for _, c := range checks {
		got := s.Allowed(c.user, c.kind, c.typ, []byte(c.key), []byte(c.end))
		require.Equal(t, c.want, got, "Allowed(%q, %q, %v, %q, %q)", c.user, c.kind, c.typ, c.key, c.end)
	}
}

// TestLoad: Load reads back what the ops wrote.
func TestLoad(t *testing.T) {
	m := newMemStore(t)
	s := m.load()
	require.False(t, s.Enabled)
	require.Zero(t, s.Revision)
	require.Empty(t, s.Users)
	require.Empty(t, s.Roles)

	grant(m, "app", rw, "", "/app/", "/app0")
	grant(m, "app", r, "lock", "jobs/", "jobs0")
	addUser(m, "alice", "app")
	m.must(wire.MethodUserAdd, &wire.UserRequest{Name: "svc", NoPassword: true})
	enableAuth(m)
	s = m.load()
	require.True(t, s.Enabled)
	require.Equal(t, m.authRev(), s.Revision)
	require.Equal(t, map[string]*UserRecord{
		"alice": {Hash: hash('a'), Roles: []string{"app"}},
		"svc":   {NoPassword: true},
		"root":  {Hash: hash('r'), Roles: []string{"root"}},
	}, s.Users)
	require.Equal(t, map[string]*RoleRecord{
		"app":  {Perms: []wire.Permission{*perm(rw, "", "/app/", "/app0"), *perm(r, "lock", "jobs/", "jobs0")}},
		"root": {},
	}, s.Roles)
	require.True(t, s.IsRoot("root"))
	require.False(t, s.IsRoot("alice"))
	require.False(t, s.IsRoot("nobody"))
}

// TestAllowedPrefixRangeKey: a prefix, a range, a single key and an open
// end each cover exactly their keys, for the types they grant.
func TestAllowedPrefixRangeKey(t *testing.T) {
	m := newMemStore(t)
	grant(m, "prefix", rw, "", "/app/", string(wire.PrefixEnd([]byte("/app/"))))
	grant(m, "range", r, "kv", "b", "d")
	grant(m, "key", r, "", "k", "")
	grant(m, "open", w, "", "x", "\x00")
	addUser(m, "p", "prefix")
	addUser(m, "g", "range")
	addUser(m, "k", "key")
	addUser(m, "o", "open")
	runChecks(t, m.load(), []check{
		// prefix /app/
		{"p", "", r, "/app/x", "", true},
		{"p", "", w, "/app/x", "", true},
		{"p", "", rw, "/app/x", "", true},
		{"p", "", r, "/app/", "", true},
		{"p", "", r, "/app/a", "/app/z", true},
		{"p", "", r, "/app/", "/app0", true}, // the whole prefix
		{"p", "", r, "/app", "", false},
		{"p", "", r, "/app0", "", false},
		{"p", "", r, "/other/x", "", false},
		{"p", "", w, "/other/x", "", false},
		{"p", "", r, "/app/a", "/b", false}, // runs past the prefix
		{"p", "", r, "/app/", "\x00", false},
		{"p", "", r, "/ap", "/app/x", false}, // starts before it
		// range [b, d)
		{"g", "", r, "b", "", true},
		{"g", "", r, "c", "", true},
		{"g", "", r, "czzz", "", true},
		{"g", "", r, "b", "d", true},
		{"g", "", r, "bb", "c", true},
		{"g", "", r, "d", "", false},
		{"g", "", r, "a", "", false},
		{"g", "", r, "a", "c", false},
		{"g", "", r, "c", "e", false},
		{"g", "", w, "c", "", false},
		{"g", "", rw, "c", "", false},
		// key k alone
		{"k", "", r, "k", "", true},
		{"k", "", r, "k", "k\x00", true},
		{"k", "", r, "k\x00", "", false},
		{"k", "", r, "ka", "", false},
		{"k", "", r, "j", "", false},
		{"k", "", r, "k", "l", false},
		{"k", "", w, "k", "", false},
		// [x, ∞)
		{"o", "", w, "x", "", true},
		{"o", "", w, "zzzz", "", true},
		{"o", "", w, "\xff\xff", "", true},
		{"o", "", w, "x", "\x00", true},
		{"o", "", w, "y", "z", true},
		{"o", "", w, "w", "", false},
		{"o", "", w, "w", "y", false},
		{"o", "", w, "w", "\x00", false},
		{"o", "", r, "y", "", false},
		// typ 0 asks for nothing and gets nothing
		{"p", "", 0, "/app/x", "", false},
	})
}

// TestAllowedUnion: a range covered by two roles together (adjacent or
// overlapping) is allowed, one role alone is not enough; read from one
// role and write from another make readwrite.
func TestAllowedUnion(t *testing.T) {
	m := newMemStore(t)
	grant(m, "ac", r, "", "a", "c")
	grant(m, "ce", r, "", "c", "e")
	grant(m, "bf", r, "", "b", "f")
	grant(m, "key-e", r, "", "e", "")
	grant(m, "w-ac", w, "", "a", "c")
	addUser(m, "both", "ac", "ce")
	addUser(m, "one", "ac")
	addUser(m, "overlap", "ac", "bf")
	addUser(m, "keyjoin", "ac", "ce", "key-e")
	addUser(m, "rw", "ac", "w-ac")
	runChecks(t, m.load(), []check{
		{"both", "", r, "a", "e", true},
		{"both", "", r, "b", "d", true},
		{"both", "", r, "a", "f", false},
		{"both", "", r, "e", "", false},
		{"one", "", r, "a", "e", false},
		{"one", "", r, "a", "c", true},
		{"overlap", "", r, "a", "f", true},
		{"overlap", "", r, "a", "f\x00", false},
		{"keyjoin", "", r, "a", "e\x00", true}, // [a,c) + [c,e) + {e}
		{"keyjoin", "", r, "a", "e\x00\x00", false},
		{"rw", "", rw, "b", "", true},
		{"rw", "", rw, "a", "c", true},
		{"one", "", rw, "b", "", false},
		{"rw", "", rw, "c", "", false},
	})
}

// TestAllowedKinds: a permission covers names of its own kind only; kind
// "" is kv.
func TestAllowedKinds(t *testing.T) {
	m := newMemStore(t)
	grant(m, "jobs", rw, "lock", "jobs/", "jobs0")
	grant(m, "kv", r, "kv", "jobs/", "jobs0")
	grant(m, "q", w, "queue", "work", "")
	addUser(m, "alice", "jobs", "kv", "q")
	checks := []check{
		{"alice", "lock", w, "jobs/a", "", true},
		{"alice", "lock", r, "jobs/a", "", true},
		{"alice", "lock", w, "deploy", "", false},
		{"alice", "", r, "jobs/a", "", true},
		{"alice", "kv", r, "jobs/a", "", true},
		{"alice", "", w, "jobs/a", "", false}, // kv is read-only
		{"alice", "queue", w, "work", "", true},
		{"alice", "queue", w, "jobs/a", "", false},
		{"alice", "lock", w, "work", "", false},
		{"alice", "", w, "work", "", false},
	}
	for _, k := range []string{"election", "barrier", "semaphore", "nonsense"} {
		checks = append(checks, check{"alice", k, r, "jobs/a", "", false})
	}
	runChecks(t, m.load(), checks)
}

// TestAllowedRootAndUnknown: a user holding role root may do everything,
// whatever its name; user root without that role is an ordinary user; an
// unknown user may do nothing, not even an empty range. A known user may
// ask for an empty range (it touches nothing), never for typ 0.
func TestAllowedRootAndUnknown(t *testing.T) {
	m := newMemStore(t)
	addUser(m, "root", "root")
	addUser(m, "admin", "root")
	addUser(m, "plain")
	s := m.load()
	var checks []check
	for _, kind := range append([]string{""}, wire.Kinds...) {
		for _, typ := range []wire.PermType{r, w, rw} {
			checks = append(checks,
				check{"root", kind, typ, "any", "", true},
				check{"root", kind, typ, "a", "\x00", true},
				check{"admin", kind, typ, "\x00coord/", "\x00", true},
				check{"plain", kind, typ, "any", "", false},
				check{"nobody", kind, typ, "any", "", false},
				check{"nobody", kind, typ, "a", "\x00", false},
				check{"nobody", kind, typ, "b", "a", false}, // even an empty range
				check{"plain", kind, typ, "b", "a", true},   // touches nothing
				check{"plain", kind, typ, "b", "b", true},
			)
		}
	}
	checks = append(checks, check{"plain", "", 0, "b", "a", false})
	runChecks(t, s, checks)

	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "root", Role: "root"})
	runChecks(t, m.load(), []check{
		{"root", "", r, "any", "", false},
		{"admin", "", r, "any", "", true},
	})
}

// TestAllowedEverything: a permission on every key ("" to "\x00").
func TestAllowedEverything(t *testing.T) {
	m := newMemStore(t)
	grant(m, "all", r, "", "", "\x00")
	addUser(m, "reader", "all")
	runChecks(t, m.load(), []check{
		{"reader", "", r, "\x00", "", true},
		{"reader", "", r, "a", "\x00", true},
		{"reader", "", r, "\xff", "", true},
		{"reader", "", w, "a", "", false},
		{"reader", "lock", r, "a", "", false},
	})
}

// TestAllowedFollowsChanges: a revoked permission, a revoked role and a
// deleted role stop allowing at the next Load.
func TestAllowedFollowsChanges(t *testing.T) {
	m := newMemStore(t)
	grant(m, "app", rw, "", "/app/", "/app0")
	grant(m, "other", r, "", "/other/", "/other0")
	addUser(m, "alice", "app", "other")
	runChecks(t, m.load(), []check{{"alice", "", w, "/app/x", "", true}, {"alice", "", r, "/other/x", "", true}})
	m.must(wire.MethodRoleRevokePermission, &wire.RoleRequest{Name: "app", Perm: perm(0, "", "/app/", "/app0")})
	m.must(wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "other"})
	runChecks(t, m.load(), []check{{"alice", "", w, "/app/x", "", false}, {"alice", "", r, "/other/x", "", false}})
	grant(m, "app", r, "", "/app/", "/app0")
	runChecks(t, m.load(), []check{{"alice", "", r, "/app/x", "", true}})
	m.must(wire.MethodRoleDelete, &wire.RoleRequest{Name: "app"})
	runChecks(t, m.load(), []check{{"alice", "", r, "/app/x", "", false}})
}
