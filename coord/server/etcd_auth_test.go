package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/authpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/coord-io/coord/coord/wire"
)

// TestEtcdAuthAdmin: etcd's Auth service through clientv3 on three
// members: with auth off, user and role CRUD, permissions granted and
// revoked (READ, WRITE, READWRITE; a key and a prefix), etcd's error
// values (already exists, not found, not granted, the root rules of auth
// enable), auth status; then auth enabled: root may do everything, a user
// allowed /app/ puts there and is denied elsewhere (the key not written)
// and denied auth admin, a wrong password fails; auth disabled by root.
func TestEtcdAuthAdmin(t *testing.T) {
	tc := newAuthCluster(t, 3, func(c *Config) { c.ListenEtcd = "127.0.0.1:0" })
	ctx := ctxT(t, 2*time.Minute)
	c := tc.etcdClient(clientv3.Config{})

	st, err := c.AuthStatus(ctx)
	require.NoError(t, err)
	require.False(t, st.Enabled)
	rev0 := st.AuthRevision

	// auth enable needs the root user, then its root role.
	_, err = c.AuthEnable(ctx)
	require.Equal(t, rpctypes.ErrRootUserNotExist, err)
	_, err = c.UserAdd(ctx, "root", "rootpw")
	require.NoError(t, err)
	_, err = c.AuthEnable(ctx)
	require.Equal(t, rpctypes.ErrRootRoleNotExist, err)
	_, err = c.RoleAdd(ctx, "root")
	require.NoError(t, err)
	_, err = c.AuthEnable(ctx)
	require.Equal(t, rpctypes.ErrRootRoleNotExist, err, "root role exists but is not granted")
	_, err = c.UserGrantRole(ctx, "root", "root")
	require.NoError(t, err)

	// Users.
	_, err = c.UserAdd(ctx, "alice", "pw")
	require.NoError(t, err)
	_, err = c.UserAdd(ctx, "alice", "pw")
	require.Equal(t, rpctypes.ErrUserAlreadyExist, err)
	_, err = c.UserAdd(ctx, "", "pw")
	require.Equal(t, rpctypes.ErrUserEmpty, err)
	_, err = c.UserAddWithOptions(ctx, "certonly", "", &clientv3.UserAddOptions{NoPassword: true})
	require.NoError(t, err)
	_, err = c.UserChangePassword(ctx, "certonly", "now-one")
	require.NoError(t, err)
	_, err = c.UserChangePassword(ctx, "nobody", "x")
	require.Equal(t, rpctypes.ErrUserNotFound, err)
	_, err = c.UserDelete(ctx, "certonly")
	require.NoError(t, err)
	_, err = c.UserDelete(ctx, "certonly")
	require.Equal(t, rpctypes.ErrUserNotFound, err)
	_, err = c.UserGet(ctx, "nobody")
	require.Equal(t, rpctypes.ErrUserNotFound, err)

	// Roles and permissions.
	_, err = c.RoleAdd(ctx, "app")
	require.NoError(t, err)
	_, err = c.RoleAdd(ctx, "app")
	require.Equal(t, rpctypes.ErrRoleAlreadyExist, err)
	_, err = c.RoleAdd(ctx, "")
	require.Equal(t, rpctypes.ErrRoleEmpty, err)
	_, err = c.RoleGrantPermission(ctx, "app", "/app/", clientv3.GetPrefixRangeEnd("/app/"), clientv3.PermissionType(clientv3.PermReadWrite))
	require.NoError(t, err)
	_, err = c.RoleGrantPermission(ctx, "app", "/pub/x", "", clientv3.PermissionType(clientv3.PermRead))
	require.NoError(t, err)
	_, err = c.RoleGrantPermission(ctx, "app", "/log/", clientv3.GetPrefixRangeEnd("/log/"), clientv3.PermissionType(clientv3.PermWrite))
	require.NoError(t, err)
	_, err = c.RoleGrantPermission(ctx, "nope", "/a", "", clientv3.PermissionType(clientv3.PermRead))
	require.Equal(t, rpctypes.ErrRoleNotFound, err)
	// A permission on lock names (Coord's own kind) is not shown to etcd.
	must(t, callAuth(ctx, tc.client(), wire.MethodRoleGrantPermission,
		&wire.RoleRequest{Name: "app", Perm: prefixPerm(wire.KindLock, wire.PermReadWrite, "jobs/")}))
	rg, err := c.RoleGet(ctx, "app")
	require.NoError(t, err)
	require.Equal(t, []*authpb.Permission{
		{PermType: authpb.READWRITE, Key: []byte("/app/"), RangeEnd: []byte("/app0")},
		{PermType: authpb.WRITE, Key: []byte("/log/"), RangeEnd: []byte("/log0")},
		{PermType: authpb.READ, Key: []byte("/pub/x")},
	}, rg.Perm)
	_, err = c.RoleRevokePermission(ctx, "app", "/log/", clientv3.GetPrefixRangeEnd("/log/"))
	require.NoError(t, err)
	_, err = c.RoleRevokePermission(ctx, "app", "/log/", clientv3.GetPrefixRangeEnd("/log/"))
	require.Equal(t, rpctypes.ErrPermissionNotGranted, err)
	_, err = c.RoleRevokePermission(ctx, "nope", "/log/", "")
	require.Equal(t, rpctypes.ErrRoleNotFound, err)
	rg, err = c.RoleGet(ctx, "app")
	require.NoError(t, err)
	require.Len(t, rg.Perm, 2)
	_, err = c.RoleGet(ctx, "nope")
	require.Equal(t, rpctypes.ErrRoleNotFound, err)

	_, err = c.RoleAdd(ctx, "tmp")
	require.NoError(t, err)
	_, err = c.UserGrantRole(ctx, "alice", "tmp")
	require.NoError(t, err)
	_, err = c.UserRevokeRole(ctx, "alice", "tmp")
	require.NoError(t, err)
	_, err = c.UserRevokeRole(ctx, "alice", "tmp")
	require.Equal(t, rpctypes.ErrRoleNotGranted, err)
	_, err = c.UserRevokeRole(ctx, "nobody", "tmp")
	require.Equal(t, rpctypes.ErrUserNotFound, err)
	_, err = c.RoleDelete(ctx, "tmp")
	require.NoError(t, err)
	_, err = c.RoleDelete(ctx, "tmp")
	require.Equal(t, rpctypes.ErrRoleNotFound, err)
	_, err = c.UserGrantRole(ctx, "alice", "nope")
	require.Equal(t, rpctypes.ErrRoleNotFound, err)
	_, err = c.UserGrantRole(ctx, "nobody", "app")
	require.Equal(t, rpctypes.ErrUserNotFound, err)
	_, err = c.UserGrantRole(ctx, "alice", "app")
	require.NoError(t, err)

	ug, err := c.UserGet(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"app"}, ug.Roles)
	ul, err := c.UserList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "root"}, ul.Users)
	rl, err := c.RoleList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"app", "root"}, rl.Roles)

	// Enable.
	_, err = c.AuthEnable(ctx)
	require.NoError(t, err)
	waitEnforced(t, tc)
	st, err = c.AuthStatus(ctx) // open to anyone, as etcd's
	require.NoError(t, err)
	require.True(t, st.Enabled)
	require.Greater(t, st.AuthRevision, rev0)
	_, err = c.UserList(ctx)
	require.Equal(t, rpctypes.ErrUserEmpty, err)

	root := tc.etcdClient(clientv3.Config{Username: "root", Password: "rootpw"})
	ul, err = root.UserList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "root"}, ul.Users)
	_, err = root.UserDelete(ctx, "root")
	require.Equal(t, rpctypes.ErrInvalidAuthMgmt, err)
	_, err = root.UserRevokeRole(ctx, "root", "root")
	require.Equal(t, rpctypes.ErrInvalidAuthMgmt, err)

	for i := 0; i < tc.Len(); i++ {
		alice := tc.etcdClient(clientv3.Config{Username: "alice", Password: "pw"}, tc.Member(i).EtcdAddr())
		_, err = alice.Put(ctx, "/app/x", "1")
		require.NoError(t, err, "member %d", i)
		_, err = alice.Put(ctx, "/other/x", "1")
		require.Equal(t, rpctypes.ErrPermissionDenied, err, "member %d", i)
		_, err = alice.UserList(ctx)
		require.Equal(t, rpctypes.ErrPermissionDenied, err, "member %d", i)
		_, err = alice.AuthDisable(ctx)
		require.Equal(t, rpctypes.ErrPermissionDenied, err, "member %d", i)
	}
	g, err := root.Get(ctx, "/other/x")
	require.NoError(t, err)
	require.Empty(t, g.Kvs, "a denied put wrote its key")

	_, err = clientv3.New(clientv3.Config{Endpoints: tc.EtcdEndpoints(), DialTimeout: 5 * time.Second,
		Username: "alice", Password: "wrong", Logger: zap.NewNop()})
	require.Equal(t, rpctypes.ErrAuthFailed, err)

	// Disable, as root: every member opens again.
	_, err = root.AuthDisable(ctx)
	require.NoError(t, err)
	for i := 0; i < tc.Len(); i++ {
		anon := tc.etcdClient(clientv3.Config{}, tc.Member(i).EtcdAddr())
		require.Eventually(t, func() bool {
			_, err := anon.Put(ctx, "/other/x", "1")
			return err == nil
		}, 20*time.Second, 10*time.Millisecond, "member %d still refuses after auth disable", i)
	}
	st, err = c.AuthStatus(ctx)
	require.NoError(t, err)
	require.False(t, st.Enabled)
}
