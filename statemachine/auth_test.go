package statemachine

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/statemachine/auth"
	"github.com/coord-io/coord/statemachine/primitive"
)

// newAuthHarness is a harness of shard wire.AuthShard, where the auth
// store lives.
func newAuthHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := OpenStore(dir, DefaultConfig())
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sh := st.Shard(wire.AuthShard)
	_, err = sh.Open()
	require.NoError(t, err)
	return &harness{t: t, dir: dir, st: st, sh: sh}
}

// loadAuth is auth.Load of the shard's current state.
func loadAuth(t *testing.T, sh *Shard) *auth.State {
	t.Helper()
	var s *auth.State
	_, err := sh.readAt(func(r primitive.Reader) (err error) {
		s, err = auth.Load(r)
		return err
	})
	require.NoError(t, err)
	return s
}

func bcryptLike(c byte) []byte { return []byte("$2a$10$" + strings.Repeat(string(c), 53)) }

// TestAuthStoreThroughTheStateMachine applies the auth store's ops through
// the real apply in shard wire.AuthShard (one revision per change, the
// header filled, a refused op changing nothing), answers its reads with
// Query, and carries the store through a reopen and a snapshot into a
// fresh shard that held another auth store: Load sees the same state.
func TestAuthStoreThroughTheStateMachine(t *testing.T) {
	h := newAuthHarness(t)
	cmds := []*Command{
		NewCommand(wire.MethodUserAdd, &wire.UserRequest{Name: "root", PasswordHash: bcryptLike('r')}),
		NewCommand(wire.MethodRoleAdd, &wire.RoleRequest{Name: "root"}),
		NewCommand(wire.MethodUserGrantRole, &wire.UserRequest{Name: "root", Role: "root"}),
		NewCommand(wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}),
		NewCommand(wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app", Perm: &wire.Permission{Type: wire.PermReadWrite, Key: []byte("/app/"), RangeEnd: []byte("/app0")}}),
		NewCommand(wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app", Perm: &wire.Permission{Type: wire.PermReadWrite, Kind: wire.KindLock, Key: []byte("jobs/"), RangeEnd: []byte("jobs0")}}),
		NewCommand(wire.MethodUserAdd, &wire.UserRequest{Name: "alice", PasswordHash: bcryptLike('a')}),
		NewCommand(wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"}),
	}
	rs, _ := h.apply(cmds...) // one batch
	for i, r := range rs {
		require.Equal(t, wire.OK, r.Code, "command %d (%s): %v", i, cmds[i].Op, r)
	}
	var st wire.AuthStatusResponse
	decodeOK(t, h.apply1(NewCommand(wire.MethodAuthEnable, &wire.AuthRequest{})), &st)
	require.Equal(t, wire.AuthStatusResponse{Header: wire.ResponseHeader{Shard: wire.AuthShard, Revision: 10}, Enabled: true, Revision: 9}, st)
	cur, _ := h.sh.Revision()
	require.EqualValues(t, 10, cur, "one shard revision per change (the auth store's own revision counts from 0)")

	werr := decodeErr(t, h.apply1(NewCommand(wire.MethodUserDelete, &wire.UserRequest{Name: "root"})))
	require.Equal(t, wire.CodeInvalid, werr.Code)
	werr = decodeErr(t, h.apply1(NewCommand(wire.MethodUserAdd, &wire.UserRequest{Name: "bob", Password: "secret"})))
	require.Equal(t, wire.CodeInvalid, werr.Code)
	cur, _ = h.sh.Revision()
	require.EqualValues(t, 10, cur, "a refused op makes no revision")

	resp, err := h.sh.Query(wire.MethodUserGet, &wire.UserRequest{Name: "alice"})
	require.NoError(t, err)
	require.Equal(t, &wire.UserResponse{Header: wire.ResponseHeader{Shard: wire.AuthShard, Revision: 10}, Roles: []string{"app"}}, resp)
	resp, err = h.sh.Query(wire.MethodAuthStatus, &wire.AuthRequest{})
	require.NoError(t, err)
	require.Equal(t, &wire.AuthStatusResponse{Header: wire.ResponseHeader{Shard: wire.AuthShard, Revision: 10}, Enabled: true, Revision: 9}, resp)
	_, err = h.sh.Query(wire.MethodRoleGet, &wire.RoleRequest{Name: "nope"})
	var notFound *wire.Error
	require.ErrorAs(t, err, &notFound)
	require.Equal(t, wire.CodeNotFound, notFound.Code)

	want := loadAuth(t, h.sh)
	require.True(t, want.Enabled)
	require.EqualValues(t, 9, want.Revision)
	require.True(t, want.Allowed("alice", "", wire.PermWrite, []byte("/app/x"), nil))
	require.True(t, want.Allowed("alice", wire.KindLock, wire.PermWrite, []byte("jobs/a"), nil))
	require.False(t, want.Allowed("alice", "", wire.PermWrite, []byte("/other/x"), nil))
	require.False(t, want.Allowed("alice", wire.KindLock, wire.PermWrite, []byte("deploy"), nil))
	require.NotNil(t, h.get(string(auth.UserKey("alice")), 0), "the store is ordinary keys under auth.Root")

	require.NoError(t, h.sh.Close())
	_, err = h.sh.Open()
	require.NoError(t, err)
	require.Equal(t, want, loadAuth(t, h.sh), "after a reopen")

	other := newAuthHarness(t)
	decodeOK(t, other.apply1(NewCommand(wire.MethodUserAdd, &wire.UserRequest{Name: "mallory", NoPassword: true})), &wire.UserResponse{})
	require.NoError(t, other.sh.RecoverFromSnapshot(bytes.NewReader(snapshotOf(t, h.sh))))
	got := loadAuth(t, other.sh)
	require.Equal(t, want, got, "after a snapshot restore")
	require.NotContains(t, got.Users, "mallory")
	require.Equal(t, mustHash(t, h.sh), mustHash(t, other.sh))

	// The restored shard goes on from the same auth revision.
	decodeOK(t, other.apply1(NewCommand(wire.MethodAuthDisable, &wire.AuthRequest{})), &st)
	require.Equal(t, wire.AuthStatusResponse{Header: wire.ResponseHeader{Shard: wire.AuthShard, Revision: 11}, Revision: 10}, st)
}

// TestAuthStoreOnlyInAuthShard: the auth store's ops are refused in any
// other shard, where no member would read them.
func TestAuthStoreOnlyInAuthShard(t *testing.T) {
	h := newHarness(t) // shard 7
	werr := decodeErr(t, h.apply1(NewCommand(wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"})))
	require.Equal(t, wire.CodeWrongShard, werr.Code)
	require.Empty(t, h.rng(&wire.RangeRequest{Key: []byte(auth.Root), RangeEnd: wire.PrefixEnd([]byte(auth.Root))}).Kvs)
}
