package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Auth service: Authenticate checks the password with the core's
// auth.authenticate and answers an etcd token, which clients then send
// as the "token" metadata of every call (etcdDoor.caller). The auth
// store's management calls (users, roles, enable, …) are calls of the
// core's auth methods (etcdAuthCall), so the core's rules apply: root
// only while auth is on, the root user and role before auth enable.
//
// etcd's tokens are valid on every member (etcd replicates them through
// Raft), and clientv3 sends its calls to all its endpoints with the one
// token it got. The core's tokens are known only to the member that
// issued them, so the door answers a token every member can check
// without sharing state: the user, the expiry of the core's token and an
// HMAC-SHA256 of both and the cluster ID, keyed with the user's password
// hash from the auth store (which every member holds and no user but
// root can read). A password change or the user's removal invalidates
// it, as it does the core's tokens.

var etcdAuthService = etcdService{name: "Auth", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdAuthServer{d: d}
	pb.RegisterAuthServer(gs, s)
	return gw.RegisterAuthHandlerServer(context.Background(), mux, s)
}}

type etcdAuthServer struct {
	pb.UnimplementedAuthServer
	d *etcdDoor
}

// Authenticate answers a token for a user name and password. The call's
// own token, if any, is not checked (a client authenticates again when
// its token expired). With auth off it answers etcd's "authentication is
// not enabled", which clientv3 takes as "proceed without a token".
func (a *etcdAuthServer) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	cl := a.d.connCaller(ctx)
	if !a.d.core.authEnabled() {
		return nil, rpctypes.ErrGRPCAuthNotEnabled
	}
	resp, werr := etcdCall[wire.AuthenticateRequest, wire.AuthenticateResponse](ctx, a.d, cl, wire.MethodAuthenticate,
		&wire.AuthenticateRequest{Name: r.Name, Password: r.Password})
	if werr != nil {
		if werr.Code == wire.CodeAuthFailed || werr.Code == wire.CodeInvalid {
			return nil, rpctypes.ErrGRPCAuthFailed
		}
		return nil, a.d.etcdError(cl, werr)
	}
	tok := resp.Token
	if info, ok := a.d.core.tokens.lookup(tok, time.Now()); ok {
		tok = a.d.mintToken(info)
	}
	return &pb.AuthenticateResponse{Header: a.d.header(&resp.Header), Token: tok}, nil
}

// etcdTokenPrefix starts the etcd door's tokens.
const etcdTokenPrefix = "coord-etcd."

// mintToken is the etcd token of what the core's token stands for.
func (d *etcdDoor) mintToken(info tokenInfo) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(info.user)) + "." + strconv.FormatInt(info.expires.UnixMilli(), 10)
	return etcdTokenPrefix + body + "." + hex.EncodeToString(d.tokenMAC(info.hash, body))
}

func (d *etcdDoor) tokenMAC(hash []byte, body string) []byte {
	m := hmac.New(sha256.New, hash)
	var cid [8]byte
	binary.BigEndian.PutUint64(cid[:], d.core.ClusterID())
	m.Write(cid[:])
	m.Write([]byte(body))
	return m.Sum(nil)
}

// checkToken checks a call's token: one of the door's (mintToken), on
// any member, or one the core issued on this member. A token that does
// not verify counts as a failed attempt of the remote host.
func (d *etcdDoor) checkToken(remote, tok string) (identity, *wire.Error) {
	rest, ours := strings.CutPrefix(tok, etcdTokenPrefix)
	if !ours {
		return d.core.checkBearer(remote, tok)
	}
	now := time.Now()
	host := d.core.authLimiter.bucket(remote, now)
	if ok, wait := host.allow(now); !ok {
		return identity{}, wire.Errorf(wire.CodeAuthFailed, "too many failed authentication attempts; try again in %v", wait.Round(time.Millisecond))
	}
	bad := func(reason string) (identity, *wire.Error) {
		host.failed(now)
		d.core.log.Warn("authentication failed", "remote", remote, "reason", reason)
		return identity{}, wire.Errorf(wire.CodeAuthFailed, "authentication failed: %s", reason)
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return bad("malformed etcd token")
	}
	body, macHex := rest[:i], rest[i+1:]
	user64, expStr, ok := strings.Cut(body, ".")
	user, err1 := base64.RawURLEncoding.DecodeString(user64)
	exp, err2 := strconv.ParseInt(expStr, 10, 64)
	mac, err3 := hex.DecodeString(macHex)
	if !ok || err1 != nil || err2 != nil || err3 != nil {
		return bad("malformed etcd token")
	}
	st, werr := d.core.authState()
	if werr != nil {
		return identity{}, werr
	}
	u := st.Users[string(user)]
	if u == nil || len(u.Hash) == 0 || !hmac.Equal(mac, d.tokenMAC(u.Hash, body)) {
		return bad("etcd token of an unknown user, or of an old password, or forged")
	}
	expires := time.UnixMilli(exp)
	if !now.Before(expires) {
		return identity{}, wire.Errorf(wire.CodeAuthFailed, "authentication failed: the token of user %s expired; authenticate again", user)
	}
	return identity{user: string(user), hash: u.Hash, expires: expires}, nil
}

