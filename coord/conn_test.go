package coord

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// oversizedMember answers the handshake, then every Range with a frame larger
// than any client reads and every other call with an empty body. It
// counts the connections it accepted.
func oversizedMember(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer nc.Close()
				fr := wire.NewFrameReader(nc, 0)
				var f wire.Frame
				if fr.Read(&f) != nil {
					return
				}
				body, _ := wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: "fake", MaxRequestSize: 1 << 20, Shards: 1, ClusterID: 1})
				b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: body})
				if _, err := nc.Write(b); err != nil {
					return
				}
				for {
					var f wire.Frame
					if fr.Read(&f) != nil {
						return
					}
					if f.Type != wire.FrameRequest {
						continue
					}
					resp := &wire.Frame{Type: wire.FrameResponse, ID: f.ID}
					if f.Method == wire.MethodRange {
						resp.Body = make([]byte, wire.DefaultMaxFrameSize*3)
					} else {
						resp.Body, _ = wire.Marshal(&wire.PutResponse{})
					}
					b, _ := wire.AppendFrame(nil, resp)
					if _, err := nc.Write(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// TestOversizedResponseFailsOnlyItsCall: a response larger than the
// client reads fails its call at once with ErrTooLarge, instead of
// breaking the connection (and every other call on it) and being retried
// until the deadline; the connection goes on serving.
func TestOversizedResponseFailsOnlyItsCall(t *testing.T) {
	c, ctx, conns := oversizedClient(t)
	var err error
	if _, err := c.Put(ctx, "a", "1"); err != nil {
		t.Fatalf("put: %v", err)
	}
	start := time.Now()
	_, err = c.Get(ctx, "a")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get: %v, want ErrTooLarge", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("get failed only at the deadline (%s)", time.Since(start))
	}
	if _, err := c.Put(ctx, "a", "2"); err != nil {
		t.Fatalf("put after: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want the first one kept", n)
	}
}

// TestOversizedRequestFailsAtOnce: a write larger than the member takes is
// refused by the client before it is sent, with ErrTooLarge, and is not
// retried until the deadline.
func TestOversizedRequestFailsAtOnce(t *testing.T) {
	c, ctx, _ := oversizedClient(t)
	var err error
	_, err = c.Put(ctx, "k", string(make([]byte, 2<<20)))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put over the member's request size: %v, want ErrTooLarge", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the oversized write was retried until the deadline")
	}
}

// oversizedClient returns a client of an oversizedMember, the member's
// connection count and a 10 s context (both cleaned up with t).
func oversizedClient(t *testing.T) (*Client, context.Context, *atomic.Int32) {
	addr, conns := oversizedMember(t)
	c, err := New(Config{Endpoints: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c, ctx, conns
}
