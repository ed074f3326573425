package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/locks"
	"github.com/coord-io/coord/queue"
)

// Auth end to end, on in-process clusters: the auth store's ops
// (statemachine/auth) through the member's handlers, its cache, the
// handshake and the checks at admit.

func newAuthCluster(t *testing.T, n int, opts ...func(*Config)) *testCluster {
	t.Helper()
	return newTestCluster(t, n, 1, append([]func(*Config){func(c *Config) { c.BcryptCost = 4 }}, opts...)...)
}

func (tc *testCluster) userClient(user, pw string, eps ...string) *coord.Client {
	tc.t.Helper()
	if len(eps) == 0 {
		eps = tc.Endpoints()
	}
	c, err := coord.New(coord.Config{Endpoints: eps, DialTimeout: time.Second, Username: user, Password: pw})
	require.NoError(tc.t, err)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// callAuth calls an auth method with the client's generic call.
func callAuth(ctx context.Context, c *coord.Client, method string, req any) error {
	m, _ := wire.LookupMethod(method)
	return c.Call(ctx, method, req, m.NewResponse())
}

func must(t *testing.T, err error) {
	t.Helper()
	require.NoError(t, err)
}

func prefixPerm(kind string, typ wire.PermType, p string) *wire.Permission {
	return &wire.Permission{Type: typ, Kind: kind, Key: []byte(p), RangeEnd: wire.PrefixEnd([]byte(p))}
}

// setupAuth makes root (password "rootpw"), role app (readwrite /app/,
// read /pub/, lock names jobs-, queue q1), users alice and bob (password
// "pw", role app), and enables auth; it waits until every member
// enforces it.
func setupAuth(t *testing.T, tc *testCluster) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	must(t, callAuth(ctx, c, wire.MethodRoleAdd, &wire.RoleRequest{Name: wire.RootRole}))
	must(t, callAuth(ctx, c, wire.MethodUserAdd, &wire.UserRequest{Name: wire.RootUser, Password: "rootpw"}))
	must(t, callAuth(ctx, c, wire.MethodUserGrantRole, &wire.UserRequest{Name: wire.RootUser, Role: wire.RootRole}))
	must(t, callAuth(ctx, c, wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}))
	for _, p := range []*wire.Permission{
		prefixPerm(wire.KindKV, wire.PermReadWrite, "/app/"),
		prefixPerm(wire.KindKV, wire.PermRead, "/pub/"),
		prefixPerm(wire.KindLock, wire.PermReadWrite, "jobs-"),
		{Type: wire.PermReadWrite, Kind: wire.KindQueue, Key: []byte("q1")},
	} {
		must(t, callAuth(ctx, c, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app", Perm: p}))
	}
	for _, u := range []string{"alice", "bob"} {
		must(t, callAuth(ctx, c, wire.MethodUserAdd, &wire.UserRequest{Name: u, Password: "pw"}))
		must(t, callAuth(ctx, c, wire.MethodUserGrantRole, &wire.UserRequest{Name: u, Role: "app"}))
	}
	must(t, callAuth(ctx, c, wire.MethodAuthEnable, &wire.AuthRequest{}))
	waitEnforced(t, tc)
}

// waitEnforced waits until every member refuses a call without a user.
func waitEnforced(t *testing.T, tc *testCluster) {
	t.Helper()
	for _, ep := range tc.Endpoints() {
		c := tc.client(ep)
		require.Eventually(t, func() bool {
			_, err := c.Get(ctxT(t, 5*time.Second), "/app/x", coord.WithSerializable())
			return errors.Is(err, coord.ErrPermissionDenied)
		}, 20*time.Second, 10*time.Millisecond, "member %s never enforced auth", ep)
	}
}

// TestAuthClusterAllowedAndDenied: the method × (allowed, denied) table
// on three members, each member in turn: kv key, prefix, range, txn, a
// lock name and a queue; a denied put leaves no key.
func TestAuthClusterAllowedAndDenied(t *testing.T) {
	tc := newAuthCluster(t, 3)
	setupAuth(t, tc)
	ctx := ctxT(t, time.Minute)
	root := tc.userClient(wire.RootUser, "rootpw")
	for i, ep := range tc.Endpoints() {
		alice := tc.userClient("alice", "pw", ep)
		denied := func(err error) {
			t.Helper()
			require.ErrorIs(t, err, coord.ErrPermissionDenied, "member %d", i)
			require.Contains(t, err.Error(), "user alice may not")
		}
		_, err := alice.Put(ctx, "/app/x", "1")
		require.NoError(t, err)
		_, err = alice.Get(ctx, "/app/", coord.WithPrefix())
		require.NoError(t, err)
		_, err = alice.Get(ctx, "/pub/a")
		require.NoError(t, err)
		_, err = alice.Put(ctx, "/pub/a", "1")
		denied(err)
		_, err = alice.Put(ctx, "/other/x", "1")
		denied(err)
		require.Contains(t, err.Error(), "permission denied: user alice may not write kv /other/x")
		_, err = alice.Get(ctx, "/", coord.WithPrefix())
		denied(err)
		_, err = alice.Get(ctx, "/app/", coord.WithFromKey())
		denied(err)
		_, err = alice.Delete(ctx, "/app/", coord.WithPrefix())
		require.NoError(t, err)
		_, err = alice.Compact(ctx, 1)
		denied(err)
		_, err = alice.Txn(ctx).If(coord.Compare(coord.Version("/pub/v"), "=", 0)).Then(coord.OpPut("/app/t", "1")).Commit()
		require.NoError(t, err)
		_, err = alice.Txn(ctx).If(coord.Compare(coord.Version("/pub/v"), "=", 0)).Then(coord.OpPut("/app/t", "1")).Else(coord.OpPut("/other/t", "1")).Commit()
		denied(err)
		err = callAuth(ctx, alice, wire.MethodUserList, &wire.UserRequest{})
		denied(err)

		// Primitives: a lock name under jobs- and queue q1 only.
		sess, err := coord.NewSession(alice)
		require.NoError(t, err)
		m := locks.NewMutex(sess, "jobs-a")
		require.NoError(t, m.TryLock(ctx))
		require.NoError(t, m.Unlock(ctx))
		denied(locks.NewMutex(sess, "deploy").TryLock(ctx))
		_, err = queue.New(alice, "q1").Enqueue(ctx, "v")
		require.NoError(t, err)
		_, err = queue.New(alice, "q2").Enqueue(ctx, "v")
		denied(err)
		require.NoError(t, sess.Close(), "the session's lease belongs to alice: she may revoke it")
	}
	// Nothing denied was written.
	for _, k := range []string{"/other/x", "/other/t", "/pub/a"} {
		r, err := root.Get(ctx, k)
		require.NoError(t, err)
		require.Empty(t, r.Kvs, k)
	}
	r, err := root.Get(ctx, "/app/t")
	require.NoError(t, err)
	require.Len(t, r.Kvs, 1)
}

// TestAuthClusterCredentials: without credentials, with a wrong password
// or an unknown user every call is refused, promptly, and the client does
// not spin over the endpoints; auth status stays open; auth disable by
// root opens the cluster again.
func TestAuthClusterCredentials(t *testing.T) {
	tc := newAuthCluster(t, 1)
	setupAuth(t, tc)
	ctx := ctxT(t, time.Minute)

	_, err := tc.client().Put(ctx, "/app/x", "1")
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	require.Contains(t, err.Error(), "authenticate with --user")

	start := time.Now()
	_, err = tc.userClient("alice", "wrong").Put(ctx, "/app/x", "1")
	require.ErrorIs(t, err, coord.ErrAuthFailed)
	require.NotContains(t, err.Error(), "wrong\"")
	require.Less(t, time.Since(start), 5*time.Second, "a refused handshake is not retried")
	_, err = tc.userClient("mallory", "pw").Get(ctx, "/app/x")
	require.ErrorIs(t, err, coord.ErrAuthFailed)

	var st wire.AuthStatusResponse
	require.NoError(t, tc.client().Call(ctx, wire.MethodAuthStatus, &wire.AuthRequest{}, &st))
	require.True(t, st.Enabled)

	root := tc.userClient(wire.RootUser, "rootpw")
	require.NoError(t, callAuth(ctx, root, wire.MethodAuthDisable, &wire.AuthRequest{}))
	anon := tc.client()
	require.Eventually(t, func() bool {
		_, err := anon.Put(ctx, "/other/x", "1")
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
}

// TestAuthClusterTokenExpires: a token from auth.authenticate opens a
// connection on the member that issued it until it expires; then the
// connection's calls fail ErrAuthFailed, and so does a new handshake.
func TestAuthClusterTokenExpires(t *testing.T) {
	tc := newAuthCluster(t, 1, func(c *Config) { c.AuthTokenTTL = 2 * time.Second })
	setupAuth(t, tc)
	ctx := ctxT(t, time.Minute)
	var ar wire.AuthenticateResponse
	require.NoError(t, tc.client().Call(ctx, wire.MethodAuthenticate, &wire.AuthenticateRequest{Name: "alice", Password: "pw"}, &ar))
	require.GreaterOrEqual(t, len(ar.Token), 32)
	require.Equal(t, int64(2), ar.TTL)

	c, err := coord.New(coord.Config{Endpoints: tc.Endpoints(), DialTimeout: time.Second, Username: "alice", Token: ar.Token})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Put(ctx, "/app/tok", "1")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := c.Put(ctx, "/app/tok", "2")
		return errors.Is(err, coord.ErrAuthFailed)
	}, 10*time.Second, 20*time.Millisecond)

	c2, err := coord.New(coord.Config{Endpoints: tc.Endpoints(), DialTimeout: time.Second, Username: "alice", Token: ar.Token})
	require.NoError(t, err)
	defer c2.Close()
	_, err = c2.Get(ctx, "/app/tok")
	require.ErrorIs(t, err, coord.ErrAuthFailed)
}

// TestAuthClusterPasswordChange: a connection authenticated with a
// password fails ErrAuthFailed once the password changes; the new one
// works.
func TestAuthClusterPasswordChange(t *testing.T) {
	tc := newAuthCluster(t, 1)
	setupAuth(t, tc)
	ctx := ctxT(t, time.Minute)
	alice := tc.userClient("alice", "pw")
	_, err := alice.Put(ctx, "/app/x", "1")
	require.NoError(t, err)
	root := tc.userClient(wire.RootUser, "rootpw")
	require.NoError(t, callAuth(ctx, root, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", Password: "new"}))
	require.Eventually(t, func() bool {
		_, err := alice.Put(ctx, "/app/x", "2")
		return errors.Is(err, coord.ErrAuthFailed)
	}, 10*time.Second, 10*time.Millisecond)
	_, err = tc.userClient("alice", "new").Put(ctx, "/app/x", "3")
	require.NoError(t, err)

	// The password never entered the store: the user record holds a hash.
	r, err := root.Get(ctx, "\x00coord/auth/user/alice")
	require.NoError(t, err)
	require.Len(t, r.Kvs, 1)
	require.NotContains(t, string(r.Kvs[0].Value), "new\x00")
	// And only root may read it.
	_, err = tc.userClient("alice", "new").Get(ctx, "\x00coord/auth/user/alice")
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
}

// TestAuthClusterSurvivesRestart: users, roles and the enabled flag come
// back after every member restarts.
func TestAuthClusterSurvivesRestart(t *testing.T) {
	tc := newAuthCluster(t, 3)
	setupAuth(t, tc)
	tc.stopAll()
	for i := 0; i < tc.Len(); i++ {
		tc.start(i)
	}
	tc.waitReady()
	waitEnforced(t, tc)
	ctx := ctxT(t, time.Minute)
	for _, ep := range tc.Endpoints() {
		alice := tc.userClient("alice", "pw", ep)
		_, err := alice.Put(ctx, "/app/after", "1")
		require.NoError(t, err)
		_, err = alice.Put(ctx, "/other/after", "1")
		require.ErrorIs(t, err, coord.ErrPermissionDenied)
	}
}

// authRawConn is a bare msgpack connection, to claim a client ID.
type authRawConn struct {
	nc net.Conn
	fr *wire.FrameReader
}

func dialAuthRaw(t *testing.T, ep string, h *wire.Hello) (*authRawConn, *wire.Error) {
	t.Helper()
	nc, err := net.Dial("tcp", ep)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(20*time.Second)))
	h.Magic, h.Version = wire.Magic, wire.ProtocolVersion
	body, err := wire.Marshal(h)
	require.NoError(t, err)
	b, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: body})
	require.NoError(t, err)
	_, err = nc.Write(b)
	require.NoError(t, err)
	rc := &authRawConn{nc: nc, fr: wire.NewFrameReader(nc, wire.MaxResponseFrameSize)}
	var f wire.Frame
	require.NoError(t, rc.fr.Read(&f))
	return rc, f.Err
}

