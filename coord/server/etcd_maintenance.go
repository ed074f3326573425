package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Maintenance service: Status, from the core's status (what
// `etcdctl endpoint status` shows, with the raised alarms in Errors as
// etcd lists them); Alarm (list, raise, disarm: the core's replicated
// alarms, quota.go); HashKV (a
// hash of the keyspace at a revision, read through the core from the
// answering member's replica, so members' hashes compare as etcd's do);
// Defragment (the core's defrag: a compaction of the member's Pebble
// files); Hash (the core's hash of the member's whole store); MoveLeader
// (the core's move-leader: the target member leads every shard).
// Snapshot streams a Coord backup (see Snapshot). Downgrade answers
// Unimplemented.

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
	if len(st.Shards) > 0 {
		sh := st.Shards[0]
		out.RaftIndex, out.RaftAppliedIndex, out.RaftTerm = sh.AppliedIndex, sh.AppliedIndex, sh.Term
		if sh.Leader != "" {
			out.Leader = etcdMemberID(sh.Leader)
		} else {
			out.Errors = append(out.Errors, "etcdserver: no leader")
		}
	}
	for _, al := range st.Alarms {
		out.Errors = append(out.Errors, fmt.Sprintf("memberID:%d alarm:%s", etcdMemberID(al.Member), al.Type))
	}
	out.Header = m.d.shardHeader(0, statusRevision(st))
	return out, nil
}

// Alarm lists, raises or disarms alarms through the core's
// maintenance.alarm (replicated to every shard): an etcd member ID is
// the ID the etcd door gives a member's name (MemberList); ACTIVATE with
// member ID 0 raises the alarm for the answering member, DEACTIVATE with
// 0 disarms the alarms of every member (and with alarm NONE, of every
// type), which clientv3's AlarmDisarm also does by listing first.
func (m *etcdMaintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	req := &wire.AlarmRequest{Type: wire.AlarmType(r.Alarm)}
	switch r.Action {
	case pb.AlarmRequest_GET:
		req.Action = wire.AlarmGet
	case pb.AlarmRequest_ACTIVATE:
		req.Action = wire.AlarmActivate
	case pb.AlarmRequest_DEACTIVATE:
		req.Action = wire.AlarmDeactivate
	default:
		return nil, status.Errorf(codes.InvalidArgument, "alarm: unknown action %v", r.Action)
	}
	if r.Action != pb.AlarmRequest_GET && r.MemberID != 0 {
		name, ok := m.memberName(r.MemberID)
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "alarm: no member has ID %x (etcdctl member list shows them)", r.MemberID)
		}
		req.Member = name
	}
	resp, werr := etcdCall[wire.AlarmRequest, wire.AlarmResponse](ctx, m.d, cl, wire.MethodAlarm, req)
	if werr != nil {
		return nil, m.d.etcdError(cl, werr)
	}
	out := &pb.AlarmResponse{Header: m.d.shardHeader(0, resp.Header.Revision)}
	for _, al := range resp.Alarms {
		out.Alarms = append(out.Alarms, &pb.AlarmMember{MemberID: etcdMemberID(al.Member), Alarm: pb.AlarmType(al.Type)})
	}
	return out, nil
}

// memberName returns the name of the member whose etcd member ID is id.
func (m *etcdMaintenanceServer) memberName(id uint64) (string, bool) {
	if id == etcdMemberID(m.d.core.cfg.Name) {
		return m.d.core.cfg.Name, true
	}
	if ms, err := m.d.core.cfg.members(); err == nil {
		for _, mb := range ms {
			if etcdMemberID(mb.Name) == id {
				return mb.Name, true
			}
		}
	}
	for _, r := range m.d.core.MemberRecords() {
		if etcdMemberID(r.Name) == id {
			return r.Name, true
		}
	}
	return "", false
}

// Defragment compacts the answering member's store files (the core's
// maintenance.defrag), as etcd defragments its backend.
func (m *etcdMaintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	if _, werr := etcdCall[wire.DefragRequest, wire.DefragResponse](ctx, m.d, cl, wire.MethodDefrag, &wire.DefragRequest{}); werr != nil {
		return nil, m.d.etcdError(cl, werr)
	}
	st, werr := etcdCall[wire.StatusRequest, wire.StatusResponse](ctx, m.d, cl, wire.MethodStatus, &wire.StatusRequest{})
	if werr != nil {
		return nil, m.d.etcdError(cl, werr)
	}
	return &pb.DefragmentResponse{Header: m.d.shardHeader(0, statusRevision(st))}, nil
}

// etcdHashPage is the number of keys HashKV reads per range call.
const etcdHashPage = 1000

