package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The gateway's streaming calls, /v3/watch and /v3/lease/keepalive.
//
// grpc-gateway's in-process registration (RegisterXHandlerServer) cannot
// serve streams; its client registration (RegisterXHandlerClient) can,
// given a client of the service. etcd gives it a gRPC connection to its
// own port; the door gives it gatewayWatch and gatewayLease, clients
// that run the service's own handler in process over a gatewayStream —
// so a gateway call keeps its HTTP connection's etcdConn (limits, auth
// failures) and its token (the gateway's Authorization header, as
// metadata), as the unary calls do.
//
// What the gateway streams is etcd's: newline-delimited JSON, one
// {"result":{...}} per response, {"error":{...}} when the call fails. The
// request body is read as a stream of JSON requests; when it ends the
// handler sees the client's half-close (io.EOF), after which a watch
// stream keeps sending events until the HTTP client goes (as etcd's), and
// a keep-alive stream answers the requests it got, then ends.
//
// Goroutines: each gateway call runs the service's handler on a goroutine
// of its own (the gateway's handler goroutine reads responses; one more,
// the gateway's, reads the request body); the handler returns when the
// request's context ends at the latest (the gateway cancels it when it
// stops reading), and the door's stop waits for every one (gwStreams).

// registerGatewayWatch serves /v3/watch with s.
func registerGatewayWatch(mux *runtime.ServeMux, s *etcdWatchServer) error {
	return gw.RegisterWatchHandlerClient(context.Background(), mux, gatewayWatch{s})
}

// registerGatewayLease serves the lease calls, /v3/lease/keepalive
// included, with s. (It replaces the mux's in-process lease handlers:
// the mux takes the last registration of a path.)
func registerGatewayLease(mux *runtime.ServeMux, s *etcdLeaseServer) error {
	return gw.RegisterLeaseHandlerClient(context.Background(), mux, gatewayLease{s})
}

// serverContext turns the gateway's outgoing call context (its metadata:
// the Authorization header) into the handler's incoming one.
func serverContext(ctx context.Context) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	return metadata.NewIncomingContext(ctx, md)
}

type gatewayWatch struct{ s *etcdWatchServer }

func (g gatewayWatch) Watch(ctx context.Context, _ ...grpc.CallOption) (pb.Watch_WatchClient, error) {
	st := startGatewayStream[pb.WatchRequest, pb.WatchResponse](ctx, &g.s.d.gwStreams, func(ss *gatewayServerStream[pb.WatchRequest, pb.WatchResponse]) error {
		return g.s.Watch(ss)
	})
	return st, nil
}

type gatewayLease struct{ s *etcdLeaseServer }

func (g gatewayLease) LeaseGrant(ctx context.Context, in *pb.LeaseGrantRequest, _ ...grpc.CallOption) (*pb.LeaseGrantResponse, error) {
	return g.s.LeaseGrant(serverContext(ctx), in)
}

func (g gatewayLease) LeaseRevoke(ctx context.Context, in *pb.LeaseRevokeRequest, _ ...grpc.CallOption) (*pb.LeaseRevokeResponse, error) {
	return g.s.LeaseRevoke(serverContext(ctx), in)
}

func (g gatewayLease) LeaseTimeToLive(ctx context.Context, in *pb.LeaseTimeToLiveRequest, _ ...grpc.CallOption) (*pb.LeaseTimeToLiveResponse, error) {
	return g.s.LeaseTimeToLive(serverContext(ctx), in)
}

func (g gatewayLease) LeaseLeases(ctx context.Context, in *pb.LeaseLeasesRequest, _ ...grpc.CallOption) (*pb.LeaseLeasesResponse, error) {
	return g.s.LeaseLeases(serverContext(ctx), in)
}

