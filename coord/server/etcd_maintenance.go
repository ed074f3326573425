package server

import (
	"context"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Maintenance service: Status, from the core's status (what
// `etcdctl endpoint status` shows). The other calls (Alarm, Defragment,
// Hash, HashKV, Snapshot, MoveLeader, Downgrade) answer Unimplemented.

var etcdMaintenanceService = etcdService{name: "Maintenance", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdMaintenanceServer{d: d}
	pb.RegisterMaintenanceServer(gs, s)
	return gw.RegisterMaintenanceHandlerServer(context.Background(), mux, s)
}}

type etcdMaintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	d *etcdDoor
}

// Status reports the member as etcd does: etcd's API version, the size
// of its store, and shard 0's leader, Raft term and applied index (with
// several shards, shard 0 stands for the Raft fields; the header's
// revision is the highest of the shards').
func (m *etcdMaintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	st, werr := etcdCall[wire.StatusRequest, wire.StatusResponse](ctx, m.d, cl, wire.MethodStatus, &wire.StatusRequest{})
	if werr != nil {
		return nil, m.d.etcdError(cl, werr)
	}
	out := &pb.StatusResponse{Version: etcdAPIVersion, StorageVersion: etcdAPIVersion, DbSize: st.DBSize, DbSizeInUse: st.DBSize}
	var rev int64
	for _, sh := range st.Shards {
		rev = max(rev, sh.Revision)
	}
	if len(st.Shards) > 0 {
		sh := st.Shards[0]
		out.RaftIndex, out.RaftAppliedIndex, out.RaftTerm = sh.AppliedIndex, sh.AppliedIndex, sh.Term
		if sh.Leader != "" {
			out.Leader = etcdMemberID(sh.Leader)
		} else {
			out.Errors = append(out.Errors, "etcdserver: no leader")
		}
	}
	out.Header = m.d.shardHeader(0, rev)
	return out, nil
}
