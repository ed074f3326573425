package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coord-io/coord/coord/wire"
)

// etcd's Lease service: Grant, Revoke, TimeToLive and Leases as calls of
// the core's lease methods, and the KeepAlive stream, each request of
// which is one lease.keepalive call answered by one response with the
// lease's TTL (0 for a lease that no longer exists, as etcd).
//
// Leases are granted in shard 0 (with several shards, a key of another
// shard cannot be attached to one; see the README). Coord assigns lease
// IDs itself: a grant that asks for an ID is refused.
//
// Goroutines: a KeepAlive stream's handler reads the requests and runs
// each renewal in a goroutine of its own (at most
// etcdKeepAliveInFlight at once), answering through one send lock;
// all end before the handler returns.

var etcdLeaseService = etcdService{name: "Lease", register: func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error {
	s := &etcdLeaseServer{d: d}
	pb.RegisterLeaseServer(gs, s)
	// Every lease path, /v3/lease/keepalive (a stream) included, through
	// a client of s (etcd_gateway.go).
	return registerGatewayLease(mux, s)
}}

// etcdKeepAliveInFlight bounds the renewals one KeepAlive stream has in
// flight.
const etcdKeepAliveInFlight = 64

// errLeaseIDChosen refuses a grant that names the lease ID.
var errLeaseIDChosen = status.Error(codes.InvalidArgument,
	"Coord assigns lease IDs itself and cannot grant a lease with a chosen ID: grant with ID 0 and use the ID in the response")

type etcdLeaseServer struct {
	pb.UnimplementedLeaseServer
	d *etcdDoor
}

func (l *etcdLeaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.ID != 0 {
		return nil, errLeaseIDChosen
	}
	if r.TTL > int64(l.d.core.cfg.MaxLeaseTTL/time.Second) {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	// etcd raises a short TTL to its minimum; so does the core, from 1.
	resp, werr := etcdCall[wire.LeaseGrantRequest, wire.LeaseGrantResponse](ctx, l.d, cl, wire.MethodLeaseGrant,
		&wire.LeaseGrantRequest{TTL: max(r.TTL, 1)})
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	return &pb.LeaseGrantResponse{Header: l.d.header(&resp.Header), ID: resp.ID, TTL: resp.TTL}, nil
}

func (l *etcdLeaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.LeaseRevokeRequest, wire.LeaseRevokeResponse](ctx, l.d, cl, wire.MethodLeaseRevoke,
		&wire.LeaseRevokeRequest{ID: r.ID})
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	return &pb.LeaseRevokeResponse{Header: l.d.header(&resp.Header)}, nil
}

func (l *etcdLeaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.LeaseTimeToLiveRequest, wire.LeaseTimeToLiveResponse](ctx, l.d, cl, wire.MethodLeaseTimeToLive,
		&wire.LeaseTimeToLiveRequest{ID: r.ID, Keys: r.Keys})
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	out := &pb.LeaseTimeToLiveResponse{ID: r.ID, TTL: resp.TTL, GrantedTTL: resp.GrantedTTL, Keys: resp.Keys}
	if resp.TTL < 0 {
		// etcd: a lease that does not exist has TTL -1 and an empty header.
		out.Header = &pb.ResponseHeader{}
		return out, nil
	}
	out.Header = l.d.header(&resp.Header)
	return out, nil
}

func (l *etcdLeaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	cl, err := l.d.caller(ctx)
	if err != nil {
		return nil, err
	}
	resp, werr := etcdCall[wire.LeaseLeasesRequest, wire.LeaseLeasesResponse](ctx, l.d, cl, wire.MethodLeaseLeases, &wire.LeaseLeasesRequest{})
	if werr != nil {
		return nil, l.d.etcdError(cl, werr)
	}
	out := &pb.LeaseLeasesResponse{Header: l.d.header(&resp.Header)}
	for _, ls := range resp.Leases {
		out.Leases = append(out.Leases, &pb.LeaseStatus{ID: ls.ID})
	}
	return out, nil
}

// LeaseKeepAlive renews a lease per request and answers each with its
// TTL; a renewal that fails (not for a missing lease) ends the stream
// with its error, as etcd's.
func (l *etcdLeaseServer) LeaseKeepAlive(srv pb.Lease_LeaseKeepAliveServer) error {
	cl, err := l.d.caller(srv.Context())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()
	var (
		wg     sync.WaitGroup
		sendMu sync.Mutex
		failed = make(chan error, 1)
		slots  = make(chan struct{}, etcdKeepAliveInFlight)
	)
	defer wg.Wait()
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
		cancel()
	}
	reqs := make(chan *pb.LeaseKeepAliveRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := srv.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		var r *pb.LeaseKeepAliveRequest
		select {
		case r = <-reqs:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case ferr := <-failed:
			return ferr
		}
		select {
		case slots <- struct{}{}:
		case ferr := <-failed:
			return ferr
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			defer func() { <-slots }()
			resp, werr := etcdCall[wire.LeaseKeepAliveRequest, wire.LeaseKeepAliveResponse](ctx, l.d, cl, wire.MethodLeaseKeepAlive,
				&wire.LeaseKeepAliveRequest{IDs: []int64{id}})
			out := &pb.LeaseKeepAliveResponse{ID: id}
			switch {
			case werr != nil && werr.Code == wire.CodeLeaseNotFound:
				out.Header = &pb.ResponseHeader{ClusterId: l.d.core.ClusterID(), MemberId: l.d.memberID}
			case werr != nil:
				fail(l.d.etcdError(cl, werr))
				return
			default:
				out.Header = l.d.header(&resp.Header)
				if len(resp.TTLs) == 1 {
					out.TTL = resp.TTLs[0]
				}
			}
			sendMu.Lock()
			err := srv.Send(out)
			sendMu.Unlock()
			if err != nil {
				fail(err)
			}
		}(r.ID)
	}
}
