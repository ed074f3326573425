package server

import (
	"context"
	"errors"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// What every etcd service shares: the Caller of a call, the one way into
// the core (etcdCall), and the translations of headers, key-values and
// errors between the core's wire types and etcd's.

// caller is who makes an etcd call: the connection (from its context,
// etcdConn) and the user, from etcd's token metadata (a token of
// Auth.Authenticate, "token" from clientv3, "authorization" from the
// gateway) or, with ClientCertAuth and no token, the verified client
// certificate's common name. Tokens are checked only while auth is on (as
// etcd ignores them otherwise). etcd clients have no exactly-once tag:
// ClientID 0, and their writes are not de-duplicated.
func (d *etcdDoor) caller(ctx context.Context) (*Caller, error) {
	cl := d.connCaller(ctx)
	if tok := etcdToken(ctx); tok != "" {
		if d.core.authEnabled() {
			id, werr := d.checkToken(cl.Remote, tok)
			if werr != nil {
				d.core.log.Debug("etcd door: token refused", "remote", cl.Remote, "err", werr.Message)
				return nil, rpctypes.ErrGRPCInvalidAuthToken
			}
			cl.User, cl.ident = id.user, &id
		}
		return cl, nil
	}
	if cn := d.certName(etcdConnOf(ctx)); cn != "" {
		cl.User, cl.ident = cn, &identity{user: cn, cert: true}
	}
	return cl, nil
}

// connCaller is the Caller of a call on its connection, without a user.
func (d *etcdDoor) connCaller(ctx context.Context) *Caller {
	cl := &Caller{Received: time.Now()}
	if ec := etcdConnOf(ctx); ec != nil {
		cl.Conn, cl.Remote, cl.streams, cl.authFails = ec.id, ec.remote, &ec.streams, ec.authFails
	} else if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		cl.Remote = p.Addr.String()
	}
	return cl
}

// etcdToken is the auth token a call carries, "" for none.
// (ValueFromIncomingContext: FromIncomingContext would copy all of the
// call's metadata.)
func etcdToken(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, rpctypes.TokenFieldNameGRPC); len(v) > 0 && v[0] != "" {
		return v[0]
	}
	if v := metadata.ValueFromIncomingContext(ctx, rpctypes.TokenFieldNameSwagger); len(v) > 0 {
		return strings.TrimPrefix(v[0], "Bearer ")
	}
	return ""
}

// certName is the common name of the connection's verified client
// certificate when Config.ClientCertAuth makes it the user, else "".
func (d *etcdDoor) certName(ec *etcdConn) string {
	if !d.core.cfg.ClientCertAuth || ec == nil || ec.tls == nil {
		return ""
	}
	cs := ec.tls.ConnectionState()
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}

// etcdNoStream is the Sender of a unary call.
type etcdNoStream struct{}

func (etcdNoStream) Send(any) error {
	return errors.New("etcd door: a unary call sends no intermediate message")
}

// etcdCall runs one call of the core: method with req (copied into the
// handler's request), as cl, under the call's deadline capped at
// maxCallTimeout. It is the etcd door's only way into the core.
func etcdCall[Req, Resp any](ctx context.Context, d *etcdDoor, cl *Caller, method string, req *Req) (*Resp, *wire.Error) {
	callerCtx := ctx
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > maxCallTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, maxCallTimeout, errCallCap)
		defer cancel()
	}
	body, werr := d.core.Call(ctx, cl, method, func(dst any) *wire.Error {
		p, ok := dst.(*Req)
		if !ok {
			return wire.Errorf(wire.CodeUnknown, "etcd door: %s takes a %T, not a %T", method, dst, req)
		}
		*p = *req
		return nil
	}, etcdNoStream{})
	if werr != nil {
		// The caller's own deadline ended the call: gRPC's answer is
		// DeadlineExceeded (what clientv3 reports when its deadline fires
		// first), not etcd's "request timed out" (etcdError).
		cl.deadlineExceeded = errors.Is(callerCtx.Err(), context.DeadlineExceeded)
		return nil, werr
	}
	resp, ok := body.(*Resp)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnknown, "etcd door: %s answered a %T", method, body)
	}
	return resp, nil
}

