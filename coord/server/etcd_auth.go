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
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Auth service: Authenticate checks the password with the core's
// auth.authenticate and answers an etcd token, which clients then send
// as the "token" metadata of every call (etcdDoor.caller). The auth
// store's management calls (users, roles, enable, …) answer
// Unimplemented until a later slice maps them.
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
