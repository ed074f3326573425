package server

import (
	"context"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Cluster service: MemberList, from the membership the core knows
// and the member registry (what `etcdctl member list` shows, and what
// `etcdctl endpoint status --cluster` reaches every member through).
// MemberAdd, MemberRemove and MemberPromote call the core's membership
// changes (membership.go) and answer etcd's errors (ErrMemberNotFound,
// ErrMemberExist, ErrPeerURLExist, ErrMemberNotLearner). etcd's
// MemberAdd carries no name: the member is named after its peer address
// ("m-HOST-PORT", what member list shows), and is started with that
// --name and the --node-id `coord member list -w json` shows. Members are
// found by their etcd ID (wire.EtcdMemberID of the name). MemberUpdate
// answers Unimplemented: a member's peer address is fixed (Dragonboat
// remembers it in the member's data directory).

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
		mem := &pb.Member{ID: wire.EtcdMemberID(m.Name), Name: m.Name, PeerURLs: []string{scheme + m.PeerAddr}, IsLearner: m.Learner}
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

// etcdMember is the etcd form of a member.
func (c *etcdClusterServer) etcdMember(m wire.MemberInfo) *pb.Member {
	scheme := "http://"
	if c.d.core.cfg.peerTLSEnabled() {
		scheme = "https://"
	}
	mem := &pb.Member{ID: wire.EtcdMemberID(m.Name), Name: m.Name, PeerURLs: []string{scheme + m.PeerAddr}, IsLearner: m.Learner}
	if m.EtcdURL != "" {
		mem.ClientURLs = []string{m.EtcdURL}
	}
	return mem
}

// etcdMemberName is the name of a member added through etcd's API: its
// peer address, made a name.
func etcdMemberName(peer string) string {
	return "m-" + strings.NewReplacer(":", "-", ".", "-", "[", "", "]", "").Replace(peer)
}

// memberError is etcd's error for a failed membership change.
func (c *etcdClusterServer) memberError(cl *Caller, werr *wire.Error) error {
	switch {
	case werr.Code == wire.CodeNotFound:
		return rpctypes.ErrGRPCMemberNotFound
	case werr.Code == wire.CodeNotLearner:
		return rpctypes.ErrGRPCMemberNotLearner
	case werr.Code == wire.CodeAlreadyExists && strings.HasPrefix(werr.Message, "peer address"):
		return rpctypes.ErrGRPCPeerURLExist
	case werr.Code == wire.CodeAlreadyExists:
		return rpctypes.ErrGRPCMemberExist
	}
	return c.d.etcdError(cl, werr)
}

// memberByID finds the name of the member of etcd ID id
// (ErrGRPCMemberNotFound when none has it).
func (d *etcdDoor) memberByID(ctx context.Context, cl *Caller, id uint64) (string, error) {
	st, werr := etcdCall[wire.StatusRequest, wire.StatusResponse](ctx, d, cl, wire.MethodStatus, &wire.StatusRequest{})
	if werr != nil {
		return "", d.etcdError(cl, werr)
	}
	for _, m := range st.Members {
		if wire.EtcdMemberID(m.Name) == id {
			return m.Name, nil
		}
	}
	return "", rpctypes.ErrGRPCMemberNotFound
}

func (c *etcdClusterServer) membersOf(resp *wire.MemberResponse) []*pb.Member {
	var out []*pb.Member
	for _, m := range resp.Members {
		out = append(out, c.etcdMember(m))
	}
	return out
}

// MemberAdd adds the member of the one peer URL given (scheme://host:port)
// as a learner (IsLearner: it stays one until MemberPromote; else it
// promotes itself once caught up).
func (c *etcdClusterServer) MemberAdd(ctx context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	cl, err := c.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.PeerURLs) != 1 {
		return nil, status.Errorf(codes.InvalidArgument, "a member has exactly one peer URL, got %d", len(req.PeerURLs))
	}
	u, err := url.Parse(req.PeerURLs[0])
	if err != nil || u.Host == "" {
		return nil, status.Errorf(codes.InvalidArgument, "bad peer URL %q (want http://HOST:PORT)", req.PeerURLs[0])
	}
	resp, werr := etcdCall[wire.MemberAddRequest, wire.MemberResponse](ctx, c.d, cl, wire.MethodMemberAdd,
		&wire.MemberAddRequest{Name: etcdMemberName(u.Host), PeerAddr: u.Host, Learner: req.IsLearner})
	if werr != nil {
		return nil, c.memberError(cl, werr)
	}
	return &pb.MemberAddResponse{Header: c.d.shardHeader(0, 0), Member: c.etcdMember(resp.Member), Members: c.membersOf(resp)}, nil
}

// MemberRemove removes the member of etcd ID req.ID.
func (c *etcdClusterServer) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	cl, err := c.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	name, err := c.d.memberByID(ctx, cl, req.ID)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.MemberRemoveRequest, wire.MemberResponse](ctx, c.d, cl, wire.MethodMemberRemove, &wire.MemberRemoveRequest{Name: name})
	if werr != nil {
		return nil, c.memberError(cl, werr)
	}
	return &pb.MemberRemoveResponse{Header: c.d.shardHeader(0, 0), Members: c.membersOf(resp)}, nil
}

// MemberPromote makes the learner of etcd ID req.ID a voter.
func (c *etcdClusterServer) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	cl, err := c.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	name, err := c.d.memberByID(ctx, cl, req.ID)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.MemberPromoteRequest, wire.MemberResponse](ctx, c.d, cl, wire.MethodMemberPromote, &wire.MemberPromoteRequest{Name: name})
	if werr != nil {
		return nil, c.memberError(cl, werr)
	}
	return &pb.MemberPromoteResponse{Header: c.d.shardHeader(0, 0), Members: c.membersOf(resp)}, nil
}

// MemberUpdate is refused: a member's peer address is fixed.
func (c *etcdClusterServer) MemberUpdate(context.Context, *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	return nil, status.Error(codes.Unimplemented, "a member's peer address cannot change (it is kept in its data directory): remove the member and add it again at the new address")
}
