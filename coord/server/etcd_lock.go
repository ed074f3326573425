package server

import (
	"bytes"
	"context"
	"errors"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb"
	electiongw "go.etcd.io/etcd/server/v3/etcdserver/api/v3election/v3electionpb/gw"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb"
	lockgw "go.etcd.io/etcd/server/v3/etcdserver/api/v3lock/v3lockpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/election"
	"github.com/coord-io/coord/locks"
)

// etcd's v3lock (Lock, Unlock) and v3election (Campaign, Proclaim,
// Resign, Leader, Observe) services, backed by Coord's FIFO locks and
// elections: a Lock or a Campaign is one call of the core (one write that
// queues the owner, the hand-off in the state machine), where etcd's own
// server runs clientv3's concurrency recipes (several round trips).
//
// The etcd name (bytes) is the lock's or election's name: any name Coord
// accepts ('/' included; '{' and '}' are refused, InvalidArgument). The
// key a Lock or a Campaign answers is the owner key the core created
// ("\x00coord/lock/{NAME}/o/…"): it exists, attached to the lease, while
// the owner holds (or waits), so code that reads or watches it works as
// with etcd's keys; Unlock(key) releases it, and deleting it through KV is
// refused (reserved keyspace): use Unlock, Resign or revoke the lease.
//
// Waiting: etcd clients cannot resume a wait, so a Lock or a Campaign
// waits without the server's cap on call duration, as long as the call
// lives, and a call that ends before the grant — its context cancelled by
// the client, its deadline passed, or its connection closed — withdraws
// the waiter (as etcd's own server does: its Mutex.Lock deletes its key
// when its context ends). Only a member that stops leaves the waiter to
// its lease.

var etcdLockService = etcdService{name: "Lock", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdLockServer{d: d}
	v3lockpb.RegisterLockServer(gs, s)
	return lockgw.RegisterLockHandlerServer(context.Background(), mux, s)
}}

var etcdElectionService = etcdService{name: "Election", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdElectionServer{d: d}
	v3electionpb.RegisterElectionServer(gs, s)
	return electiongw.RegisterElectionHandlerServer(context.Background(), mux, s)
}}

// etcdWaitCall runs one waiting call of the core (Lock, Campaign,
// Observe): as etcdCall, with out receiving the call's intermediate
// messages, and without the server's cap on call duration. The call's
// context ends with the cause the core's waits read: the caller's
// deadline (context.DeadlineExceeded) or, for any other end of the call
// (the client's cancel, its connection closing), errCallCancelled, so
// that the core withdraws the waiter — etcd clients do not resume.
func etcdWaitCall[Req, Resp any](ctx context.Context, d *etcdDoor, cl *Caller, method string, req *Req, out Sender) (*Resp, *wire.Error) {
	wctx, cancel := etcdWaitContext(ctx)
	defer cancel()
	body, werr := d.core.Call(wctx, cl, method, func(dst any) *wire.Error {
		p, ok := dst.(*Req)
		if !ok {
			return wire.Errorf(wire.CodeUnknown, "etcd door: %s takes a %T, not a %T", method, dst, req)
		}
		*p = *req
		return nil
	}, out)
	if werr != nil {
		return nil, werr
	}
	if body == nil {
		return nil, nil
	}
	resp, ok := body.(*Resp)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknown, "etcd door: %s answered a %T", method, body)
	}
	return resp, nil
}

// etcdWaitContext is the context of a waiting call of the etcd door (see
// etcdWaitCall): ctx's values and deadline, and an end with a cause.
func etcdWaitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancelCause(context.DeadlineExceeded)
			return
		}
		cancelCause(errCallCancelled)
	})
	cancelDeadline := context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		wctx, cancelDeadline = context.WithDeadline(wctx, dl)
	}
	return wctx, func() {
		stop()
		cancelDeadline()
		cancelCause(nil)
	}
}

// etcdSendFunc is a Sender that hands each intermediate message to send.
type etcdSendFunc func(msg any) error

func (f etcdSendFunc) Send(msg any) error { return f(msg) }

// etcdIgnoreQueued is the Sender of a Lock or a Campaign: the message
// that tells a native client its waiter is queued means nothing to an
// etcd client.
var etcdIgnoreQueued = etcdSendFunc(func(any) error { return nil })

type etcdLockServer struct {
	v3lockpb.UnimplementedLockServer
	d *etcdDoor
}

