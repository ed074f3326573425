package server

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConnSplitter: a connection that starts with HTTP/2's client preface
// goes to the gRPC listener, one that starts otherwise (HTTP/1) to the
// HTTP listener, each with its first bytes replayed; a client that sends
// part of the preface and stops is closed after the timeout without
// holding up the others; closing the listener closes both.
func TestConnSplitter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := newConnSplitter(ln, 2*time.Second, slog.New(slog.DiscardHandler))
	ran := make(chan struct{})
	go func() { s.run(); close(ran) }()

	dial := func(first string) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, first)
		require.NoError(t, err)
		return c
	}
	accept := func(l net.Listener, want string) net.Conn {
		t.Helper()
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() { c, err := l.Accept(); ch <- res{c, err} }()
		select {
		case r := <-ch:
			require.NoError(t, r.err)
			got := make([]byte, len(want))
			_, err := io.ReadFull(r.c, got)
			require.NoError(t, err)
			require.Equal(t, want, string(got))
			return r.c
		case <-time.After(10 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	stalled := dial(http2Preface[:10]) // never sends the rest
	dial(http2Preface + "frames")
	accept(s.grpc, http2Preface+"frames")
	hcli := dial("GET /version HTTP/1.1\r\n")
	hsrv := accept(s.http, "GET /version HTTP/1.1\r\n")
	// The connection is the client's: what it sends next arrives.
	_, err = io.WriteString(hcli, "Host: x\r\n\r\n")
	require.NoError(t, err)
	rest := make([]byte, len("Host: x\r\n\r\n"))
	_, err = io.ReadFull(hsrv, rest)
	require.NoError(t, err)
	require.Equal(t, "Host: x\r\n\r\n", string(rest))

	// The stalled client is closed once its timeout passes.
	require.NoError(t, stalled.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = stalled.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	require.NoError(t, ln.Close())
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the listener closed")
	}
	_, err = s.grpc.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = s.http.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}
