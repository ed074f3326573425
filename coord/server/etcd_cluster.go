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
// and the member registry (what `etcdctl member list` shows, and what
// `etcdctl endpoint status --cluster` reaches every member through).
// Membership changes (MemberAdd, MemberRemove, MemberUpdate,
// MemberPromote) answer Unimplemented.

var etcdClusterService = etcdService{name: "Cluster", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdClusterServer{d: d}
	pb.RegisterClusterServer(gs, s)
	return gw.RegisterClusterHandlerServer(context.Background(), mux, s)
}}

type etcdClusterServer struct {
	pb.UnimplementedClusterServer
	d *etcdDoor
}

// MemberList lists the members with etcd IDs (wire.EtcdMemberID of
// their names), peer URLs and, as client URL, each member's etcd door
// URL as the member published it to the member registry (members.go;
// the status call carries it): a member that has not published yet, or
// serves no etcd door, has none (the member answering always gives its
// own).
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
		mem := &pb.Member{ID: wire.EtcdMemberID(m.Name), Name: m.Name, PeerURLs: []string{scheme + m.PeerAddr}}
		switch {
		case m.Name == c.d.core.cfg.Name:
			mem.ClientURLs = []string{c.d.url()}
		case m.EtcdURL != "":
			mem.ClientURLs = []string{m.EtcdURL}
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
