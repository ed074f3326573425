package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// tlsEnabled reports whether the client port speaks TLS.
func (c Config) tlsEnabled() bool { return c.TLSCertFile != "" || c.TLSKeyFile != "" }

// validateTLS checks the client TLS settings: both halves of the key pair,
// files that load, and a CA for client certificate authentication.
func (c Config) validateTLS() []error {
	var errs []error
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("cert-file and key-file must be given together"))
	}
	if !c.tlsEnabled() {
		if c.ClientCertAuth || c.TrustedCAFile != "" {
			errs = append(errs, errors.New("client-cert-auth and trusted-ca-file need TLS: give cert-file and key-file too"))
		}
		return errs
	}
	if c.ClientCertAuth && c.TrustedCAFile == "" {
		errs = append(errs, errors.New("client-cert-auth needs trusted-ca-file, the CA that signs client certificates"))
	}
	if c.TLSCertFile != "" && c.TLSKeyFile != "" {
		if _, err := loadKeyPair("cert-file", c.TLSCertFile, "key-file", c.TLSKeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	if c.TrustedCAFile != "" {
		if _, err := loadCAPool("trusted-ca-file", c.TrustedCAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// validatePeerTLS checks the peer TLS settings: all three files or none,
// files that load, a certificate that matches its key, a CA that parses.
// Dragonboat would otherwise fail later, with a less helpful message.
func (c Config) validatePeerTLS() []error {
	given := 0
	for _, f := range []string{c.PeerCertFile, c.PeerKeyFile, c.PeerTrustedCAFile} {
		if f != "" {
			given++
		}
	}
	switch given {
	case 0:
		return nil
	case 3:
	default:
		return []error{errors.New("peer-cert-file, peer-key-file and peer-trusted-ca-file must be given together (peer mutual TLS needs all three)")}
	}
	var errs []error
	if _, err := loadKeyPair("peer-cert-file", c.PeerCertFile, "peer-key-file", c.PeerKeyFile); err != nil {
		errs = append(errs, err)
	}
	if _, err := loadCAPool("peer-trusted-ca-file", c.PeerTrustedCAFile); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// peerTLSEnabled reports whether the Raft transport speaks mutual TLS.
func (c Config) peerTLSEnabled() bool { return c.PeerCertFile != "" }

// loadKeyPair loads a certificate and its key; errors name the flags.
func loadKeyPair(certFlag, certFile, keyFlag, keyFile string) (tls.Certificate, error) {
	if _, err := os.ReadFile(certFile); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certFlag, err)
	}
	if _, err := os.ReadFile(keyFile); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyFlag, err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s and %s %s: %w", certFlag, certFile, keyFlag, keyFile, err)
	}
	return pair, nil
}

// loadCAPool loads a CA bundle; errors name the flag.
func loadCAPool(flag, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificates found", flag, file)
	}
	return pool, nil
}

// serverTLSConfig is the TLS configuration of the client port, nil when
// TLS is off.
func (c Config) serverTLSConfig() (*tls.Config, error) {
	if !c.tlsEnabled() {
		return nil, nil
	}
	pair, err := loadKeyPair("cert-file", c.TLSCertFile, "key-file", c.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if c.TrustedCAFile != "" {
		pool, err := loadCAPool("trusted-ca-file", c.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
		if c.ClientCertAuth {
			tc.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tc, nil
}

// tlsListener makes every accepted connection a TLS server connection. The
// handshake runs on the connection's own goroutine, at its first read, under
// the deadline the RPC handshake sets; Accept never blocks on a client.
type tlsListener struct {
	net.Listener
	cfg  *tls.Config
	core *Core
}

func (l *tlsListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(nc, l.cfg), raw: nc, core: l.core}, nil
}

// tlsConn is a TLS server connection that answers a client speaking the
// plain protocol with a plain error, so it fails with a reason instead of
// a bare EOF.
type tlsConn struct {
	*tls.Conn
	raw  net.Conn
	core *Core
	once sync.Once
	herr error
}

func (c *tlsConn) Read(p []byte) (int, error) {
	c.once.Do(func() { c.herr = c.handshake() })
	if c.herr != nil {
		return 0, c.herr
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) handshake() error {
	err := c.Conn.Handshake()
	if err == nil {
		return nil
	}
	c.core.log.Debug("client TLS handshake failed", "remote", c.raw.RemoteAddr().String(), "err", err)
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && rh.Conn != nil {
		replyPlain(rh.Conn, wire.Errorf(wire.CodeUnavailable,
			"member %s requires TLS on its client port (connect with TLS, e.g. coord --cacert CA_FILE)", c.core.cfg.Name))
	}
	return err
}

// replyPlain answers a plain-protocol client's hello with an error frame,
// then reads what it sent until it hangs up, so that closing the
// connection does not reset it before the client has read the answer.
func replyPlain(nc net.Conn, werr *wire.Error) {
	b, err := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Err: werr})
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	if _, err := nc.Write(b); err != nil {
		return
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
}