func (rc *authRawConn) put(t *testing.T, id, seq uint64, key, val string) *wire.Frame {
	t.Helper()
	body, err := wire.Marshal(&wire.PutRequest{Key: []byte(key), Value: []byte(val)})
	require.NoError(t, err)
	b, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameRequest, ID: id, Method: wire.MethodPut, Seq: seq, AckBelow: 1, Body: body})
	require.NoError(t, err)
	_, err = rc.nc.Write(b)
	require.NoError(t, err)
	var f wire.Frame
	require.NoError(t, rc.fr.Read(&f))
	return &f
}

// TestAuthClusterClientIDBound: two users claiming one client ID and
// sequence number do not de-duplicate each other's writes: both apply.
func TestAuthClusterClientIDBound(t *testing.T) {
	tc := newAuthCluster(t, 1)
	setupAuth(t, tc)
	ep := tc.Endpoints()[0]
	a, werr := dialAuthRaw(t, ep, &wire.Hello{ClientID: 77, User: "alice", Password: "pw"})
	require.Nil(t, werr)
	b, werr := dialAuthRaw(t, ep, &wire.Hello{ClientID: 77, User: "bob", Password: "pw"})
	require.Nil(t, werr)
	require.Nil(t, a.put(t, 1, 1, "/app/by-alice", "a").Err)
	require.Nil(t, b.put(t, 1, 1, "/app/by-bob", "b").Err)
	ctx := ctxT(t, 30*time.Second)
	root := tc.userClient(wire.RootUser, "rootpw")
	for _, k := range []string{"/app/by-alice", "/app/by-bob"} {
		r, err := root.Get(ctx, k)
		require.NoError(t, err)
		require.Len(t, r.Kvs, 1, "%s was taken for a retry of the other user's write", k)
	}
	// A wrong password is answered in the handshake.
	_, werr = dialAuthRaw(t, ep, &wire.Hello{ClientID: 78, User: "alice", Password: "nope"})
	require.NotNil(t, werr)
	require.Equal(t, wire.CodeAuthFailed, werr.Code)
}