// HashKV hashes the keyspace (the reserved keys of locks, elections and
// the other primitives too) as this member's replica has it at
// r.Revision (0: its current revision), with etcd's CRC-32C over each
// key's key, value, revisions, version and lease in key order: two
// members that agree on the state answer the same hash for the same
// revision. It is not etcd's hash (which covers the history kept since
// the last compaction), so compare Coord's members with each other, not
// with an etcd's. With several shards (each with its own revisions) it
// answers FailedPrecondition.
func (m *etcdMaintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	if m.d.core.Shards() > 1 {
		return nil, status.Errorf(codes.FailedPrecondition, "hashkv: a revision is one shard's; this cluster has %d shards", m.d.core.Shards())
	}
	if r.Revision < 0 {
		return nil, status.Error(codes.InvalidArgument, "hashkv: negative revision")
	}
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	rev, key := r.Revision, []byte{0}
	var header *wire.ResponseHeader
	for {
		resp, werr := etcdCall[wire.RangeRequest, wire.RangeResponse](ctx, m.d, cl, wire.MethodRange,
			&wire.RangeRequest{Key: key, RangeEnd: []byte{0}, Revision: rev, Limit: etcdHashPage, Serializable: true, MaxBytes: int64(m.d.core.cfg.MaxRequestSize)})
		if werr != nil {
			return nil, m.d.etcdError(cl, werr)
		}
		if header == nil {
			header = &resp.Header
			if rev == 0 {
				rev = resp.Header.Revision
			}
		}
		var b []byte
		for _, kv := range resp.Kvs {
			b = binary.BigEndian.AppendUint32(b[:0], uint32(len(kv.Key)))
			b = append(b, kv.Key...)
			b = binary.BigEndian.AppendUint32(b, uint32(len(kv.Value)))
			b = append(b, kv.Value...)
			for _, v := range []int64{kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease} {
				b = binary.BigEndian.AppendUint64(b, uint64(v))
			}
			h.Write(b)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = append(append([]byte(nil), resp.Kvs[len(resp.Kvs)-1].Key...), 0)
	}
	out := &pb.HashKVResponse{Header: m.d.header(header), Hash: h.Sum32(), HashRevision: rev}
	if st, werr := etcdCall[wire.StatusRequest, wire.StatusResponse](ctx, m.d, cl, wire.MethodStatus, &wire.StatusRequest{}); werr == nil && len(st.Shards) > 0 {
		out.CompactRevision = st.Shards[0].CompactRevision
	}
	return out, nil
}

// Hash is the core's hash of this member's whole store (wire.MethodHash:
// every shard's persisted keys, values and records, root's only while
// auth is on), folded to etcd's 32 bits: members that applied the same
// log agree, as etcd's do when no writes are going on. The header's
// revision is the one hashed (with several shards, the highest).
func (m *etcdMaintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.HashRequest, wire.HashResponse](ctx, m.d, cl, wire.MethodHash, &wire.HashRequest{})
	if werr != nil {
		return nil, m.d.etcdError(cl, werr)
	}
	var rev int64
	if len(resp.Revisions) > 0 {
		rev = slices.Max(resp.Revisions)
	}
	return &pb.HashResponse{Header: m.d.shardHeader(0, rev), Hash: uint32(resp.Hash>>32) ^ uint32(resp.Hash)}, nil
}

// Snapshot streams a backup of every shard from this member: the same
// bytes as `coord snapshot save` (wire.MethodSnapshot; root's only while
// auth is on), which end, as etcd's do, with a SHA-256 of the rest at a
// file size of 32 modulo 512: `etcdctl snapshot save FILE` checks that
// and keeps the file, which `coord snapshot status` and `coord snapshot
// restore` then read (etcdutl cannot: it is no bolt database).
// RemainingBytes is 0: the size is known only at the end.
func (m *etcdMaintenanceServer) Snapshot(_ *pb.SnapshotRequest, srv pb.Maintenance_SnapshotServer) error {
	ctx := srv.Context()
	cl, err := m.d.caller(ctx)
	if err != nil {
		return err
	}
	first := true
	_, werr := etcdWaitCall[wire.SnapshotRequest, wire.SnapshotResponse](ctx, m.d, cl, wire.MethodSnapshot, &wire.SnapshotRequest{},
		etcdSendFunc(func(msg any) error {
			r, ok := msg.(*wire.SnapshotResponse)
			if !ok {
				return fmt.Errorf("etcd door: snapshot sent a %T", msg)
			}
			out := &pb.SnapshotResponse{Blob: r.Blob}
			if first {
				out.Header, out.Version = m.d.shardHeader(0, 0), etcdAPIVersion
				first = false
			}
			return srv.Send(out)
		}))
	return m.d.etcdError(cl, werr)
}

// MoveLeader makes the voting member of etcd ID TargetID the leader of
// every shard (wire.MethodMemberMoveLeader), waiting until it leads them
// all. Unlike etcd's, any member takes the call, not only the leader. A
// member that is unknown or a learner is etcd's ErrBadLeaderTransferee;
// a transfer not finished by the call's deadline, ErrTimeout.
func (m *etcdMaintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	cl, err := m.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	name, err := m.d.memberByID(ctx, cl, r.TargetID)
	if errors.Is(err, rpctypes.ErrGRPCMemberNotFound) {
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	}
	if err != nil {
		return nil, err
	}
	_, werr := etcdCall[wire.MemberMoveLeaderRequest, wire.MemberResponse](ctx, m.d, cl, wire.MethodMemberMoveLeader, &wire.MemberMoveLeaderRequest{Name: name})
	if werr != nil {
		if werr.Code == wire.CodeNotFound || werr.Code == wire.CodeInvalid {
			return nil, rpctypes.ErrGRPCBadLeaderTransferee
		}
		return nil, m.d.etcdError(cl, werr)
	}
	return &pb.MoveLeaderResponse{Header: m.d.shardHeader(0, 0)}, nil
}

// Downgrade does not apply: Coord's etcd door has no storage version to
// downgrade.
func (m *etcdMaintenanceServer) Downgrade(context.Context, *pb.DowngradeRequest) (*pb.DowngradeResponse, error) {
	return nil, status.Error(codes.Unimplemented, "downgrade: Coord's etcd door has no etcd storage version to downgrade")
}

// statusRevision is the highest revision of the shards in st.
func statusRevision(st *wire.StatusResponse) int64 {
	var rev int64
	for _, sh := range st.Shards {
		rev = max(rev, sh.Revision)
	}
	return rev
}