// Lock acquires lock r.Name for lease r.Lease, waiting in FIFO order, and
// answers the owner key, which exists while the lock is held.
func (l *etcdLockServer) Lock(ctx context.Context, r *v3lockpb.LockRequest) (*v3lockpb.LockResponse, error) {
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdWaitCall[wire.LockRequest, wire.LockResponse](ctx, l.d, cl, wire.MethodLock,
		&wire.LockRequest{Name: string(r.Name), Lease: r.Lease}, etcdIgnoreQueued)
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	return &v3lockpb.LockResponse{Header: l.d.header(&resp.Header), Key: resp.Key}, nil
}

// Unlock releases the lock held (or waited for) through owner key r.Key:
// the lock's name is in the key, the lease is the key's (read through the
// core). A key that does not exist (any more) is a success, as etcd's
// delete of it is; a key that is no lock owner key is InvalidArgument.
func (l *etcdLockServer) Unlock(ctx context.Context, r *v3lockpb.UnlockRequest) (*v3lockpb.UnlockResponse, error) {
	name, ok := locks.OwnerName(locks.Root, r.Key)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unlock: %q is not a lock key (Lock answers the key to unlock)", r.Key)
	}
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	kv, h, werr := l.d.ownerRecord(ctx, cl, r.Key)
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	if kv == nil {
		return &v3lockpb.UnlockResponse{Header: h}, nil
	}
	resp, werr := etcdCall[wire.UnlockRequest, wire.UnlockResponse](ctx, l.d, cl, wire.MethodUnlock,
		&wire.UnlockRequest{Name: name, Key: r.Key, Lease: kv.Lease})
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	return &v3lockpb.UnlockResponse{Header: l.d.header(&resp.Header)}, nil
}

// ownerRecord reads owner key key through the core: its record (nil if
// it does not exist) and the etcd header of the read.
func (d *etcdDoor) ownerRecord(ctx context.Context, cl *Caller, key []byte) (*wire.KeyValue, *pb.ResponseHeader, *wire.Error) {
	resp, werr := etcdCall[wire.RangeRequest, wire.RangeResponse](ctx, d, cl, wire.MethodRange, &wire.RangeRequest{Key: key})
	if werr != nil {
		return nil, nil, werr
	}
	h := d.header(&resp.Header)
	if len(resp.Kvs) == 0 {
		return nil, h, nil
	}
	return resp.Kvs[0], h, nil
}

type etcdElectionServer struct {
	v3electionpb.UnimplementedElectionServer
	d *etcdDoor
}

// etcd's election errors (go.etcd.io/etcd/client/v3/concurrency), as
// etcd's server answers them: status code Unknown with their message.
var (
	errEtcdElectionNoLeader  = status.Error(codes.Unknown, "election: no leader")
	errEtcdElectionNotLeader = status.Error(codes.Unknown, "election: not leader")
	errEtcdMissingLeaderKey  = status.Error(codes.Unknown, `"leader" field must be provided`)
)

// Campaign waits until the caller leads election r.Name with r.Value, in
// FIFO order; the leader key's Rev is the term (the revision at which it
// became leader, a fencing token).
func (e *etcdElectionServer) Campaign(ctx context.Context, r *v3electionpb.CampaignRequest) (*v3electionpb.CampaignResponse, error) {
	cl, err := e.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdWaitCall[wire.CampaignRequest, wire.LeaderResponse](ctx, e.d, cl, wire.MethodCampaign,
		&wire.CampaignRequest{Name: string(r.Name), Lease: r.Lease, Value: r.Value}, etcdIgnoreQueued)
	if werr != nil {
		return nil, e.d.etcdError(cl, werr)
	}
	return &v3electionpb.CampaignResponse{Header: e.d.header(&resp.Header), Leader: &v3electionpb.LeaderKey{
		Name: r.Name, Key: resp.Key, Rev: resp.Term, Lease: r.Lease}}, nil
}

