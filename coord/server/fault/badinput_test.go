package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
)

// rawConn is a client connection that speaks the wire protocol by hand.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *wire.FrameReader
}

func dialRaw(t *testing.T, addr string, hello bool) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rc := &rawConn{t: t, nc: nc, fr: wire.NewFrameReader(nc, 8<<20)}
	if hello {
		body, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 42})
		rc.send(&wire.Frame{Type: wire.FrameHello, Body: body})
		if f := rc.read(); f == nil || f.Type != wire.FrameHello || f.Err != nil {
			t.Fatalf("handshake failed: %+v", f)
		}
	}
	return rc
}

func (rc *rawConn) send(f *wire.Frame) {
	rc.t.Helper()
	b, err := wire.AppendFrame(nil, f)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.write(b)
}

func (rc *rawConn) write(b []byte) {
	_ = rc.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = rc.nc.Write(b) // the server may already have closed the connection
}

// read returns the next frame, or nil when the connection was closed.
func (rc *rawConn) read() *wire.Frame {
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f wire.Frame
	if err := rc.fr.Read(&f); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			rc.t.Fatalf("the server neither answered nor closed the connection: %v", err)
		}
		return nil
	}
	return &f
}

// closed reports whether the server closed the connection (reading
// anything else first is also fine: it must close within the deadline).
func (rc *rawConn) closedByServer() bool {
	_ = rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, rc.nc)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}

