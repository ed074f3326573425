package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files into a temporary directory; and, for
// peer mutual TLS, a peer certificate (server and client use, 127.0.0.1)
// from the CA and another from a second CA.
type testPKI struct {
	dir                         string
	caFile                      string
	serverCert, serverKey       string
	clientCert, clientKey       string
	pool                        *x509.CertPool
	clientPair                  tls.Certificate
	otherCA, otherCert, otherKy string // a second CA and a client cert it signed
	peerCert, peerKey           string // signed by the CA, for both ends of a peer connection
	otherPeerCert, otherPeerKey string // the same, signed by the second CA
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	ca, caKey := makeCA(t, "coord test CA")
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, p.dir, "ca.pem", "CERTIFICATE", ca.Raw)
	p.serverCert, p.serverKey = makeLeaf(t, p.dir, "server", ca, caKey, true)
	p.clientCert, p.clientKey = makeLeaf(t, p.dir, "client", ca, caKey, false)
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	require.NoError(t, err)
	p.clientPair = pair
	other, otherKey := makeCA(t, "another CA")
	p.otherCA = writePEM(t, p.dir, "other-ca.pem", "CERTIFICATE", other.Raw)
	p.otherCert, p.otherKy = makeLeaf(t, p.dir, "other-client", other, otherKey, false)
	p.peerCert, p.peerKey = makeLeafFor(t, p.dir, "peer", ca, caKey, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	p.otherPeerCert, p.otherPeerKey = makeLeafFor(t, p.dir, "other-peer", other, otherKey, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	return p
}

func makeCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

var serial int64 = 100

func makeLeaf(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (certFile, keyFile string) {
	t.Helper()
	if server {
		return makeLeafFor(t, dir, name, ca, caKey, x509.ExtKeyUsageServerAuth)
	}
	return makeLeafFor(t, dir, name, ca, caKey, x509.ExtKeyUsageClientAuth)
}

// makeLeafFor makes a certificate for usages signed by ca; one usable by a
// server is for 127.0.0.1 and localhost.
func makeLeafFor(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usages ...x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usages,
	}
	if slices.Contains(usages, x509.ExtKeyUsageServerAuth) {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", kder)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return f
}

// startTLSMember starts a one-member cluster whose client port speaks TLS.
func startTLSMember(t *testing.T, p *testPKI, clientCertAuth bool) *Server {
	t.Helper()
	return startMember(t, func(cfg *Config) {
		cfg.TLSCertFile, cfg.TLSKeyFile = p.serverCert, p.serverKey
		if clientCertAuth {
			cfg.ClientCertAuth, cfg.TrustedCAFile = true, p.caFile
		}
	})
}

func tlsClient(t *testing.T, addr string, tc *tls.Config) *coord.Client {
	t.Helper()
	c, err := coord.New(coord.Config{Endpoints: []string{addr}, DialTimeout: time.Second, TLS: tc})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientTLS(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSMember(t, p, false)

	c := tlsClient(t, s.ClientAddr(), &tls.Config{RootCAs: p.pool})
	_, err := c.Put(ctxT(t, 5*time.Second), "a", "1")
	require.NoError(t, err)
	g, err := c.Get(ctxT(t, 5*time.Second), "a")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
	require.Equal(t, "1", string(g.Kvs[0].Value))
	st, err := c.Status(ctxT(t, 5*time.Second), s.ClientAddr())
	require.NoError(t, err)
	require.Equal(t, "n1", st.Member)

	// A plain client is told why, within its deadline, instead of hanging.
	plain := tlsClient(t, s.ClientAddr(), nil)
	start := time.Now()
	_, err = plain.Get(ctxT(t, 2*time.Second), "a")
	require.Error(t, err)
	require.Contains(t, err.Error(), "requires TLS")
	require.Less(t, time.Since(start), 5*time.Second)
	_, err = plain.Status(ctxT(t, 2*time.Second), s.ClientAddr())
	require.ErrorContains(t, err, "requires TLS")

	// A client that does not trust the server's CA fails the handshake.
	other := x509.NewCertPool()
	otherPEM, err := os.ReadFile(p.otherCA)
	require.NoError(t, err)
	require.True(t, other.AppendCertsFromPEM(otherPEM))
	_, err = tlsClient(t, s.ClientAddr(), &tls.Config{RootCAs: other}).Status(ctxT(t, 2*time.Second), s.ClientAddr())
	require.ErrorContains(t, err, "certificate")

	// The server still serves TLS clients after those failures.
	_, err = c.Put(ctxT(t, 5*time.Second), "b", "2")
	require.NoError(t, err)
}

func TestClientMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSMember(t, p, true)

	c := tlsClient(t, s.ClientAddr(), &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientPair}})
	_, err := c.Put(ctxT(t, 5*time.Second), "a", "1")
	require.NoError(t, err)

	// Without a client certificate: refused.
	_, err = tlsClient(t, s.ClientAddr(), &tls.Config{RootCAs: p.pool}).Status(ctxT(t, 2*time.Second), s.ClientAddr())
	require.ErrorContains(t, err, "certificate")

	// With a certificate from a CA the server does not trust: refused.
	otherPair, err := tls.LoadX509KeyPair(p.otherCert, p.otherKy)
	require.NoError(t, err)
	_, err = tlsClient(t, s.ClientAddr(), &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{otherPair}}).
		Status(ctxT(t, 2*time.Second), s.ClientAddr())
	require.Error(t, err)

	g, err := c.Get(ctxT(t, 5*time.Second), "a")
	require.NoError(t, err)
	require.Len(t, g.Kvs, 1)
}

func TestValidateTLS(t *testing.T) {
	p := newTestPKI(t)
	notPEM := filepath.Join(p.dir, "garbage")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	missing := filepath.Join(p.dir, "missing.pem")
	base := func() Config {
		c := DefaultConfig()
		c.TLSCertFile, c.TLSKeyFile = p.serverCert, p.serverKey
		return c
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" for valid
	}{
		{"tls", func(*Config) {}, ""},
		{"mutual", func(c *Config) { c.ClientCertAuth, c.TrustedCAFile = true, p.caFile }, ""},
		{"ca without client-cert-auth", func(c *Config) { c.TrustedCAFile = p.caFile }, ""},
		{"cert without key", func(c *Config) { c.TLSKeyFile = "" }, "cert-file and key-file must be given together"},
		{"key without cert", func(c *Config) { c.TLSCertFile = "" }, "cert-file and key-file must be given together"},
		{"missing cert", func(c *Config) { c.TLSCertFile = missing }, "cert-file: open " + missing},
		{"missing key", func(c *Config) { c.TLSKeyFile = missing }, "key-file: open " + missing},
		{"mismatched pair", func(c *Config) { c.TLSKeyFile = p.clientKey }, "private key does not match public key"},
		{"not a cert", func(c *Config) { c.TLSCertFile = notPEM }, "cert-file " + notPEM},
		{"client-cert-auth without ca", func(c *Config) { c.ClientCertAuth = true }, "client-cert-auth needs trusted-ca-file"},
		{"missing ca", func(c *Config) { c.ClientCertAuth, c.TrustedCAFile = true, missing }, "trusted-ca-file: open " + missing},
		{"ca not pem", func(c *Config) { c.ClientCertAuth, c.TrustedCAFile = true, notPEM }, "no PEM certificates found"},
		{"client-cert-auth without tls", func(c *Config) {
			c.TLSCertFile, c.TLSKeyFile, c.ClientCertAuth, c.TrustedCAFile = "", "", true, p.caFile
		}, "client-cert-auth and trusted-ca-file need TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
