package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Cluster service: MemberList, from the membership the core knows
// (what `etcdctl member list` shows). Membership changes (MemberAdd,
// MemberRemove, MemberUpdate, MemberPromote) answer Unimplemented.

var etcdClusterService = etcdService{name: "Cluster", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdClusterServer{d: d}
	pb.RegisterClusterServer(gs, s)
	return gw.RegisterClusterHandlerServer(context.Background(), mux, s)
}}

type etcdClusterServer struct {
	pb.UnimplementedClusterServer
	d *etcdDoor
}

// MemberList lists the members with etcd IDs (etcdMemberID of their
// names), peer URLs and, for the member answering, its etcd door's URL
// as client URL (a member does not know the other members' etcd
// addresses yet).
func (c *etcdClusterServer) MemberList(ctx context.Context, _ *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	cl, err := c.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	st, werr := etcdCall[wire.StatusRequest, wire.StatusResponse](ctx, c.d, cl, wire.MethodStatus, &wire.StatusRequest{})
	if werr != nil {
		return nil, c.d.etcdError(cl, werr)
	}
	scheme := "http://"
	if c.d.core.cfg.peerTLSEnabled() {
		scheme = "https://"
	}
	out := &pb.MemberListResponse{}
	for _, m := range st.Members {
		mem := &pb.Member{ID: etcdMemberID(m.Name), Name: m.Name, PeerURLs: []string{scheme + m.PeerAddr}}
		if m.Name == c.d.core.cfg.Name {
			mem.ClientURLs = []string{c.d.url()}
		}
		out.Members = append(out.Members, mem)
	}
	var rev int64
	for _, sh := range st.Shards {
		rev = max(rev, sh.Revision)
	}
	out.Header = c.d.shardHeader(0, rev)
	return out, nil
}