// TestFaultBadInput sends hostile requests to a real member. Each must
// get a clear error code or have only its own connection closed, and
// afterwards the member must still serve, with nothing it had lost.
func TestFaultBadInput(t *testing.T) {
	c := NewCluster(t, bin, ClusterOptions{Members: 1, Shards: 2})
	addr := c.Members[0].Client
	cl := client(t, addr)
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	if _, err := cl.Put(ctx(), "bad/sentinel", "still here"); err != nil {
		t.Fatal(err)
	}
	// Two keys of different shards, for the shard cases.
	var k0, k1 string
	for i := 0; k0 == "" || k1 == ""; i++ {
		k := fmt.Sprintf("bad/shard/%d", i)
		if s, _ := cl.ShardOf(ctx(), k); s == 0 && k0 == "" {
			k0 = k
		} else if s == 1 && k1 == "" {
			k1 = k
		}
	}
	wantErr := func(sentinel error) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			if !errors.Is(err, sentinel) {
				t.Fatalf("got %v, want %v", err, sentinel)
			}
		}
	}
	cases := []struct {
		name  string
		run   func(t *testing.T) error
		check func(*testing.T, error)
	}{
		{"oversized key", func(t *testing.T) error {
			_, err := cl.Put(ctx(), strings.Repeat("k", 4<<10+1), "v")
			return err
		}, wantErr(coord.ErrTooLarge)},
		{"oversized value", func(t *testing.T) error {
			_, err := cl.Put(ctx(), "bad/big", strings.Repeat("v", 1<<20+1))
			return err
		}, wantErr(coord.ErrTooLarge)},
		{"too many txn ops", func(t *testing.T) error {
			var ops []coord.Op
			for i := 0; i < 129; i++ {
				ops = append(ops, coord.OpPut(fmt.Sprintf("{bad}/%d", i), "v"))
			}
			_, err := cl.Txn(ctx()).Then(ops...).Commit()
			return err
		}, wantErr(coord.ErrTooLarge)},
		{"oversized txn bytes", func(t *testing.T) error {
			v := strings.Repeat("v", 1<<20)
			_, err := cl.Txn(ctx()).Then(coord.OpPut("{bad}/a", v), coord.OpPut("{bad}/b", v)).Commit()
			return err
		}, wantErr(coord.ErrTooLarge)},
		{"unknown method", func(t *testing.T) error {
			return cl.Call(ctx(), "kv.frobnicate", &wire.RangeRequest{Key: []byte("x")}, nil)
		}, wantErr(coord.ErrUnimplemented)},
		{"empty key", func(t *testing.T) error {
			_, err := cl.Put(ctx(), "", "v")
			return err
		}, wantErr(coord.ErrInvalid)},
		{"reserved keyspace", func(t *testing.T) error {
			_, err := cl.Put(ctx(), "\x00coord/lock/{x}/h", "forged holder")
			return err
		}, wantErr(coord.ErrPermissionDenied)},
		{"put with unknown lease", func(t *testing.T) error {
			_, err := cl.Put(ctx(), "bad/leased", "v", coord.WithLease(0x0123456789))
			return err
		}, wantErr(coord.ErrLeaseNotFound)},
		{"revoke unknown lease", func(t *testing.T) error {
			_, err := cl.Revoke(ctx(), 0x0123456789)
			return err
		}, wantErr(coord.ErrLeaseNotFound)},
		{"keep-alive unknown lease", func(t *testing.T) error {
			_, err := cl.KeepAliveOnce(ctx(), 0x0123456789)
			return err
		}, wantErr(coord.ErrLeaseNotFound)},
		{"lease of another shard", func(t *testing.T) error {
			g, err := cl.Grant(ctx(), 30, coord.WithLeaseKey(k0))
			if err != nil {
				return fmt.Errorf("grant: %w", err)
			}
			_, err = cl.Put(ctx(), k1, "v", coord.WithLease(g.ID))
			return err
		}, wantErr(coord.ErrWrongShard)},
		{"cross-shard txn", func(t *testing.T) error {
			_, err := cl.Txn(ctx()).Then(coord.OpPut(k0, "a"), coord.OpPut(k1, "b")).Commit()
			return err
		}, wantErr(coord.ErrCrossShardTxn)},
		{"invalid UTF-8 key round-trips", func(t *testing.T) error {
			key, val := "bad/\xff\xfe\x00\xc3(", "\x80\x00\xff"
			if _, err := cl.Put(ctx(), key, val); err != nil {
				return err
			}
			r, err := cl.Get(ctx(), key)
			if err != nil {
				return err
			}
			if len(r.Kvs) != 1 || string(r.Kvs[0].Key) != key || string(r.Kvs[0].Value) != val {
				return fmt.Errorf("read back %+v", r.Kvs)
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"malformed request body", func(t *testing.T) error {
			rc := dialRaw(t, addr, true)
			rc.send(&wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodPut, Body: []byte{0xc1, 0xff, 0x00}})
			f := rc.read()
			if f == nil {
				return errors.New("connection closed")
			}
			if f.Err == nil || f.Err.Code != wire.CodeInvalid {
				return fmt.Errorf("answer %+v, want code %v", f.Err, wire.CodeInvalid)
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"bodies claiming gigabytes", func(t *testing.T) error {
			// A few bytes can claim an array of 268M transaction ops or a
			// 2-GB key; the member answers invalid without allocating them,
			// however often it is asked, and goes on serving.
			rc := dialRaw(t, addr, true)
			bodies := []struct {
				method string
				body   []byte
			}{
				{wire.MethodTxn, []byte{0x81, 0xa1, 's', 0xdd, 0x0f, 0xff, 0xff, 0xff, 0x80}},
				{wire.MethodPut, []byte{0x81, 0xa1, 'k', 0xc6, 0x7f, 0xff, 0xff, 0xff, 'x'}},
			}
			for i := 0; i < 40; i++ {
				b := bodies[i%len(bodies)]
				rc.send(&wire.Frame{Type: wire.FrameRequest, ID: uint64(i + 1), Method: b.method, Body: b.body})
				f := rc.read()
				if f == nil {
					return fmt.Errorf("request %d: connection closed", i)
				}
				if f.Err == nil || f.Err.Code != wire.CodeInvalid || !strings.Contains(f.Err.Message, "malformed encoding") {
					return fmt.Errorf("request %d (%s): answer %+v, want code %v for a malformed encoding", i, b.method, f.Err, wire.CodeInvalid)
				}
			}
			_, err := cl.Get(ctx(), "bad/sentinel")
			return err
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"request before handshake", func(t *testing.T) error {
			rc := dialRaw(t, addr, false)
			body, _ := wire.Marshal(&wire.RangeRequest{Key: []byte("bad/sentinel")})
			rc.send(&wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodRange, Body: body})
			if f := rc.read(); f != nil && f.Err == nil && f.Type == wire.FrameResponse {
				return fmt.Errorf("served a request before the handshake: %+v", f)
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"oversized frame", func(t *testing.T) error {
			rc := dialRaw(t, addr, true)
			rc.write([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3})
			if !rc.closedByServer() {
				return errors.New("connection left open")
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated frame", func(t *testing.T) error {
			rc := dialRaw(t, addr, true)
			body, _ := wire.Marshal(&wire.PutRequest{Key: []byte("bad/truncated"), Value: []byte("v")})
			b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodPut, Seq: 1, Body: body})
			rc.write(b[:len(b)/2])
			_ = rc.nc.(*net.TCPConn).CloseWrite()
			if !rc.closedByServer() {
				return errors.New("connection left open")
			}
			// Half a put must not have been applied.
			r, err := cl.Get(ctx(), "bad/truncated")
			if err != nil {
				return err
			}
			if len(r.Kvs) != 0 {
				return fmt.Errorf("half a frame was applied: %+v", r.Kvs)
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"random bytes", func(t *testing.T) error {
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 20; i++ {
				rc := dialRaw(t, addr, i%2 == 0)
				b := make([]byte, 1+rng.Intn(8<<10))
				rng.Read(b)
				rc.write(b)
				_ = rc.nc.(*net.TCPConn).CloseWrite()
				if !rc.closedByServer() {
					return fmt.Errorf("connection %d left open after random bytes", i)
				}
			}
			return nil
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"flood of 500 connections", func(t *testing.T) error {
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			// Half stay idle without a handshake; the other half each
			// shake hands and ask for a key, and every one is answered.
			var talking []*rawConn
			for i := 0; i < 500; i++ {
				if i%2 == 1 {
					talking = append(talking, dialRaw(t, addr, false))
					continue
				}
				nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					return fmt.Errorf("connection %d refused: %w", i, err)
				}
				conns = append(conns, nc)
			}
			hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 43})
			body, _ := wire.Marshal(&wire.RangeRequest{Key: []byte("bad/sentinel")})
			for _, rc := range talking {
				rc.send(&wire.Frame{Type: wire.FrameHello, Body: hello})
				rc.send(&wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodRange, Body: body})
			}
			for i, rc := range talking {
				if f := rc.read(); f == nil || f.Type != wire.FrameHello {
					return fmt.Errorf("flood connection %d: no handshake answer", i)
				}
				if f := rc.read(); f == nil || f.Err != nil {
					return fmt.Errorf("flood connection %d: request not served: %+v", i, f)
				}
				rc.nc.Close()
			}
			_, err := cl.Put(ctx(), "bad/flood", "served")
			return err
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	// A healthy connection open through every case: a bad frame on
	// another connection must close only that one.
	bystander := dialRaw(t, addr, true)
	for i, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			tc.check(t, tc.run(t))
			// The member still serves, and lost nothing.
			canary := fmt.Sprintf("canary-%d", i)
			if _, err := cl.Put(ctx(), "bad/canary", canary); err != nil {
				t.Fatalf("member stopped serving: %v", err)
			}
			for k, want := range map[string]string{"bad/canary": canary, "bad/sentinel": "still here"} {
				r, err := cl.Get(ctx(), k)
				if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != want {
					t.Fatalf("after %s, %s reads %v, %v; want %q", tc.name, k, r, err, want)
				}
			}
			body, _ := wire.Marshal(&wire.RangeRequest{Key: []byte("bad/sentinel")})
			bystander.send(&wire.Frame{Type: wire.FrameRequest, ID: uint64(i + 1), Method: wire.MethodRange, Body: body})
			if f := bystander.read(); f == nil || f.Err != nil || f.ID != uint64(i+1) {
				t.Fatalf("after %s, a healthy bystander connection was not served: %+v", tc.name, f)
			}
			if !c.Members[0].Running() {
				t.Fatal("member exited")
			}
		})
	}
	stats.Add(1, len(cases), 0, 0)
}