// etcdAuthCall runs the core's auth method for an etcd Auth call, as the
// call's user, and answers etcd's error values for the core's errors.
func etcdAuthCall[Req, Resp any](ctx context.Context, a *etcdAuthServer, method string, req *Req) (*Resp, error) {
	cl, err := a.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[Req, Resp](ctx, a.d, cl, method, req)
	if werr != nil {
		return nil, a.authError(ctx, cl, method, werr)
	}
	return resp, nil
}

// authError is etcd's error for what an auth method of the core answered.
// Where one core code stands for several etcd errors, the method (and
// for the two-name methods, which name the core's message starts with)
// decides.
func (a *etcdAuthServer) authError(ctx context.Context, cl *Caller, method string, werr *wire.Error) error {
	user := strings.HasPrefix(method, "user.")
	switch werr.Code {
	case wire.CodeAlreadyExists:
		if user {
			return rpctypes.ErrGRPCUserAlreadyExist
		}
		return rpctypes.ErrGRPCRoleAlreadyExist
	case wire.CodeNotFound:
		msg := werr.Message
		switch method {
		case wire.MethodUserGrantRole:
			if strings.HasPrefix(msg, "role ") {
				return rpctypes.ErrGRPCRoleNotFound
			}
			return rpctypes.ErrGRPCUserNotFound
		case wire.MethodUserRevokeRole:
			if strings.Contains(msg, "does not have role") {
				return rpctypes.ErrGRPCRoleNotGranted
			}
			return rpctypes.ErrGRPCUserNotFound
		case wire.MethodRoleRevokePermission:
			if strings.Contains(msg, "has no permission") {
				return rpctypes.ErrGRPCPermissionNotGranted
			}
			return rpctypes.ErrGRPCRoleNotFound
		}
		if user {
			return rpctypes.ErrGRPCUserNotFound
		}
		return rpctypes.ErrGRPCRoleNotFound
	case wire.CodeInvalid:
		switch {
		case method == wire.MethodAuthEnable && strings.Contains(werr.Message, "auth enable needs user"):
			// etcd says which is missing: the root user, or its root
			// role (etcdctl's auth enable then adds the role and grants
			// it, as against etcd).
			_, gerr := etcdCall[wire.UserRequest, wire.UserResponse](ctx, a.d, cl, wire.MethodUserGet, &wire.UserRequest{Name: wire.RootUser})
			if gerr != nil && gerr.Code == wire.CodeNotFound {
				return rpctypes.ErrGRPCRootUserNotExist
			}
			return rpctypes.ErrGRPCRootRoleNotExist
		case strings.Contains(werr.Message, "while auth is enabled"):
			// Deleting root, its role, or revoking it while auth is on.
			return rpctypes.ErrGRPCInvalidAuthMgmt
		}
	}
	return a.d.etcdError(cl, werr)
}

// etcdPermType is the core's permission type of etcd's.
func etcdPermType(t authpb.Permission_Type) (wire.PermType, error) {
	switch t {
	case authpb.READ:
		return wire.PermRead, nil
	case authpb.WRITE:
		return wire.PermWrite, nil
	case authpb.READWRITE:
		return wire.PermReadWrite, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "etcdserver: permission type %d: use READ (0), WRITE (1) or READWRITE (2)", t)
}

// etcdPerm is etcd's permission of the core's: ok false for a permission
// on primitive names, which etcd cannot express.
func etcdPerm(p wire.Permission) (*authpb.Permission, bool) {
	if p.Kind != "" && p.Kind != wire.KindKV {
		return nil, false
	}
	var t authpb.Permission_Type
	switch p.Type {
	case wire.PermRead:
		t = authpb.READ
	case wire.PermWrite:
		t = authpb.WRITE
	case wire.PermReadWrite:
		t = authpb.READWRITE
	default:
		return nil, false
	}
	return &authpb.Permission{PermType: t, Key: p.Key, RangeEnd: p.RangeEnd}, true
}

