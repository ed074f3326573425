package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/lni/dragonboat/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coord-io/coord/coord/wire"
)

// metrics are the member's Prometheus metrics, in a registry of its own
// (several members may share a process).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	badFrames prometheus.Counter
	// limitHits counts what a limit refused or cut, by limit.
	limitHits *prometheus.CounterVec
}

// Values of the limit label of coord_limit_hits_total.
const (
	limitConnections   = "connections"
	limitCalls         = "calls_per_connection"
	limitInflightBytes = "inflight_bytes_per_connection"
	limitWatches       = "watches_per_connection"
	limitIdle          = "idle_timeout"
	limitRequestRead   = "request_read_timeout"
	limitWriteTimeout  = "write_timeout"
)

func newMetrics(s *Core) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coord_requests_total", Help: "Client calls served, by method and result code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "coord_request_duration_seconds", Help: "Time to serve a client call, by method.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16),
		}, []string{"method"}),
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "coord_bad_frames_total", Help: "Client connections closed for a malformed or oversized frame.",
		}),
		limitHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "coord_limit_hits_total", Help: "Connections and calls refused, and connections closed, by a per-connection limit or timeout.",
		}, []string{"limit"}),
	}
	for _, l := range []string{limitConnections, limitCalls, limitInflightBytes, limitWatches, limitIdle, limitRequestRead, limitWriteTimeout} {
		m.limitHits.WithLabelValues(l)
	}
	m.reg.MustRegister(m.requests, m.latency, m.badFrames, m.limitHits,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "coord_ready", Help: "1 when every shard has a leader."},
			func() float64 {
				if s.Ready() {
					return 1
				}
				return 0
			}),
	)
	return m
}

func (m *metrics) observe(method string, err *wire.Error, d time.Duration) {
	code := wire.OK
	if err != nil {
		code = err.Code
	}
	if !wire.IsMethod(method) {
		method = "unknown" // a client cannot add series by inventing names
	}
	m.requests.WithLabelValues(method, code.String()).Inc()
	m.latency.WithLabelValues(method).Observe(d.Seconds())
}

// httpDoor is the HTTP door: /healthz, /readyz, /status, /metrics and
// (Config.EnablePprof) /debug/pprof on Config.ListenHTTP. Its handlers
// only call the member's methods. Goroutines: the HTTP server's own.
type httpDoor struct {
	ln  net.Listener
	srv *http.Server
}

// newHTTPDoor opens the HTTP listener of core's member.
func newHTTPDoor(core *Core) (*httpDoor, error) {
	ln, err := net.Listen("tcp", core.cfg.ListenHTTP)
	if err != nil {
		return nil, fmt.Errorf("listen-http: %w", err)
	}
	return &httpDoor{ln: ln, srv: &http.Server{Handler: httpHandler(core), ReadHeaderTimeout: 10 * time.Second}}, nil
}

// serve serves HTTP until shutdown or close.
func (d *httpDoor) serve() { _ = d.srv.Serve(d.ln) }

// addr is the listener's address.
func (d *httpDoor) addr() string { return d.ln.Addr().String() }

// shutdown stops the HTTP server, waiting for its requests until ctx ends.
func (d *httpDoor) shutdown(ctx context.Context) { _ = d.srv.Shutdown(ctx) }

// close closes the listener.
func (d *httpDoor) close() { d.ln.Close() }

func httpHandler(s *Core) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.Stopping() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			http.Error(w, "not ready: a shard has no leader", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/status", s.rootOnlyHTTP(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.status())
	}))
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", s.rootOnlyHTTP(pprof.Index))
		mux.HandleFunc("/debug/pprof/cmdline", s.rootOnlyHTTP(pprof.Cmdline))
		mux.HandleFunc("/debug/pprof/profile", s.rootOnlyHTTP(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", s.rootOnlyHTTP(pprof.Symbol))
		mux.HandleFunc("/debug/pprof/trace", s.rootOnlyHTTP(pprof.Trace))
	}
	prom := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{DisableCompression: true})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		// Coord's metrics, then Dragonboat's Raft-layer metrics.
		var raft bytes.Buffer
		dragonboat.WriteHealthMetrics(&raft)
		rec := &bufferedWriter{ResponseWriter: w}
		prom.ServeHTTP(rec, r)
		_, _ = w.Write(rec.buf.Bytes())
		_, _ = w.Write(raft.Bytes())
	})
	return mux
}

// rootOnlyHTTP serves h to root only while auth is on: credentials come
// as HTTP Basic (user:password) or "Authorization: Bearer TOKEN" (a token
// of auth.authenticate from this member). Without valid credentials the
// answer is 401, for a user other than root 403. /healthz, /readyz and
// /metrics stay open (scrapers and probes).
func (s *Core) rootOnlyHTTP(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, werr := s.authState()
		if werr != nil {
			http.Error(w, werr.Message, http.StatusServiceUnavailable)
			return
		}
		if !st.Enabled {
			h(w, r)
			return
		}
		var id identity
		werr = wire.Errorf(wire.CodeAuthFailed, "auth is enabled: give root's credentials (HTTP Basic, or Authorization: Bearer TOKEN)")
		if user, pw, ok := r.BasicAuth(); ok {
			id, werr = s.checkPassword(r.RemoteAddr, nil, user, pw)
		} else if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			id, werr = s.checkBearer(r.RemoteAddr, tok)
		}
		if werr != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="coord"`)
			http.Error(w, werr.Message, http.StatusUnauthorized)
			return
		}
		if !st.IsRoot(id.user) {
			http.Error(w, fmt.Sprintf("permission denied: user %s may not read %s (root only)", id.user, r.URL.Path), http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// bufferedWriter captures a handler's body so more can be appended.
type bufferedWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (b *bufferedWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