// Proclaim changes the leader's value; the caller must be the leader.
func (e *etcdElectionServer) Proclaim(ctx context.Context, r *v3electionpb.ProclaimRequest) (*v3electionpb.ProclaimResponse, error) {
	if r.Leader == nil {
		return nil, errEtcdMissingLeaderKey
	}
	cl, err := e.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.ProclaimRequest, wire.LeaderResponse](ctx, e.d, cl, wire.MethodProclaim,
		&wire.ProclaimRequest{Name: string(r.Leader.Name), Key: r.Leader.Key, Value: r.Value, Lease: r.Leader.Lease})
	if werr != nil {
		if werr.Code == wire.CodeNotLeader || werr.Code == wire.CodeNotFound {
			return nil, errEtcdElectionNotLeader
		}
		return nil, e.d.etcdError(cl, werr)
	}
	return &v3electionpb.ProclaimResponse{Header: e.d.header(&resp.Header)}, nil
}

// Resign leaves the election (leader or candidate); a key that is no
// candidate any more is a success that changes nothing.
func (e *etcdElectionServer) Resign(ctx context.Context, r *v3electionpb.ResignRequest) (*v3electionpb.ResignResponse, error) {
	if r.Leader == nil {
		return nil, errEtcdMissingLeaderKey
	}
	cl, err := e.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.ResignRequest, wire.LeaderResponse](ctx, e.d, cl, wire.MethodResign,
		&wire.ResignRequest{Name: string(r.Leader.Name), Key: r.Leader.Key, Lease: r.Leader.Lease})
	if werr != nil {
		return nil, e.d.etcdError(cl, werr)
	}
	return &v3electionpb.ResignResponse{Header: e.d.header(&resp.Header)}, nil
}

// Leader answers the current leader of r.Name ("election: no leader" if
// none): its key, value and lease, with the term as create revision.
func (e *etcdElectionServer) Leader(ctx context.Context, r *v3electionpb.LeaderRequest) (*v3electionpb.LeaderResponse, error) {
	cl, err := e.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.LeaderRequest, wire.LeaderResponse](ctx, e.d, cl, wire.MethodLeader, &wire.LeaderRequest{Name: string(r.Name)})
	if werr != nil {
		if werr.Code == wire.CodeNotFound {
			return nil, errEtcdElectionNoLeader
		}
		return nil, e.d.etcdError(cl, werr)
	}
	return &v3electionpb.LeaderResponse{Header: e.d.header(&resp.Header), Kv: etcdLeaderKV(resp)}, nil
}

// Observe streams the leader of r.Name: the current one, if any, then
// every change of leader or value; while nobody leads nothing is sent,
// as with etcd. A proclaim of the value the leader already has is not
// shown (etcd shows it).
func (e *etcdElectionServer) Observe(r *v3electionpb.LeaderRequest, stream v3electionpb.Election_ObserveServer) error {
	ctx := stream.Context()
	if err := election.ValidateName(string(r.Name)); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	cl, err := e.d.caller(ctx)
	if err != nil {
		return err
	}
	var last *wire.LeaderResponse
	send := etcdSendFunc(func(msg any) error {
		lr, ok := msg.(*wire.LeaderResponse)
		if !ok {
			return errors.New("etcd door: observe sent a message that is no leader")
		}
		if len(lr.Key) == 0 {
			last = nil
			return nil // nobody leads
		}
		// The leader record also changes when candidates queue behind
		// the leader: etcd's Observe shows changes of leader or value.
		if last != nil && bytes.Equal(last.Key, lr.Key) && bytes.Equal(last.Value, lr.Value) && last.Term == lr.Term {
			return nil
		}
		last = lr
		return stream.Send(&v3electionpb.LeaderResponse{Header: e.d.header(&lr.Header), Kv: etcdLeaderKV(lr)})
	})
	_, werr := etcdWaitCall[wire.LeaderRequest, wire.LeaderResponse](ctx, e.d, cl, wire.MethodLeader,
		&wire.LeaderRequest{Name: string(r.Name), Observe: true}, send)
	if werr != nil {
		return e.d.etcdError(cl, werr)
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return nil
}

// etcdLeaderKV is a leader as etcd's election answers it: the leader's
// key and value, its lease, and its term as create revision; the mod
// revision is the revision of the answer (the last change of the leader
// record for Observe).
func etcdLeaderKV(lr *wire.LeaderResponse) *mvccpb.KeyValue {
	mod := lr.Header.Revision
	if mod < lr.Term {
		mod = lr.Term
	}
	return &mvccpb.KeyValue{Key: lr.Key, Value: lr.Value, Lease: lr.Lease, CreateRevision: lr.Term, ModRevision: mod, Version: 1}
}
