package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/coord-io/coord/coord/wire"
)

// The etcd door: etcd's v3 API (gRPC, etcd's generated types from
// go.etcd.io/etcd/api/v3) and etcd's JSON gateway on one listener
// (Config.ListenEtcd), as etcd serves both on 2379. It is one more door
// of the member core: every call becomes a Core.Call (etcd_call.go) with
// a Caller built from the connection and etcd's token metadata, the etcd
// request translated into the core's wire request and the answer back;
// no handler logic lives here.
//
// Without TLS, the port's connections are split by their first bytes
// (etcd_split.go, as etcd does with cmux): HTTP/2 with prior knowledge —
// what gRPC clients speak without TLS — goes to the gRPC server's own
// transport (grpc.Server.Serve), anything else to an http.Server with the
// gateway mux, whose handlers call the services' methods in process
// (gw.RegisterXHandlerServer: no loopback connection). So, as with etcd,
// plaintext HTTP/2 is gRPC only; the gateway speaks HTTP/1.
//
// With the client port's TLS (Config.TLSCertFile, ClientCertAuth) the
// door speaks TLS with the same settings, and one http.Server serves
// everything after the handshake: a request whose content type is
// application/grpc goes to the gRPC server (grpc.Server.ServeHTTP), any
// other to the gateway. Which of the two an "h2" connection carries is
// only known from its requests, so TLS connections are not split (etcd
// too serves both through its HTTP handler with TLS); ServeHTTP is slower
// than grpc.Server.Serve (see the README's measurements).
//
// Services: each is one file (etcd_kv.go, etcd_maintenance.go, …) that
// defines an etcdService and one line in etcdServices registers it.
//
// Goroutines: the splitter's (without TLS), the gRPC server's and the
// http.Server's (one per connection, one per request or stream). Stop
// closes the listener, drains both servers under the member's stop
// deadline (GracefulStop and Shutdown side by side), then stops what is
// left.

// etcdAPIVersion is the etcd version the door reports (Status, /version):
// the API it implements, so that etcd's tools accept it.
const etcdAPIVersion = "3.6.0"

// etcdGRPCOverhead is what a gRPC request may carry beyond the largest
// request the member takes (etcd's own allowance).
const etcdGRPCOverhead = 512 << 10

// etcdStreamWorkers is the number of goroutines the door's gRPC server
// keeps for its calls.
const etcdStreamWorkers = 256

// etcdWindow is the HTTP/2 flow-control window of the door's gRPC
// connections and of each stream on them.
const etcdWindow = 4 << 20

// etcdService is one etcd service: how it registers on the gRPC server
// and on the gateway mux.
type etcdService struct {
	name     string
	register func(d *etcdDoor, gs *grpc.Server, mux *runtime.ServeMux) error
}

// etcdServices are the services the etcd door serves: a new service is a
// file defining an etcdService and one line here.
var etcdServices = []etcdService{
	etcdKVService,
	etcdMaintenanceService,
	etcdClusterService,
	etcdWatchService,
	etcdLeaseService,
	etcdAuthService,
	etcdLockService,
	etcdElectionService,
}

// etcdDoor is the etcd-compatible door of one member.
type etcdDoor struct {
	core     *Core
	ln       net.Listener
	tls      bool
	grpc     *grpc.Server
	gw       *runtime.ServeMux
	srv      *http.Server
	split    *connSplitter // nil with TLS
	memberID uint64
	served   chan struct{} // closed when serve returns
	// gwStreams counts the handlers of the gateway's streams
	// (etcd_gateway.go), which stop waits for.
	gwStreams sync.WaitGroup
}

// etcdMemberID is the etcd member ID of the member named name: a hash of
// the name, the same on every member (etcd's IDs are random; Coord's
// member names are unique in a cluster and fixed).
func etcdMemberID(name string) uint64 { return wire.EtcdMemberID(name) }

