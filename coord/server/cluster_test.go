package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
)

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// testCluster is an in-process cluster of members on loopback.
type testCluster struct {
	t       testing.TB
	cfgs    []Config
	servers []*Server
}

// newTestCluster starts n members; each option may change every member's
// configuration before it starts (cfg.Name tells which member it is).
func newTestCluster(t testing.TB, n, shards int, opts ...func(*Config)) *testCluster {
	t.Helper()
	// A port picked by freeAddr may be taken by another test process
	// before the member binds it: start again on fresh ports then.
	for attempt := 1; ; attempt++ {
		tc, err := tryTestCluster(t, n, shards, opts...)
		if err == nil {
			tc.waitReady()
			t.Cleanup(tc.stopAll)
			return tc
		}
		if attempt == 5 || !strings.Contains(err.Error(), "address already in use") {
			require.NoError(t, err)
		}
		t.Logf("retrying cluster start on new ports: %v", err)
	}
}

func tryTestCluster(t testing.TB, n, shards int, opts ...func(*Config)) (*testCluster, error) {
	tc := &testCluster{t: t}
	var parts []string
	dir := t.TempDir()
	logLevel := slog.LevelWarn
	if os.Getenv("COORD_TEST_DEBUG") != "" {
		logLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	for i := 0; i < n; i++ {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = fmt.Sprintf("%s/%s", dir, cfg.Name)
		cfg.ListenClient = freeAddr(t)
		cfg.ListenPeer = freeAddr(t)
		cfg.ListenHTTP = "127.0.0.1:0" // nothing needs it stable
		cfg.Shards = shards
		cfg.Logger = log
		parts = append(parts, cfg.Name+"="+cfg.ListenPeer)
		tc.cfgs = append(tc.cfgs, cfg)
	}
	for i := range tc.cfgs {
		tc.cfgs[i].InitialCluster = strings.Join(parts, ",")
		for _, o := range opts {
			o(&tc.cfgs[i])
		}
	}
	tc.servers = make([]*Server, n)
	for i := range tc.cfgs {
		s, err := Start(tc.cfgs[i])
		if err != nil {
			tc.stopAll()
			return nil, err
		}
		tc.servers[i] = s
	}
	return tc, nil
}

func (tc *testCluster) start(i int) {
	tc.t.Helper()
	s, err := Start(tc.cfgs[i])
	require.NoError(tc.t, err)
	tc.servers[i] = s
}

func (tc *testCluster) stop(i int) {
	if s := tc.servers[i]; s != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
		tc.servers[i] = nil
	}
}

func (tc *testCluster) stopAll() {
	for i := range tc.servers {
		tc.stop(i)
	}
}

func (tc *testCluster) waitReady() {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range tc.servers {
		if s != nil {
			require.NoError(tc.t, s.WaitReady(ctx))
		}
	}
}

func (tc *testCluster) endpoints() []string {
	var eps []string
	for _, c := range tc.cfgs {
		eps = append(eps, c.ListenClient)
	}
	return eps
}

func (tc *testCluster) client(eps ...string) *coord.Client {
	tc.t.Helper()
	if len(eps) == 0 {
		eps = tc.endpoints()
	}
	c, err := coord.New(coord.Config{Endpoints: eps, DialTimeout: time.Second})
	require.NoError(tc.t, err)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
