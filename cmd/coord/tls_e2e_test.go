package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certFiles are PEM files of a test CA, a server certificate for
// 127.0.0.1 and a client certificate, all made in the test.
type certFiles struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func makeCerts(t *testing.T) certFiles {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coord test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	leaf := func(name string, serial int64, server bool) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	f := certFiles{ca: write("ca.pem", "CERTIFICATE", caDER)}
	f.serverCert, f.serverKey = leaf("server", 2, true)
	f.clientCert, f.clientKey = leaf("client", 3, false)
	return f
}

// startServe runs `coord serve` in-process with extra flags until the test
// ends and returns its client address once a put with the given client
// flags succeeds.
func startServe(t *testing.T, clientFlags []string, serveFlags ...string) string {
	t.Helper()
	client := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	args := append([]string{"coord", "serve", "--data-dir", t.TempDir(), "--listen-client", client,
		"--listen-peer", freeAddr(t), "--listen-http", "", "--listen-etcd", ""}, serveFlags...)
	go func() { done <- runContext(ctx, args, strings.NewReader(""), io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	waitFor(t, 30*time.Second, "serve to answer", func() bool {
		select {
		case code := <-done:
			t.Fatalf("serve exited early with %d: %s", code, stderr.String())
		default:
		}
		code, _, _ := runCLI(t, "", append([]string{"put", "ready", "1", "--endpoints", client, "--timeout", "1s"}, clientFlags...)...)
		return code == 0
	})
	return client
}

func TestCLITLS(t *testing.T) {
	certs := makeCerts(t)
	ep := startServe(t, []string{"--cacert", certs.ca}, "--cert-file", certs.serverCert, "--key-file", certs.serverKey)

	// Global TLS flags before the command, as etcdctl takes them.
	if code, out, errOut := runCLI(t, "", "--cacert", certs.ca, "--endpoints", ep, "put", "a", "1"); code != 0 || out != "OK\n" {
		t.Fatalf("put over TLS: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "", "get", "a", "--endpoints", ep, "--cacert", certs.ca); code != 0 || out != "a\n1\n" {
		t.Fatalf("get over TLS: %d %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "", "member", "list", "--endpoints", ep, "--cacert", certs.ca)
	if code != 0 || !strings.Contains(out, ep) {
		t.Fatalf("member list over TLS: %d %q %q", code, out, errOut)
	}

	// A plain client fails within its timeout and says why.
	start := time.Now()
	code, _, errOut = runCLI(t, "", "get", "a", "--endpoints", ep, "--timeout", "1s")
	if code != exitError || !strings.Contains(errOut, "requires TLS") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("plain get against TLS: exit %d stderr %q", code, errOut)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("plain get took %s", d)
	}
	if code, _, errOut := runCLI(t, "", "status", "--endpoints", ep); code != exitError || !strings.Contains(errOut, "requires TLS") {
		t.Fatalf("plain status against TLS: exit %d stderr %q", code, errOut)
	}
	// A client CA file that does not parse is a clear error.
	if code, _, errOut := runCLI(t, "", "get", "a", "--endpoints", ep, "--cacert", certs.serverKey); code != exitError || !strings.Contains(errOut, "no PEM certificates") {
		t.Fatalf("bad --cacert: exit %d stderr %q", code, errOut)
	}
}

func TestCLIMutualTLS(t *testing.T) {
	certs := makeCerts(t)
	// The serve settings come from the environment this time.
	t.Setenv("COORD_CERT_FILE", certs.serverCert)
	t.Setenv("COORD_KEY_FILE", certs.serverKey)
	t.Setenv("COORD_CLIENT_CERT_AUTH", "true")
	t.Setenv("COORD_TRUSTED_CA_FILE", certs.ca)
	full := []string{"--cacert", certs.ca, "--cert", certs.clientCert, "--key", certs.clientKey}
	ep := startServe(t, full)

	if code, out, errOut := runCLI(t, "", append([]string{"put", "a", "1", "--endpoints", ep}, full...)...); code != 0 || out != "OK\n" {
		t.Fatalf("put with a client cert: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "", append([]string{"get", "a", "--endpoints", ep}, full...)...); code != 0 || out != "a\n1\n" {
		t.Fatalf("get with a client cert: %d %q %q", code, out, errOut)
	}
	// Without --cert/--key: refused, with the reason.
	code, _, errOut := runCLI(t, "", "get", "a", "--endpoints", ep, "--cacert", certs.ca, "--timeout", "1s")
	if code != exitError || !strings.Contains(errOut, "certificate required") {
		t.Fatalf("get without a client cert: exit %d stderr %q", code, errOut)
	}
	// --cert without --key is a usage error.
	code, _, errOut = runCLI(t, "", "get", "a", "--endpoints", ep, "--cacert", certs.ca, "--cert", certs.clientCert)
	if code != exitUsage || !strings.Contains(errOut, "--cert and --key must be given together") {
		t.Fatalf("--cert without --key: exit %d stderr %q", code, errOut)
	}
	code, out, errOut := runCLI(t, "", append([]string{"member", "list", "-w", "json", "--endpoints", ep}, full...)...)
	var ml struct {
		Members []struct {
			Name     string `json:"name"`
			IsLeader bool   `json:"is_leader"`
		} `json:"members"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &ml) != nil || len(ml.Members) != 1 || ml.Members[0].Name != "n1" || !ml.Members[0].IsLeader {
		t.Fatalf("member list with mutual TLS: %d %q %q", code, out, errOut)
	}
}

func TestCLIServeTLSUsage(t *testing.T) {
	certs := makeCerts(t)
	base := []string{"serve", "--data-dir", t.TempDir(), "--listen-client", freeAddr(t), "--listen-peer", freeAddr(t), "--listen-http", "", "--listen-etcd", ""}
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--cert-file", certs.serverCert}, "cert-file and key-file must be given together"},
		{[]string{"--cert-file", certs.serverCert, "--key-file", certs.serverKey, "--client-cert-auth"}, "client-cert-auth needs trusted-ca-file"},
		{[]string{"--cert-file", certs.serverCert, "--key-file", certs.clientKey}, "private key does not match public key"},
		{[]string{"--cert-file", certs.serverCert, "--key-file", certs.serverKey, "--client-cert-auth", "--trusted-ca-file", certs.serverKey}, "no PEM certificates found"},
		{[]string{"--client-cert-auth", "--trusted-ca-file", certs.ca}, "need TLS"},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, "", append(append([]string{}, base...), tt.flags...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("serve %q: exit %d stderr %q, want exit 2 with %q", tt.flags, code, errOut, tt.want)
		}
	}
}

func TestCLIServePeerTLS(t *testing.T) {
	certs := makeCerts(t)
	// A one-member cluster with peer mutual TLS serves (its certificate
	// is only ever presented to other members).
	client := startServe(t, nil, "--peer-cert-file", certs.serverCert, "--peer-key-file", certs.serverKey,
		"--peer-trusted-ca-file", certs.ca)
	if code, out, errOut := runCLI(t, "", "get", "ready", "--endpoints", client); code != 0 || !strings.Contains(out, "1") {
		t.Fatalf("get with peer TLS on: %d %q %q", code, out, errOut)
	}
}

func TestCLIServePeerTLSUsage(t *testing.T) {
	certs := makeCerts(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	base := []string{"serve", "--data-dir", t.TempDir(), "--listen-client", freeAddr(t), "--listen-peer", freeAddr(t), "--listen-http", "", "--listen-etcd", ""}
	peer := func(cert, key, ca string) []string {
		return []string{"--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", ca}
	}
	tests := []struct {
		flags []string
		env   map[string]string
		want  string
	}{
		{[]string{"--peer-cert-file", certs.serverCert}, nil, "peer-cert-file, peer-key-file and peer-trusted-ca-file must be given together"},
		{peer(missing, certs.serverKey, certs.ca), nil, "peer-cert-file: open " + missing},
		{peer(certs.serverCert, missing, certs.ca), nil, "peer-key-file: open " + missing},
		{peer(certs.serverCert, certs.serverKey, missing), nil, "peer-trusted-ca-file: open " + missing},
		{peer(certs.serverCert, certs.clientKey, certs.ca), nil, "private key does not match public key"},
		{peer(certs.serverCert, certs.serverKey, certs.serverKey), nil, "no PEM certificates found"},
		{nil, map[string]string{"COORD_PEER_CERT_FILE": certs.serverCert, "COORD_PEER_KEY_FILE": certs.serverKey,
			"COORD_PEER_TRUSTED_CA_FILE": missing}, "peer-trusted-ca-file: open " + missing},
	}
	for _, tt := range tests {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		code, _, errOut := runCLI(t, "", append(append([]string{}, base...), tt.flags...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("serve %q %v: exit %d stderr %q, want exit 2 with %q", tt.flags, tt.env, code, errOut, tt.want)
		}
		if first, _, _ := strings.Cut(errOut, "\n"); !strings.Contains(first, tt.want) {
			t.Errorf("serve %q: the reason is not on the first line: %q", tt.flags, errOut)
		}
		for k := range tt.env {
			os.Unsetenv(k)
		}
	}
}
