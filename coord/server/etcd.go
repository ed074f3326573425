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
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
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
// One http.Server serves the port: a request whose content type is
// application/grpc goes to the gRPC server (grpc.Server.ServeHTTP), any
// other to the gateway mux, whose handlers call the services' methods in
// process (gw.RegisterXHandlerServer: no loopback connection). Plaintext
// HTTP/2 (what gRPC clients speak without TLS) is net/http's own
// unencrypted HTTP/2; with the client port's TLS (Config.TLSCertFile,
// ClientCertAuth) the door speaks TLS with the same settings.
//
// Services: each is one file (etcd_kv.go, etcd_maintenance.go, …) that
// defines an etcdService and one line in etcdServices registers it.
//
// Goroutines: the http.Server's (one per connection, one per request);
// Stop shuts it down under the member's stop deadline, then stops the
// gRPC server (GracefulStop is not available with ServeHTTP: Shutdown
// drains instead) and closes what is left.

// etcdAPIVersion is the etcd version the door reports (Status, /version):
// the API it implements, so that etcd's tools accept it.
const etcdAPIVersion = "3.6.0"

// etcdGRPCOverhead is what a gRPC request may carry beyond the largest
// request the member takes (etcd's own allowance).
const etcdGRPCOverhead = 512 << 10

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
	memberID uint64
	served   chan struct{} // closed when serve returns
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
	d.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(core.cfg.MaxRequestSize+etcdGRPCOverhead),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
	)
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
	mux.Handle("/", d.gw)
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(tlsCfg == nil)
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
		tc := tlsCfg.Clone()
		tc.NextProtos = []string{"h2", "http/1.1"}
		d.srv.TLSConfig = tc
		d.ln = tls.NewListener(ln, tc)
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
	if err := d.srv.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.core.log.Error("etcd door stopped serving", "err", err)
	}
}

// stop closes the listener, lets the calls in flight finish until ctx
// ends, then cuts them off.
func (d *etcdDoor) stop(ctx context.Context) {
	if err := d.srv.Shutdown(ctx); err != nil {
		d.core.log.Debug("etcd door: calls cut off at stop", "err", err)
	}
	d.grpc.Stop()
	_ = d.srv.Close()
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

func (d *etcdDoor) connContext(ctx context.Context, c net.Conn) context.Context {
	ec := &etcdConn{id: connIDs.Add(1), remote: c.RemoteAddr().String(), authFails: newAuthBucket(time.Now())}
	if tc, ok := c.(*tls.Conn); ok {
		ec.tls = tc
	}
	return context.WithValue(ctx, etcdConnKey{}, ec)
}

func etcdConnOf(ctx context.Context) *etcdConn {
	ec, _ := ctx.Value(etcdConnKey{}).(*etcdConn)
	return ec
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
