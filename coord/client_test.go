package coord

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord/wire"
)

// fakeMember accepts connections on a loopback port, answers the
// handshake, and answers every request with answer; it records the
// request frames.
type fakeMember struct {
	ln     net.Listener
	answer *wire.Error
	mu     sync.Mutex
	frames []wire.Frame
}

func newFakeMember(t *testing.T, answer *wire.Error) *fakeMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	m := &fakeMember{ln: ln, answer: answer}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				go func() { <-time.After(10 * time.Second); nc.Close() }()
				m.serve(nc)
			}()
		}
	}()
	return m
}

func (m *fakeMember) serve(nc net.Conn) {
	fr := wire.NewFrameReader(nc, 0)
	for {
		var f wire.Frame
		if fr.Read(&f) != nil {
			return
		}
		resp := &wire.Frame{Type: wire.FrameResponse, ID: f.ID, Err: m.answer}
		if f.Type == wire.FrameHello {
			body, _ := wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: "fake", Shards: 1, ClusterID: 1})
			resp = &wire.Frame{Type: wire.FrameHello, Body: body}
		} else if f.Type == wire.FrameRequest {
			m.mu.Lock()
			m.frames = append(m.frames, f)
			m.mu.Unlock()
		} else {
			continue
		}
		b, _ := wire.AppendFrame(nil, resp)
		if _, err := nc.Write(b); err != nil {
			return
		}
	}
}

// TestWriteGivesUpAfterRetryWindow: a write whose attempts reached a
// member but never got an answer is retried for the retry window only,
// then fails with ErrOutcomeUnknown (not retried until the context ends:
// the cluster forgets clients after a while, and a retry older than that
// could apply twice). Each retry carries the write's age.
func TestWriteGivesUpAfterRetryWindow(t *testing.T) {
	m := newFakeMember(t, wire.Errorf(wire.CodeTimeout, "timed out waiting for the cluster"))
	c, err := New(Config{Endpoints: []string{m.ln.Addr().String()}, RetryWindow: 300 * time.Millisecond, StaticEndpoints: true}) // counts frames
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Put(ctx, "k", "v")
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.NoError(t, ctx.Err(), "gave up before the context ended")

	m.mu.Lock()
	defer m.mu.Unlock()
	require.GreaterOrEqual(t, len(m.frames), 2)
	require.Zero(t, m.frames[0].AgeMillis, "the first attempt is new")
	for i, f := range m.frames {
		require.Equal(t, m.frames[0].Seq, f.Seq, "every attempt is the same write")
		if i > 0 {
			require.Greater(t, f.AgeMillis, m.frames[i-1].AgeMillis)
		}
	}
	require.LessOrEqual(t, m.frames[len(m.frames)-1].AgeMillis, int64(300), "no attempt sent after the window")
}

// TestWriteNeverSentIsNotOutcomeUnknown: a write no member ever received
// fails with the reason, not ErrOutcomeUnknown.
func TestWriteNeverSentIsNotOutcomeUnknown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := New(Config{Endpoints: []string{addr}, RetryWindow: 50 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = c.Put(ctx, "k", "v")
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrOutcomeUnknown), "%v", err)
	require.ErrorIs(t, err, ErrTimeout)
}

// TestWriteAttemptEndsWithWindow: an attempt of a write that gets no
// answer at all (the member holds it) ends with the retry window, not
// with the caller's context, and fails with ErrOutcomeUnknown.
func TestWriteAttemptEndsWithWindow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		fr := wire.NewFrameReader(nc, 0)
		var f wire.Frame
		if fr.Read(&f) != nil {
			return
		}
		body, _ := wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: "silent", Shards: 1, ClusterID: 1})
		b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: body})
		_, _ = nc.Write(b)
		for fr.Read(&f) == nil { // read requests, answer none
		}
	}()
	c, err := New(Config{Endpoints: []string{ln.Addr().String()}, RetryWindow: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Put(ctx, "k", "v")
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	require.NoError(t, ctx.Err())
}

// TestCallTagsWritesFromMethodTable: Call sends what the method table
// calls an exactly-once write with a sequence number (and the
// acknowledgement watermark), anything else without: a dequeue is a write,
// a queue wait, a barrier's Wait and a method the table does not know are
// not.
func TestCallTagsWritesFromMethodTable(t *testing.T) {
	m := newFakeMember(t, nil)
	c, err := New(Config{Endpoints: []string{m.ln.Addr().String()}, StaticEndpoints: true}) // counts frames
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := []struct {
		method string
		req    any
		write  bool
	}{
		{wire.MethodDequeue, &wire.DequeueRequest{Name: "q"}, true},
		{wire.MethodQueueWait, &wire.QueueWaitRequest{Name: "q"}, false},
		{wire.MethodBarrier, &wire.BarrierRequest{Name: "b", Op: wire.BarrierHold}, true},
		{wire.MethodBarrier, &wire.BarrierRequest{Name: "b", Op: wire.BarrierWait}, false},
		{wire.MethodLeaseKeepAlive, &wire.LeaseKeepAliveRequest{IDs: []int64{1}}, false},
		{"kv.frobnicate", &wire.RangeRequest{Key: []byte("x")}, false},
	}
	for _, mt := range wire.Methods() {
		calls = append(calls, struct {
			method string
			req    any
			write  bool
		}{mt.Name, mt.NewRequest(), mt.IsWrite(mt.NewRequest())})
	}
	for _, cl := range calls {
		require.NoError(t, c.Call(ctx, cl.method, cl.req, nil), cl.method)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Len(t, m.frames, len(calls))
	for i, cl := range calls {
		f := m.frames[i]
		require.Equal(t, cl.method, f.Method)
		require.Equal(t, cl.write, f.Seq != 0, "%s %+v: sequence number %d", cl.method, cl.req, f.Seq)
		if !cl.write {
			require.Zero(t, f.AckBelow, cl.method)
		}
	}
}
