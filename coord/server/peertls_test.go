package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/locks"
)

// peerTLS configures a member's Raft transport for mutual TLS with the
// given certificate, key and CA.
func peerTLS(cert, key, ca string) func(*Config) {
	return func(cfg *Config) {
		cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerTrustedCAFile = cert, key, ca
	}
}

// appliedIndex is the highest index member s applied on any shard.
func appliedIndex(s *Server) uint64 {
	var max uint64
	for _, sh := range s.Core.shards {
		if a := sh.AppliedIndex(); a > max {
			max = a
		}
	}
	return max
}

func TestPeerTLSCluster(t *testing.T) {
	p := newTestPKI(t)
	tc := newTestCluster(t, 3, 2, peerTLS(p.peerCert, p.peerKey, p.caFile))
	c := tc.client()
	ctx := ctxT(t, 60*time.Second)

	_, err := c.Put(ctx, "a", "1")
	require.NoError(t, err)
	m := locks.NewMutex(newSession(t, c, 10), "L")
	require.NoError(t, m.Lock(ctx))
	require.NoError(t, m.Unlock(ctx))

	// A member restarts and catches up on what it missed.
	tc.stop(2)
	_, err = c.Put(ctx, "b", "2")
	require.NoError(t, err)
	tc.start(2)
	tc.waitReady()
	lag := tc.client(tc.Endpoints()[2])
	require.Eventually(t, func() bool {
		g, err := lag.Get(ctxT(t, time.Second), "b", coord.WithSerializable())
		return err == nil && len(g.Kvs) == 1 && string(g.Kvs[0].Value) == "2"
	}, 30*time.Second, 20*time.Millisecond, "restarted member catches up")
}

// TestPeerTLSRefusesUntrustedMember starts n3 with a certificate from
// another CA, or with no peer TLS at all, next to n1 and n2 that use peer
// TLS: n1 and n2 serve, n3 never learns of a leader nor applies an entry.
func TestPeerTLSRefusesUntrustedMember(t *testing.T) {
	p := newTestPKI(t)
	for _, tt := range []struct {
		name string
		bad  func(*Config)
	}{
		{"another CA", peerTLS(p.otherPeerCert, p.otherPeerKey, p.otherCA)},
		{"another CA's cert, our CA", peerTLS(p.otherPeerCert, p.otherPeerKey, p.caFile)},
		{"no peer TLS", peerTLS("", "", "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lc, err := NewLocalCluster(LocalClusterConfig{
				Members: 3, Shards: 2, StopTimeout: 5 * time.Second,
				Configure: func(cfg *Config) {
					peerTLS(p.peerCert, p.peerKey, p.caFile)(cfg)
					if cfg.Name == "n3" {
						tt.bad(cfg)
					}
				},
			})
			require.NoError(t, err)
			t.Cleanup(func() { _ = lc.Close() })
			require.NoError(t, lc.Start())
			ctx := ctxT(t, 30*time.Second)
			require.NoError(t, lc.Member(0).WaitReady(ctx))
			require.NoError(t, lc.Member(1).WaitReady(ctx))

			c, err := coord.New(coord.Config{Endpoints: lc.Endpoints()[:2], DialTimeout: time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			for _, k := range []string{"a", "b", "c", "d"} {
				_, err := c.Put(ctx, k, "v")
				require.NoError(t, err)
			}
			// Give n3 several election timeouts to get anything.
			bad := lc.Member(2)
			require.Never(t, func() bool {
				for shard := range bad.Core.shards {
					if leader, _ := bad.Core.leader(uint32(shard)); leader != "" {
						return true
					}
				}
				return appliedIndex(bad) != 0
			}, 2*time.Second, 20*time.Millisecond, "n3 learns of a leader or applies an entry")
			g, err := c.Get(ctx, "", coord.WithPrefix())
			require.NoError(t, err)
			require.Len(t, g.Kvs, 4)
		})
	}
}

// TestPeerTLSPlainConnection sends garbage and a well-formed-looking
// Dragonboat frame to a peer port that requires TLS: the member answers
// nothing and the cluster keeps serving.
func TestPeerTLSPlainConnection(t *testing.T) {
	p := newTestPKI(t)
	lc, err := StartLocalCluster(context.Background(), LocalClusterConfig{
		Members: 3, Shards: 1, ReadyTimeout: 30 * time.Second, StopTimeout: 5 * time.Second,
		Configure: peerTLS(p.peerCert, p.peerKey, p.caFile),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lc.Close() })
	c, err := coord.New(coord.Config{Endpoints: lc.Endpoints(), DialTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	ctx := ctxT(t, 30*time.Second)
	_, err = c.Put(ctx, "k", "1")
	require.NoError(t, err)

	// Dragonboat's frame: magic number, then a request header.
	frame := append([]byte{0xAE, 0x7D}, bytes.Repeat([]byte{1}, 64)...)
	for _, payload := range [][]byte{[]byte("GET / HTTP/1.0\r\n\r\n garbage \x00\xff"), frame} {
		nc, err := net.DialTimeout("tcp", lc.Config(0).ListenPeer, time.Second)
		require.NoError(t, err)
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = nc.Write(payload)
		// The member answers nothing. (Dragonboat v3.3.8 fails the TLS
		// handshake in its accept loop and neither logs it nor closes the
		// connection; a reset or EOF is fine too.)
		_ = nc.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := io.Copy(io.Discard, nc)
		require.Zero(t, n, "the member answered a plain connection")
		nc.Close()
	}

	_, err = c.Put(ctx, "k", "2")
	require.NoError(t, err)
	g, err := c.Get(ctx, "", coord.WithPrefix())
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	require.Equal(t, "2", string(g.Kvs[0].Value))
	require.Equal(t, int64(2), g.Kvs[0].Version)
}

func TestValidatePeerTLS(t *testing.T) {
	p := newTestPKI(t)
	notPEM := filepath.Join(p.dir, "garbage")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	missing := filepath.Join(p.dir, "missing.pem")
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" for valid
	}{
		{"none", peerTLS("", "", ""), ""},
		{"all three", func(*Config) {}, ""},
		{"cert only", peerTLS(p.peerCert, "", ""), "peer-cert-file, peer-key-file and peer-trusted-ca-file must be given together"},
		{"no ca", func(c *Config) { c.PeerTrustedCAFile = "" }, "must be given together"},
		{"no key", func(c *Config) { c.PeerKeyFile = "" }, "must be given together"},
		{"missing cert", func(c *Config) { c.PeerCertFile = missing }, "peer-cert-file: open " + missing},
		{"missing key", func(c *Config) { c.PeerKeyFile = missing }, "peer-key-file: open " + missing},
		{"missing ca", func(c *Config) { c.PeerTrustedCAFile = missing }, "peer-trusted-ca-file: open " + missing},
		{"mismatched pair", func(c *Config) { c.PeerKeyFile = p.clientKey }, "private key does not match public key"},
		{"not a cert", func(c *Config) { c.PeerCertFile = notPEM }, "peer-cert-file " + notPEM},
		{"ca not pem", func(c *Config) { c.PeerTrustedCAFile = notPEM }, "peer-trusted-ca-file " + notPEM + ": no PEM certificates found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			peerTLS(p.peerCert, p.peerKey, p.caFile)(&c)
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "\n", "one reason per bad input")
		})
	}
}