// TestAuthClusterHTTPStatus: with auth on, /status needs root's
// credentials (401 without, 403 for another user); /healthz stays open.
func TestAuthClusterHTTPStatus(t *testing.T) {
	tc := newAuthCluster(t, 1, func(c *Config) { c.ListenHTTP = "127.0.0.1:0" })
	base := "http://" + tc.HTTPAddrs()[0]
	get := func(path, user, pw string) int {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/status", "", ""))
	setupAuth(t, tc)
	require.Equal(t, http.StatusUnauthorized, get("/status", "", ""))
	require.Equal(t, http.StatusUnauthorized, get("/status", wire.RootUser, "wrong"))
	require.Equal(t, http.StatusForbidden, get("/status", "alice", "pw"))
	require.Equal(t, http.StatusOK, get("/status", wire.RootUser, "rootpw"))
	require.Equal(t, http.StatusOK, get("/healthz", "", ""))
}

// TestAuthClientCertCommonName: with client-certificate auth, a client
// that names no user is the user of its certificate's common name
// ("client", a user without a password), and is checked as that user.
func TestAuthClientCertCommonName(t *testing.T) {
	p := newTestPKI(t)
	s := startMember(t, func(cfg *Config) {
		cfg.TLSCertFile, cfg.TLSKeyFile = p.serverCert, p.serverKey
		cfg.ClientCertAuth, cfg.TrustedCAFile = true, p.caFile
		cfg.BcryptCost = 4
	})
	tlsCfg := &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientPair}}
	ctx := ctxT(t, 30*time.Second)
	admin := tlsClient(t, s.ClientAddr(), tlsCfg)
	must(t, callAuth(ctx, admin, wire.MethodRoleAdd, &wire.RoleRequest{Name: wire.RootRole}))
	must(t, callAuth(ctx, admin, wire.MethodUserAdd, &wire.UserRequest{Name: wire.RootUser, Password: "rootpw"}))
	must(t, callAuth(ctx, admin, wire.MethodUserGrantRole, &wire.UserRequest{Name: wire.RootUser, Role: wire.RootRole}))
	must(t, callAuth(ctx, admin, wire.MethodRoleAdd, &wire.RoleRequest{Name: "c"}))
	must(t, callAuth(ctx, admin, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "c", Perm: prefixPerm(wire.KindKV, wire.PermReadWrite, "/c/")}))
	must(t, callAuth(ctx, admin, wire.MethodUserAdd, &wire.UserRequest{Name: "client", NoPassword: true}))
	must(t, callAuth(ctx, admin, wire.MethodUserGrantRole, &wire.UserRequest{Name: "client", Role: "c"}))
	must(t, callAuth(ctx, admin, wire.MethodAuthEnable, &wire.AuthRequest{}))

	cert := tlsClient(t, s.ClientAddr(), tlsCfg)
	_, err := cert.Put(ctx, "/c/x", "1")
	require.NoError(t, err)
	_, err = cert.Put(ctx, "/d/x", "1")
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	require.Contains(t, err.Error(), "user client may not write kv /d/x")

	// A user without a password cannot log in with one.
	c, err := coord.New(coord.Config{Endpoints: []string{s.ClientAddr()}, DialTimeout: time.Second, TLS: tlsCfg, Username: "client", Password: "x"})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Get(ctx, "/c/x")
	require.ErrorIs(t, err, coord.ErrAuthFailed)
}

