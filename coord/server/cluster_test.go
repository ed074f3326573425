package server

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
)

// testCluster is the in-process cluster fixture (LocalCluster) bound to a
// test: its helpers fail the test instead of returning errors.
type testCluster struct {
	*LocalCluster
	t testing.TB
}

// newTestCluster starts n members; each option may change every member's
// configuration before it starts (cfg.Name tells which member it is).
func newTestCluster(t testing.TB, n, shards int, opts ...func(*Config)) *testCluster {
	t.Helper()
	logLevel := slog.LevelWarn
	if os.Getenv("COORD_TEST_DEBUG") != "" {
		logLevel = slog.LevelDebug
	}
	lc, err := StartLocalCluster(context.Background(), LocalClusterConfig{
		Members:      n,
		Shards:       shards,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  5 * time.Second,
		Configure: func(cfg *Config) {
			for _, o := range opts {
				o(cfg)
			}
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lc.Close() })
	return &testCluster{LocalCluster: lc, t: t}
}

// start starts member i again (after stop) with its configuration, as
// changed by change.
func (tc *testCluster) start(i int, change ...func(*Config)) {
	tc.t.Helper()
	require.NoError(tc.t, tc.Restart(i, change...))
}

func (tc *testCluster) stop(i int) { _ = tc.Stop(i) }

func (tc *testCluster) stopAll() {
	for i := 0; i < tc.Len(); i++ {
		tc.stop(i)
	}
}

func (tc *testCluster) waitReady() {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(tc.t, tc.WaitReady(ctx))
}

func (tc *testCluster) client(eps ...string) *coord.Client {
	tc.t.Helper()
	if len(eps) == 0 {
		eps = tc.Endpoints()
	}
	// A client of a proxy (a tap) keeps to it; one of members learns
	// the others from the member registry, as applications' do.
	static := false
	for _, ep := range eps {
		static = static || !slices.Contains(tc.Endpoints(), ep)
	}
	c, err := coord.New(coord.Config{Endpoints: eps, DialTimeout: time.Second, StaticEndpoints: static})
	require.NoError(tc.t, err)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (tc *testCluster) endpoints() []string { return tc.Endpoints() }

// startMember starts a one-member cluster without HTTP, configured by
// mutate, and checks at the end of the test that it stops cleanly.
func startMember(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	lc, err := StartLocalCluster(context.Background(), LocalClusterConfig{
		Members:      1,
		ReadyTimeout: 30 * time.Second,
		StopTimeout:  10 * time.Second,
		Configure: func(cfg *Config) {
			cfg.ListenHTTP = ""
			mutate(cfg)
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, lc.Close()) })
	return lc.Member(0)
}
