package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Auth service: Authenticate, the core's auth.authenticate (a
// token valid on this member only, as etcd's simple tokens), which
// clients then send as the "token" metadata of every call (etcdDoor.caller).
// The auth store's management calls (users, roles, enable, …) answer
// Unimplemented until a later slice maps them.

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
	return &pb.AuthenticateResponse{Header: a.d.header(&resp.Header), Token: resp.Token}, nil
}