func (g gatewayLease) LeaseKeepAlive(ctx context.Context, _ ...grpc.CallOption) (pb.Lease_LeaseKeepAliveClient, error) {
	st := startGatewayStream[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse](ctx, &g.s.d.gwStreams, func(ss *gatewayServerStream[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
		return g.s.LeaseKeepAlive(ss)
	})
	return st, nil
}

// gatewayStream is an in-process bidirectional stream: the gateway holds
// its client side (Send, CloseSend, Recv), the service's handler its
// server side (gatewayServerStream). Messages pass unbuffered, so a
// response the handler sent has been taken before the handler returns.
type gatewayStream[Req, Resp any] struct {
	ctx        context.Context // the handler's: the request's, with incoming metadata
	reqs       chan *Req
	resps      chan *Resp
	sendClosed chan struct{}
	closeOnce  sync.Once
	done       chan struct{} // closed when the handler has returned
	err        error         // the handler's error, set before done closes
}

func startGatewayStream[Req, Resp any](ctx context.Context, wg *sync.WaitGroup, handler func(*gatewayServerStream[Req, Resp]) error) *gatewayStream[Req, Resp] {
	st := &gatewayStream[Req, Resp]{
		ctx:        serverContext(ctx),
		reqs:       make(chan *Req),
		resps:      make(chan *Resp),
		sendClosed: make(chan struct{}),
		done:       make(chan struct{}),
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(st.done)
		st.err = handler(&gatewayServerStream[Req, Resp]{st})
	}()
	return st
}

// canceled is the error of a stream whose context ended: InvalidArgument
// when a request was too large (boundGatewayBodies), else the context's.
func (st *gatewayStream[Req, Resp]) canceled() error {
	if st.tooLarge() {
		return status.Error(codes.InvalidArgument, errGatewayTooLarge.Error())
	}
	return status.FromContextError(st.ctx.Err()).Err()
}

// tooLarge reports whether the stream's context ended on a request over
// the gateway's limit.
func (st *gatewayStream[Req, Resp]) tooLarge() bool {
	return errors.Is(context.Cause(st.ctx), errGatewayTooLarge)
}

func (st *gatewayStream[Req, Resp]) Send(r *Req) error {
	select {
	case st.reqs <- r:
		return nil
	case <-st.done:
		return io.EOF // as gRPC: the error is Recv's
	case <-st.ctx.Done():
		return st.canceled()
	}
}

func (st *gatewayStream[Req, Resp]) Recv() (*Resp, error) {
	select {
	case r := <-st.resps:
		return r, nil
	case <-st.done:
		if st.err != nil {
			return nil, st.err
		}
		if st.tooLarge() {
			return nil, st.canceled() // the handler ended on it (watch: as on a client that went)
		}
		return nil, io.EOF
	}
}

func (st *gatewayStream[Req, Resp]) CloseSend() error {
	st.closeOnce.Do(func() { close(st.sendClosed) })
	return nil
}

func (st *gatewayStream[Req, Resp]) Header() (metadata.MD, error) { return metadata.MD{}, nil }
func (st *gatewayStream[Req, Resp]) Trailer() metadata.MD         { return nil }
func (st *gatewayStream[Req, Resp]) Context() context.Context     { return st.ctx }

func (st *gatewayStream[Req, Resp]) SendMsg(m any) error {
	r, ok := m.(*Req)
	if !ok {
		return status.Errorf(codes.Internal, "gateway stream: unexpected request %T", m)
	}
	return st.Send(r)
}

func (st *gatewayStream[Req, Resp]) RecvMsg(m any) error {
	return status.Error(codes.Unimplemented, "gateway stream: RecvMsg (use Recv)")
}

// gatewayServerStream is the handler's side of a gatewayStream.
type gatewayServerStream[Req, Resp any] struct{ st *gatewayStream[Req, Resp] }

func (s *gatewayServerStream[Req, Resp]) Send(r *Resp) error {
	select {
	case s.st.resps <- r:
		return nil
	case <-s.st.ctx.Done():
		return s.st.canceled()
	}
}

func (s *gatewayServerStream[Req, Resp]) Recv() (*Req, error) {
	select {
	case r := <-s.st.reqs:
		return r, nil
	case <-s.st.sendClosed:
		return nil, io.EOF
	case <-s.st.ctx.Done():
		return nil, s.st.canceled()
	}
}

func (s *gatewayServerStream[Req, Resp]) Context() context.Context     { return s.st.ctx }
func (s *gatewayServerStream[Req, Resp]) SetHeader(metadata.MD) error  { return nil }
func (s *gatewayServerStream[Req, Resp]) SendHeader(metadata.MD) error { return nil }
func (s *gatewayServerStream[Req, Resp]) SetTrailer(metadata.MD)       {}

func (s *gatewayServerStream[Req, Resp]) SendMsg(m any) error {
	r, ok := m.(*Resp)
	if !ok {
		return status.Errorf(codes.Internal, "gateway stream: unexpected response %T", m)
	}
	return s.Send(r)
}

func (s *gatewayServerStream[Req, Resp]) RecvMsg(m any) error {
	return status.Error(codes.Unimplemented, "gateway stream: RecvMsg (use Recv)")
}

// gatewayRequestLimit is how many bytes of JSON one gateway request may
// take: a request of maxRequest bytes in base64 with its field names, and
// the gRPC door's allowance beyond that.
func gatewayRequestLimit(maxRequest int) int { return 2*maxRequest + etcdGRPCOverhead }

// errGatewayTooLarge is what the gateway's JSON decoder reads once a
// request passes its limit; the gateway answers it as InvalidArgument
// with this text (etcd's ErrRequestTooLarge's, at the gRPC door).
var errGatewayTooLarge = errors.New("etcdserver: request is too large")

// gatewayStreamPaths are the gateway's streaming calls.
var gatewayStreamPaths = map[string]bool{"/v3/watch": true, "/v3/lease/keepalive": true}

// boundGatewayBodies bounds the JSON the gateway reads per request: a
// unary call's body is one request, a stream's body (watch, keep-alive)
// many, each bounded, so that a long stream of small requests lives on.
// The gateway decodes a request whole before the door sees it, so without
// a bound one POST could hold memory as large as its body.
func boundGatewayBodies(next http.Handler, limit int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil {
			next.ServeHTTP(w, r)
			return
		}
		if gatewayStreamPaths[r.URL.Path] {
			// A stream answers while its requests still arrive: over
			// HTTP/1 Go's server stops reading a body once a response
			// is flushed unless the handler asks for both at once.
			_ = http.NewResponseController(w).EnableFullDuplex()
		}
		// A stream's gateway drops a request it cannot decode and reads
		// no more; ending the call's context with the cause ends the
		// stream with that error (gatewayStream.canceled).
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		r.Body = &jsonValueLimiter{body: r.Body, limit: limit, tripped: func() { cancel(errGatewayTooLarge) }}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// jsonValueLimiter reads a body of JSON values and fails once one value
// (a top-level object, array or string; bytes outside them count toward
// the next) has taken more than limit bytes.
type jsonValueLimiter struct {
	body     io.ReadCloser
	limit    int
	n        int // bytes of the current value so far
	depth    int
	inString bool
	escaped  bool
	err      error
	tripped  func() // called once, when a value passes the limit
}

func (l *jsonValueLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	k, err := l.body.Read(p)
	for i, c := range p[:k] {
		l.n++
		if l.n > l.limit {
			l.err = errGatewayTooLarge
			l.tripped()
			return i, l.err
		}
		switch {
		case l.inString:
			switch {
			case l.escaped:
				l.escaped = false
			case c == '\\':
				l.escaped = true
			case c == '"':
				l.inString = false
				if l.depth == 0 {
					l.n = 0
				}
			}
		case c == '"':
			l.inString = true
		case c == '{' || c == '[':
			l.depth++
		case (c == '}' || c == ']') && l.depth > 0:
			l.depth--
			if l.depth == 0 {
				l.n = 0
			}
		}
	}
	return k, err
}

func (l *jsonValueLimiter) Close() error { return l.body.Close() }