// newEtcdDoor opens the etcd listener of core's member and registers the
// services.
func newEtcdDoor(core *Core) (*etcdDoor, error) {
	tlsCfg, err := core.cfg.serverTLSConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", core.cfg.ListenEtcd)
	if err != nil {
		return nil, fmt.Errorf("listen-etcd: %w", err)
	}
	d := &etcdDoor{core: core, ln: ln, tls: tlsCfg != nil, memberID: etcdMemberID(core.cfg.Name), served: make(chan struct{})}
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(core.cfg.MaxRequestSize + etcdGRPCOverhead),
		grpc.MaxSendMsgSize(math.MaxInt32),
		// What the HTTP/2 server allows (ServeHTTP ignores these).
		grpc.MaxConcurrentStreams(uint32(maxCallsPerConn)),
		// clientv3's keep-alive pings (every 10 s at most, also
		// without calls) are welcome, as etcd's 5 s minimum allows.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ForceServerCodecV2(newEtcdCodec()),
		// Calls run on goroutines whose stacks have grown already
		// (a new goroutine per call grows its stack on every call);
		// beyond these, a call gets a new goroutine.
		grpc.NumStreamWorkers(etcdStreamWorkers),
		// Fixed flow-control windows: with the default dynamic ones the
		// server sends a BDP ping and a window update about once per
		// round trip on a busy connection, which both sides then
		// process. What a stream may have in flight stays bounded (by
		// less than the dynamic windows' 16 MiB limit).
		grpc.InitialWindowSize(etcdWindow),
		grpc.InitialConnWindowSize(etcdWindow),
	}
	if t := core.cfg.RequestReadTimeout; t > 0 {
		opts = append(opts, grpc.ConnectionTimeout(t))
	}
	if t := core.cfg.IdleTimeout; t > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: t}))
	}
	d.grpc = grpc.NewServer(opts...)
	// etcd's gateway marshaling: proto field names, no zero values.
	d.gw = runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		},
	}))
	for _, svc := range etcdServices {
		if err := svc.register(d, d.grpc, d.gw); err != nil {
			ln.Close()
			return nil, fmt.Errorf("etcd door: register %s: %w", svc.name, err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/version", d.version)
	mux.HandleFunc("/health", d.health)
	mux.Handle("/", boundGatewayBodies(d.gw, gatewayRequestLimit(core.cfg.MaxRequestSize)))
	var protos http.Protocols
	protos.SetHTTP1(true)
	d.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				d.grpc.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		}),
		Protocols:         &protos,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxCallsPerConn},
		ReadHeaderTimeout: core.cfg.RequestReadTimeout,
		IdleTimeout:       core.cfg.IdleTimeout,
		ConnContext:       d.connContext,
		ErrorLog:          slog.NewLogLogger(core.log.Handler(), slog.LevelDebug),
	}
	if tlsCfg != nil {
		protos.SetHTTP2(true)
		tc := tlsCfg.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		d.srv.TLSConfig = tc
		d.ln = tls.NewListener(ln, tc)
	} else {
		d.split = newConnSplitter(ln, core.cfg.RequestReadTimeout, core.log)
		d.split.wrap = d.wrapConn
	}
	return d, nil
}

// addr is the listener's address.
func (d *etcdDoor) addr() string { return d.ln.Addr().String() }

// url is the door's client URL, as etcd's member list gives it.
func (d *etcdDoor) url() string {
	if d.tls {
		return "https://" + d.addr()
	}
	return "http://" + d.addr()
}

// serve serves until stop.
func (d *etcdDoor) serve() {
	defer close(d.served)
	if d.split == nil {
		d.serveHTTP(d.ln)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// Serve returns nil after Stop, an error when the splitter
		// closed its listener first (the door is stopping then too).
		err := d.grpc.Serve(d.split.grpc)
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			d.core.log.Error("etcd door stopped serving gRPC", "err", err)
		}
	}()
	go func() { defer wg.Done(); d.serveHTTP(d.split.http) }()
	d.split.run()
	wg.Wait()
}