func (a *etcdAuthServer) AuthEnable(ctx context.Context, _ *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	resp, err := etcdAuthCall[wire.AuthRequest, wire.AuthStatusResponse](ctx, a, wire.MethodAuthEnable, &wire.AuthRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.AuthEnableResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) AuthDisable(ctx context.Context, _ *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	resp, err := etcdAuthCall[wire.AuthRequest, wire.AuthStatusResponse](ctx, a, wire.MethodAuthDisable, &wire.AuthRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.AuthDisableResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	resp, err := etcdAuthCall[wire.AuthRequest, wire.AuthStatusResponse](ctx, a, wire.MethodAuthStatus, &wire.AuthRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.AuthStatusResponse{Header: a.d.header(&resp.Header), Enabled: resp.Enabled, AuthRevision: uint64(max(resp.Revision, 0))}, nil
}

// errHashedPassword refuses etcd's hashed_password: the member hashes
// every password itself and trusts no client's hash.
var errHashedPassword = status.Error(codes.InvalidArgument, "etcdserver: a hashed password is not accepted by Coord: send the password (over TLS), the member hashes it")

func (a *etcdAuthServer) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if r.Name == "" {
		return nil, rpctypes.ErrGRPCUserEmpty
	}
	if r.HashedPassword != "" {
		return nil, errHashedPassword
	}
	req := &wire.UserRequest{Name: r.Name, Password: r.Password, NoPassword: r.Options != nil && r.Options.NoPassword}
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserAdd, req)
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserAddResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserGet, &wire.UserRequest{Name: r.Name})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserGetResponse{Header: a.d.header(&resp.Header), Roles: resp.Roles}, nil
}

func (a *etcdAuthServer) UserList(ctx context.Context, _ *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserList, &wire.UserRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserListResponse{Header: a.d.header(&resp.Header), Users: resp.Users}, nil
}

func (a *etcdAuthServer) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserDelete, &wire.UserRequest{Name: r.Name})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserDeleteResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if r.HashedPassword != "" {
		return nil, errHashedPassword
	}
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserPasswd, &wire.UserRequest{Name: r.Name, Password: r.Password})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserChangePasswordResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserGrantRole, &wire.UserRequest{Name: r.User, Role: r.Role})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserGrantRoleResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	resp, err := etcdAuthCall[wire.UserRequest, wire.UserResponse](ctx, a, wire.MethodUserRevokeRole, &wire.UserRequest{Name: r.Name, Role: r.Role})
	if err != nil {
		return nil, err
	}
	return &pb.AuthUserRevokeRoleResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	if r.Name == "" {
		return nil, rpctypes.ErrGRPCRoleEmpty
	}
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleAdd, &wire.RoleRequest{Name: r.Name})
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleAddResponse{Header: a.d.header(&resp.Header)}, nil
}

// RoleGet lists the role's permissions on keys; its permissions on
// primitive names (Coord's kinds lock, election, …) have no etcd form
// and are left out (coord role get shows them).
func (a *etcdAuthServer) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleGet, &wire.RoleRequest{Name: r.Role})
	if err != nil {
		return nil, err
	}
	out := &pb.AuthRoleGetResponse{Header: a.d.header(&resp.Header)}
	for _, p := range resp.Perms {
		if ep, ok := etcdPerm(p); ok {
			out.Perm = append(out.Perm, ep)
		}
	}
	return out, nil
}

func (a *etcdAuthServer) RoleList(ctx context.Context, _ *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleList, &wire.RoleRequest{})
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleListResponse{Header: a.d.header(&resp.Header), Roles: resp.Roles}, nil
}

func (a *etcdAuthServer) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleDelete, &wire.RoleRequest{Name: r.Role})
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleDeleteResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	if r.Perm == nil {
		return nil, rpctypes.ErrGRPCPermissionNotGiven
	}
	typ, err := etcdPermType(r.Perm.PermType)
	if err != nil {
		return nil, err
	}
	perm := &wire.Permission{Type: typ, Kind: wire.KindKV, Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd}
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleGrantPermission, &wire.RoleRequest{Name: r.Name, Perm: perm})
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleGrantPermissionResponse{Header: a.d.header(&resp.Header)}, nil
}

func (a *etcdAuthServer) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	perm := &wire.Permission{Kind: wire.KindKV, Key: r.Key, RangeEnd: r.RangeEnd}
	resp, err := etcdAuthCall[wire.RoleRequest, wire.RoleResponse](ctx, a, wire.MethodRoleRevokePermission, &wire.RoleRequest{Name: r.Role, Perm: perm})
	if err != nil {
		return nil, err
	}
	return &pb.AuthRoleRevokePermissionResponse{Header: a.d.header(&resp.Header)}, nil
}
