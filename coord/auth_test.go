package coord

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// scriptedMember answers the handshake, then each request with what
// answer returns for it; it records the handshake and the requests.
type scriptedMember struct {
	addr   string
	answer func(f wire.Frame) (any, *wire.Error)

	mu     sync.Mutex
	hello  wire.Hello
	frames []wire.Frame
}

func newScriptedMember(t *testing.T, answer func(f wire.Frame) (any, *wire.Error)) *scriptedMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := &scriptedMember{addr: ln.Addr().String(), answer: answer}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					select {
					case <-stop:
					case <-time.After(10 * time.Second):
						nc.Close()
					}
				}()
				m.serve(nc)
			}()
		}
	}()
	return m
}

func (m *scriptedMember) serve(nc net.Conn) {
	fr := wire.NewFrameReader(nc, 0)
	for {
		var f wire.Frame
		if fr.Read(&f) != nil {
			return
		}
		var resp *wire.Frame
		switch f.Type {
		case wire.FrameHello:
			var h wire.Hello
			_ = wire.Unmarshal(f.Body, &h)
			m.mu.Lock()
			m.hello = h
			m.mu.Unlock()
			body, _ := wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: "fake", Shards: 1, ClusterID: 1, User: h.User})
			resp = &wire.Frame{Type: wire.FrameHello, Body: body}
		case wire.FrameRequest:
			m.mu.Lock()
			m.frames = append(m.frames, f)
			m.mu.Unlock()
			v, werr := m.answer(f)
			resp = &wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: werr}
			if v != nil {
				resp.Body, _ = wire.Marshal(v)
			}
		default:
			continue
		}
		b, _ := wire.AppendFrame(nil, resp)
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// last returns the method and decoded request of the last request.
func (m *scriptedMember) last(t *testing.T) (string, any) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	require.NotEmpty(t, m.frames)
	f := m.frames[len(m.frames)-1]
	mt, ok := wire.LookupMethod(f.Method)
	require.True(t, ok, f.Method)
	req := mt.NewRequest()
	require.NoError(t, wire.Unmarshal(f.Body, req))
	return f.Method, req
}

// TestAuthClientRequests: every auth method of the client sends the
// wire method and request the contract names, and decodes the answer.
func TestAuthClientRequests(t *testing.T) {
	m := newScriptedMember(t, func(f wire.Frame) (any, *wire.Error) {
		switch f.Method {
		case wire.MethodAuthenticate:
			return &wire.AuthenticateResponse{Token: "tok", TTL: 300}, nil
		case wire.MethodAuthStatus, wire.MethodAuthEnable, wire.MethodAuthDisable:
			return &wire.AuthStatusResponse{Enabled: true, Revision: 7}, nil
		case wire.MethodUserGet:
			return &wire.UserResponse{Roles: []string{"app", "root"}}, nil
		case wire.MethodUserList:
			return &wire.UserResponse{Users: []string{"alice", "root"}}, nil
		case wire.MethodRoleGet:
			return &wire.RoleResponse{Perms: []wire.Permission{PrefixPermission(KindKV, PermReadWrite, "/app/")}}, nil
		case wire.MethodRoleList:
			return &wire.RoleResponse{Roles: []string{"app"}}, nil
		}
		return struct{}{}, nil
	})
	c, err := New(Config{Endpoints: []string{m.addr}, Username: "root", Password: "pw", StaticEndpoints: true}) // counts frames
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tok, ttl, err := c.Authenticate(ctx, "alice", "secret")
	require.NoError(t, err)
	require.Equal(t, "tok", tok)
	require.Equal(t, 300*time.Second, ttl)
	method, req := m.last(t)
	require.Equal(t, wire.MethodAuthenticate, method)
	require.Equal(t, &wire.AuthenticateRequest{Name: "alice", Password: "secret"}, req)
	m.mu.Lock()
	require.Equal(t, "root", m.hello.User, "the handshake names Config.Username")
	require.Equal(t, "pw", m.hello.Password)
	m.mu.Unlock()

	on, rev, err := c.AuthStatus(ctx)
	require.NoError(t, err)
	require.True(t, on)
	require.Equal(t, int64(7), rev)

	roles, err := c.UserGet(ctx, "alice")
	require.NoError(t, err)
	require.Equal(t, []string{"app", "root"}, roles)
	users, err := c.UserList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "root"}, users)
	perms, err := c.RoleGet(ctx, "app")
	require.NoError(t, err)
	require.Equal(t, []Permission{{Type: PermReadWrite, Kind: KindKV, Key: []byte("/app/"), RangeEnd: []byte("/app0")}}, perms)
	rl, err := c.RoleList(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"app"}, rl)

	lockPerm := PrefixPermission(KindLock, PermWrite, "jobs/")
	calls := []struct {
		do     func() error
		method string
		req    any
	}{
		{func() error { return c.AuthEnable(ctx) }, wire.MethodAuthEnable, &wire.AuthRequest{}},
		{func() error { return c.AuthDisable(ctx) }, wire.MethodAuthDisable, &wire.AuthRequest{}},
		{func() error { return c.UserAdd(ctx, "alice", "pw1") }, wire.MethodUserAdd, &wire.UserRequest{Name: "alice", Password: "pw1"}},
		{func() error { return c.UserAddNoPassword(ctx, "svc") }, wire.MethodUserAdd, &wire.UserRequest{Name: "svc", NoPassword: true}},
		{func() error { return c.UserDelete(ctx, "alice") }, wire.MethodUserDelete, &wire.UserRequest{Name: "alice"}},
		{func() error { return c.UserChangePassword(ctx, "alice", "pw2") }, wire.MethodUserPasswd, &wire.UserRequest{Name: "alice", Password: "pw2"}},
		{func() error { return c.UserGrantRole(ctx, "alice", "app") }, wire.MethodUserGrantRole, &wire.UserRequest{Name: "alice", Role: "app"}},
		{func() error { return c.UserRevokeRole(ctx, "alice", "app") }, wire.MethodUserRevokeRole, &wire.UserRequest{Name: "alice", Role: "app"}},
		{func() error { _, err := c.UserGet(ctx, "bob"); return err }, wire.MethodUserGet, &wire.UserRequest{Name: "bob"}},
		{func() error { _, err := c.UserList(ctx); return err }, wire.MethodUserList, &wire.UserRequest{}},
		{func() error { return c.RoleAdd(ctx, "app") }, wire.MethodRoleAdd, &wire.RoleRequest{Name: "app"}},
		{func() error { return c.RoleDelete(ctx, "app") }, wire.MethodRoleDelete, &wire.RoleRequest{Name: "app"}},
		{func() error { _, err := c.RoleGet(ctx, "ops"); return err }, wire.MethodRoleGet, &wire.RoleRequest{Name: "ops"}},
		{func() error { _, err := c.RoleList(ctx); return err }, wire.MethodRoleList, &wire.RoleRequest{}},
		{func() error { return c.RoleGrantPermission(ctx, "app", lockPerm) }, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: "app", Perm: &lockPerm}},
		{func() error { return c.RoleRevokePermission(ctx, "app", lockPerm) }, wire.MethodRoleRevokePermission, &wire.RoleRequest{Name: "app", Perm: &lockPerm}},
	}
	for _, cl := range calls {
		require.NoError(t, cl.do(), cl.method)
		method, req := m.last(t)
		require.Equal(t, cl.method, method)
		require.Equal(t, cl.req, req, cl.method)
	}
}