// TestAuthClusterSnapshotCatchUp: a member that was down while auth was
// set up and enabled catches up by snapshot and enforces it.
func TestAuthClusterSnapshotCatchUp(t *testing.T) {
	tc := newAuthCluster(t, 3)
	tc.stopAll()
	for i := range tc.Configs() {
		tc.start(i, func(cfg *Config) { cfg.SnapshotEntries = 20 })
	}
	tc.waitReady()
	lag := 2
	if tc.leaderOfMost() == lag {
		lag = 1
	}
	// A key written before auth, which alice may read afterwards.
	_, err := tc.client(tc.Config(lag).ListenClient).Put(ctxT(t, 10*time.Second), "/app/before", "1")
	require.NoError(t, err)
	tc.stop(lag)
	var live []string
	for i, cfg := range tc.Configs() {
		if i != lag {
			live = append(live, cfg.ListenClient)
		}
	}
	ctx := ctxT(t, time.Minute)
	c := tc.client(live...)
	must(t, callAuth(ctx, c, wire.MethodRoleAdd, &wire.RoleRequest{Name: wire.RootRole}))
	must(t, callAuth(ctx, c, wire.MethodUserAdd, &wire.UserRequest{Name: wire.RootUser, Password: "rootpw"}))
	must(t, callAuth(ctx, c, wire.MethodUserGrantRole, &wire.UserRequest{Name: wire.RootUser, Role: wire.RootRole}))
	must(t, callAuth(ctx, c, wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}))
	must(t, callAuth(ctx, c, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app", Perm: prefixPerm(wire.KindKV, wire.PermReadWrite, "/app/")}))
	must(t, callAuth(ctx, c, wire.MethodUserAdd, &wire.UserRequest{Name: "alice", Password: "pw"}))
	must(t, callAuth(ctx, c, wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"}))
	must(t, callAuth(ctx, c, wire.MethodAuthEnable, &wire.AuthRequest{}))
	root := tc.userClient(wire.RootUser, "rootpw", live...)
	for i := 0; i < 100; i++ {
		_, err := root.Put(ctx, fmt.Sprintf("/fill/%03d", i), "x")
		require.NoError(t, err)
	}

	tc.start(lag)
	ep := tc.Config(lag).ListenClient
	anon := tc.client(ep)
	require.Eventually(t, func() bool {
		_, err := anon.Get(ctxT(t, 5*time.Second), "/app/x", coord.WithSerializable())
		return errors.Is(err, coord.ErrPermissionDenied)
	}, 30*time.Second, 20*time.Millisecond)
	require.Positive(t, tc.Member(lag).restores.Load(), "the member caught up by snapshot")
	alice := tc.userClient("alice", "pw", ep)
	_, err = alice.Get(ctx, "/app/before", coord.WithSerializable())
	require.NoError(t, err)
	_, err = alice.Get(ctx, "/fill/", coord.WithPrefix(), coord.WithSerializable())
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
}

// TestAuthClusterLeases: a lease without keys is its granter's (and
// root's) to renew, read and revoke; a lease with keys needs write (or
// read, for its time to live) on every key, whoever granted it.
func TestAuthClusterLeases(t *testing.T) {
	tc := newAuthCluster(t, 1)
	setupAuth(t, tc)
	ctx := ctxT(t, time.Minute)
	alice, bob := tc.userClient("alice", "pw"), tc.userClient("bob", "pw")
	root := tc.userClient(wire.RootUser, "rootpw")

	g, err := alice.Grant(ctx, 60)
	require.NoError(t, err)
	_, err = bob.KeepAliveOnce(ctx, g.ID)
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	require.Contains(t, err.Error(), "another user granted it")
	_, err = bob.TimeToLive(ctx, g.ID, true)
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	_, err = bob.Revoke(ctx, g.ID)
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	_, err = alice.KeepAliveOnce(ctx, g.ID)
	require.NoError(t, err)
	_, err = alice.TimeToLive(ctx, g.ID, true)
	require.NoError(t, err)

	// With a key under /app/ (bob may write there too) bob may revoke it;
	// with a key only root may write, alice may not.
	_, err = alice.Put(ctx, "/app/leased", "1", coord.WithLease(g.ID))
	require.NoError(t, err)
	_, err = bob.KeepAliveOnce(ctx, g.ID)
	require.NoError(t, err)
	g2, err := alice.Grant(ctx, 60)
	require.NoError(t, err)
	_, err = root.Put(ctx, "/root-only", "1", coord.WithLease(g2.ID))
	require.NoError(t, err)
	_, err = alice.Revoke(ctx, g2.ID)
	require.ErrorIs(t, err, coord.ErrPermissionDenied)
	require.Contains(t, err.Error(), "attached to lease")
	_, err = bob.Revoke(ctx, g.ID)
	require.NoError(t, err)
	_, err = root.Revoke(ctx, g2.ID)
	require.NoError(t, err)
}