// etcdError is the gRPC status error etcd answers for werr: etcd's own
// (rpctypes) where there is one, so that clientv3 returns its usual
// error values (ErrCompacted, ErrPermissionDenied, …), else a status
// with Coord's message.
func (d *etcdDoor) etcdError(cl *Caller, werr *wire.Error) error {
	if werr == nil {
		return nil
	}
	d.core.log.Debug("etcd door: call failed", "remote", cl.Remote, "user", cl.User, "code", werr.Code, "err", werr.Message)
	if cl.deadlineExceeded && (werr.Code == wire.CodeTimeout || werr.Code == wire.CodeCanceled) {
		return status.Error(codes.DeadlineExceeded, werr.Message)
	}
	switch werr.Code {
	case wire.CodeCompacted:
		return rpctypes.ErrGRPCCompacted
	case wire.CodeFutureRevision:
		return rpctypes.ErrGRPCFutureRev
	case wire.CodeLeaseNotFound:
		return rpctypes.ErrGRPCLeaseNotFound
	case wire.CodeTooLarge:
		return rpctypes.ErrGRPCRequestTooLarge
	case wire.CodePermissionDenied:
		if cl.User == "" && d.core.authEnabled() {
			return rpctypes.ErrGRPCUserEmpty
		}
		return rpctypes.ErrGRPCPermissionDenied
	case wire.CodeAuthFailed:
		// The call's token or user is no longer valid: clientv3
		// authenticates again and retries.
		return rpctypes.ErrGRPCInvalidAuthToken
	case wire.CodeTimeout:
		return rpctypes.ErrGRPCTimeout
	case wire.CodeCanceled:
		return rpctypes.ErrGRPCCanceled
	case wire.CodeNoSpace:
		return rpctypes.ErrGRPCNoSpace
	}
	return status.Error(etcdCode(werr.Code), werr.Error())
}

// etcdCode is the gRPC code of an error etcd has no value for.
func etcdCode(c wire.Code) codes.Code {
	switch c {
	case wire.CodeInvalid, wire.CodeCrossShardTxn:
		return codes.InvalidArgument
	case wire.CodeNotFound:
		return codes.NotFound
	case wire.CodeWrongShard, wire.CodeClusterMismatch, wire.CodeLocked, wire.CodeNotLeader,
		wire.CodeNotHolder, wire.CodeEmpty, wire.CodeNotOwner:
		return codes.FailedPrecondition
	case wire.CodeAlreadyExists:
		return codes.AlreadyExists
	case wire.CodeUnavailable:
		return codes.Unavailable
	case wire.CodeUnimplemented:
		return codes.Unimplemented
	case wire.CodeCanceled:
		return codes.Canceled
	case wire.CodeTimeout:
		return codes.DeadlineExceeded
	}
	return codes.Unknown
}

// header is the etcd header of a response of the core: the cluster's
// identity, this member's ID, the revision (with several shards merged,
// the highest of theirs) and the Raft term (shard 0's when merged).
func (d *etcdDoor) header(h *wire.ResponseHeader) *pb.ResponseHeader {
	rev, term := h.Revision, h.RaftTerm
	if h.Shard == wire.AllShards {
		for _, r := range h.Revisions {
			rev = max(rev, r)
		}
	}
	if term == 0 {
		_, term = d.core.leader(0)
	}
	return &pb.ResponseHeader{ClusterId: d.core.ClusterID(), MemberId: d.memberID, Revision: rev, RaftTerm: term}
}

// shardHeader is the etcd header of what one shard answered outside a
// handler's response (status, member list).
func (d *etcdDoor) shardHeader(shard uint32, rev int64) *pb.ResponseHeader {
	h := &wire.ResponseHeader{Shard: shard, Revision: rev}
	d.core.fillHeader(h, shard)
	return d.header(h)
}

// etcdKV is a key-value of the core as etcd's.
func etcdKV(kv *wire.KeyValue) *mvccpb.KeyValue {
	if kv == nil {
		return nil
	}
	return &mvccpb.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision,
		ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease}
}

func etcdKVs(kvs []*wire.KeyValue) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = etcdKV(kv)
	}
	return out
}