// TestAuthClientErrors: the member's refusals come back as the
// sentinels, with the member's message; an empty password is refused
// before anything is sent.
func TestAuthClientErrors(t *testing.T) {
	m := newScriptedMember(t, func(f wire.Frame) (any, *wire.Error) {
		switch f.Method {
		case wire.MethodUserAdd:
			return nil, wire.Errorf(wire.CodeAlreadyExists, "user alice already exists")
		case wire.MethodRoleGet:
			return nil, wire.Errorf(wire.CodeNotFound, "role nope not found")
		case wire.MethodAuthenticate:
			return nil, wire.Errorf(wire.CodeAuthFailed, "authentication failed: wrong user name or password")
		}
		return nil, wire.Errorf(wire.CodePermissionDenied, "permission denied: user alice is not root")
	})
	c, err := New(Config{Endpoints: []string{m.addr}})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	err = c.UserAdd(ctx, "alice", "pw")
	require.ErrorIs(t, err, ErrAlreadyExists)
	require.Contains(t, err.Error(), "user alice already exists")
	_, err = c.RoleGet(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)
	_, _, err = c.Authenticate(ctx, "alice", "bad")
	require.ErrorIs(t, err, ErrAuthFailed)
	require.ErrorIs(t, c.AuthEnable(ctx), ErrPermissionDenied)
	_, err = c.UserList(ctx)
	require.ErrorIs(t, err, ErrPermissionDenied)

	m.mu.Lock()
	n := len(m.frames)
	m.mu.Unlock()
	require.ErrorIs(t, c.UserAdd(ctx, "bob", ""), ErrInvalid)
	require.ErrorIs(t, c.UserChangePassword(ctx, "bob", ""), ErrInvalid)
	m.mu.Lock()
	require.Equal(t, n, len(m.frames), "an empty password is not sent")
	m.mu.Unlock()
}

func TestPermissionHelpers(t *testing.T) {
	p := PrefixPermission(KindLock, PermReadWrite, "jobs/")
	require.Equal(t, Permission{Type: PermReadWrite, Kind: "lock", Key: []byte("jobs/"), RangeEnd: []byte("jobs0")}, p)
	require.True(t, IsPrefixPermission(p))
	all := PrefixPermission(KindKV, PermRead, "")
	require.Equal(t, []byte{0}, all.RangeEnd, "an empty prefix is every key")
	require.True(t, IsPrefixPermission(all))
	require.False(t, IsPrefixPermission(KeyPermission(KindKV, PermRead, "a")))
	require.False(t, IsPrefixPermission(RangePermission(KindKV, PermRead, "a", "c")))
	require.Equal(t, Permission{Type: PermWrite, Kind: "queue", Key: []byte("q")}, KeyPermission(KindQueue, PermWrite, "q"))
}