func (d *etcdDoor) serveHTTP(ln net.Listener) {
	if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		d.core.log.Error("etcd door stopped serving", "err", err)
	}
}

// stop closes the listener, lets the calls in flight finish until ctx
// ends, then cuts them off.
func (d *etcdDoor) stop(ctx context.Context) {
	drained := make(chan struct{})
	if d.split != nil {
		d.ln.Close() // the splitter's; Shutdown closes the TLS listener
		go func() { d.grpc.GracefulStop(); close(drained) }()
	} else {
		close(drained) // ServeHTTP's streams drain with the http.Server
	}
	if err := d.srv.Shutdown(ctx); err != nil {
		d.core.log.Debug("etcd door: calls cut off at stop", "err", err)
	}
	select {
	case <-drained:
	case <-ctx.Done():
		d.core.log.Debug("etcd door: gRPC calls cut off at stop", "err", context.Cause(ctx))
	}
	d.grpc.Stop()
	<-drained
	_ = d.srv.Close()
	d.gwStreams.Wait() // their requests' contexts ended with the server
	<-d.served
}

// closeListener stops a door that never served (a failed start).
func (d *etcdDoor) closeListener() { d.ln.Close() }

// etcdConn is what the door knows of one client connection: the calls
// on it carry it in their context (ConnContext).
type etcdConn struct {
	id        uint64
	remote    string
	tls       *tls.Conn // nil without TLS
	streams   atomic.Int32
	authFails *authBucket
}

type etcdConnKey struct{}

func newEtcdConn(c net.Conn) *etcdConn {
	ec := &etcdConn{id: connIDs.Add(1), remote: c.RemoteAddr().String(), authFails: newAuthBucket(time.Now())}
	if tc, ok := c.(*tls.Conn); ok {
		ec.tls = tc
	}
	return ec
}

// connContext gives the http.Server's requests their etcdConn: the one
// wrapConn made, or with TLS a new one.
func (d *etcdDoor) connContext(ctx context.Context, c net.Conn) context.Context {
	var ec *etcdConn
	if ac, ok := c.(*etcdAddrConn); ok {
		ec = ac.addr.conn
	} else {
		ec = newEtcdConn(c)
	}
	return context.WithValue(ctx, etcdConnKey{}, ec)
}

// wrapConn gives a split connection its etcdConn. grpc.Server.Serve has no
// per-connection context (its stats handler's TagConn would add work to
// every call), but each call's context has the peer's address, which is
// the connection's RemoteAddr: the etcdConn rides on it (etcdAddr).
func (d *etcdDoor) wrapConn(c *sniffedConn) net.Conn {
	return &etcdAddrConn{sniffedConn: c, addr: &etcdAddr{Addr: c.RemoteAddr(), conn: newEtcdConn(c)}}
}

// etcdAddrConn is a split connection whose RemoteAddr carries its etcdConn.
type etcdAddrConn struct {
	*sniffedConn
	addr *etcdAddr
}

func (c *etcdAddrConn) RemoteAddr() net.Addr { return c.addr }

// etcdAddr is a client's address with the door's etcdConn.
type etcdAddr struct {
	net.Addr
	conn *etcdConn
}

// etcdConnOf is the etcdConn of a call: from its context (http.Server) or
// its peer's address (grpc.Server.Serve).
func etcdConnOf(ctx context.Context) *etcdConn {
	if ec, ok := ctx.Value(etcdConnKey{}).(*etcdConn); ok {
		return ec
	}
	if p, ok := peer.FromContext(ctx); ok {
		if a, ok := p.Addr.(*etcdAddr); ok {
			return a.conn
		}
	}
	return nil
}

// version answers etcd's /version.
func (d *etcdDoor) version(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"etcdserver":%q,"etcdcluster":%q}`, etcdAPIVersion, etcdAPIVersion)
}

// health answers etcd's /health: whether the member is ready.
func (d *etcdDoor) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if !d.core.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"health":"false","reason":"member not ready"}`)
		return
	}
	fmt.Fprint(w, `{"health":"true","reason":""}`)
}
