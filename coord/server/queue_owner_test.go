package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/wire"
	"github.com/coord-io/coord/queue"
)

// TestQueueForeignAckRefused: an ack (or nack) of an item in flight for
// another consumer, with the right sequence number and delivery but not
// the delivery's receipt, is refused with ErrNotOwner and changes
// nothing; the consumer's own ack then completes the item.
func TestQueueForeignAckRefused(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	_, err := queue.New(c, "own").Enqueue(ctx, "a", "b")
	require.NoError(t, err)
	cons := queue.New(c, "own")
	defer cons.Close()
	it, err := cons.TryDequeue(ctx)
	require.NoError(t, err)

	other := queue.New(tc.client(), "own")
	defer other.Close()
	forged := &queue.Item{Seq: it.Seq, Deliveries: it.Deliveries}
	require.ErrorIs(t, other.Ack(ctx, forged), coord.ErrNotOwner, "an ack by sequence number alone")
	require.ErrorIs(t, other.Nack(ctx, forged), coord.ErrNotOwner, "a nack by sequence number alone")
	forged.Receipt = it.Receipt + 1
	require.ErrorIs(t, other.Ack(ctx, forged), coord.ErrNotOwner, "an ack with a wrong receipt")
	require.ErrorIs(t, other.AckSeq(ctx, it.Seq, it.Receipt+1), coord.ErrNotOwner, "AckSeq with a wrong receipt")
	ready, inFlight, err := other.Len(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, ready)
	require.EqualValues(t, 1, inFlight, "the item stays in flight for its consumer")

	// Another consumer's own delivery is no receipt for this one.
	mine, err := other.TryDequeue(ctx)
	require.NoError(t, err)
	require.ErrorIs(t, other.Ack(ctx, &queue.Item{Seq: it.Seq, Deliveries: it.Deliveries, Receipt: mine.Receipt}), coord.ErrNotOwner)

	require.NoError(t, cons.Ack(ctx, it), "the consumer's own ack")
	require.NoError(t, other.AckSeq(ctx, mine.Seq, mine.Receipt), "AckSeq with the receipt")
	ready, inFlight, err = other.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, ready+inFlight)
	require.ErrorIs(t, cons.Ack(ctx, it), coord.ErrNotFound, "acked already")
}

// TestQueueDequeueRetryDeliversOnce: a Dequeue whose answer was lost and
// that the client sends again with the same sequence number (here through
// another member) gets the same delivery back: no second item taken, no
// delivery counted that nobody saw.
func TestQueueDequeueRetryDeliversOnce(t *testing.T) {
	tc := newTestCluster(t, 3, 1)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	q := queue.New(c, "once", queue.WithMaxDeliveries(1))
	_, err := q.Enqueue(ctx, "a", "b")
	require.NoError(t, err)
	g, err := c.Grant(ctx, 30)
	require.NoError(t, err)

	dial := func(addr string) (net.Conn, *wire.FrameReader) {
		nc, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { nc.Close() })
		fr := wire.NewFrameReader(nc, 0)
		hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 4343})
		r := rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello})
		require.Nil(t, r.Err)
		return nc, fr
	}
	body, _ := wire.Marshal(&wire.DequeueRequest{Name: "once", Lease: g.ID, VisibilitySeconds: 30})
	deq := &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodDequeue, Seq: 1, AckBelow: 1, TimeoutMillis: 5000, Body: body}

	nc1, fr1 := dial(tc.Config(0).ListenClient)
	r1 := rawCall(t, nc1, fr1, deq)
	require.Nil(t, r1.Err)
	nc2, fr2 := dial(tc.Config(1).ListenClient)
	r2 := rawCall(t, nc2, fr2, deq)
	require.Nil(t, r2.Err)
	var d1, d2 wire.DequeueResponse
	require.NoError(t, wire.Unmarshal(r1.Body, &d1))
	require.NoError(t, wire.Unmarshal(r2.Body, &d2))
	require.Equal(t, "a", string(d1.Item.Value))
	require.EqualValues(t, 1, d1.Item.Deliveries)
	require.Equal(t, d1.Item, d2.Item, "the retry answers the same delivery")

	ready, inFlight, err := q.Len(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, ready, "b was not taken by the retry")
	require.EqualValues(t, 1, inFlight)
	dead, _, err := queue.New(c, "once.dead").Len(ctx)
	require.NoError(t, err)
	require.Zero(t, dead)

	// The delivery the client saw is the one in flight: its ack works.
	require.NoError(t, q.Ack(ctx, &d1.Item))
	// A new sequence number is a new dequeue.
	deq.Seq, deq.ID = 2, 2
	r3 := rawCall(t, nc2, fr2, deq)
	require.Nil(t, r3.Err)
	var d3 wire.DequeueResponse
	require.NoError(t, wire.Unmarshal(r3.Body, &d3))
	require.Equal(t, "b", string(d3.Item.Value))

	// A dequeue that asks the write itself to wait is refused: it would
	// hold its sequence number for the whole wait.
	wbody, _ := wire.Marshal(&wire.DequeueRequest{Name: "once", Lease: g.ID, VisibilitySeconds: 30, Wait: true})
	r4 := rawCall(t, nc2, fr2, &wire.Frame{Type: wire.FrameRequest, ID: 3, Method: wire.MethodDequeue, Seq: 3, AckBelow: 3, TimeoutMillis: 5000, Body: wbody})
	require.NotNil(t, r4.Err)
	require.Equal(t, wire.CodeInvalid, r4.Err.Code, "%v", r4.Err)
}

// frameTap is a TCP proxy in front of one member that decodes the
// client's frames as they pass and records every write's (Seq, AckBelow).
type frameTap struct {
	ln     net.Listener
	mu     sync.Mutex
	writes []wire.Frame // requests: Method, Seq and AckBelow only
	conns  []net.Conn
}

// cut closes every connection through the tap (the client's and the
// member's side), as a network failure would.
func (ft *frameTap) cut() {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, c := range ft.conns {
		c.Close()
	}
	ft.conns = nil
}

// count returns how many requests of method passed.
func (ft *frameTap) count(method string) int {
	n := 0
	for _, f := range ft.frames() {
		if f.Method == method {
			n++
		}
	}
	return n
}

func newFrameTap(t *testing.T, target string) *frameTap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ft := &frameTap{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		ft.cut()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			cc, err := ln.Accept()
			if err != nil {
				return
			}
			sc, err := net.Dial("tcp", target)
			if err != nil {
				cc.Close()
				continue
			}
			ft.mu.Lock()
			ft.conns = append(ft.conns, cc, sc)
			ft.mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(cc, sc); cc.Close() }()
			go func() {
				// Each request is recorded before its last byte is passed
				// on, so once its answer is back frames() includes it.
				defer wg.Done()
				defer sc.Close()
				var pending bytes.Buffer
				fr := wire.NewFrameReader(io.TeeReader(cc, &pending), 0)
				for {
					var f wire.Frame
					if err := fr.Read(&f); err != nil {
						_, _ = sc.Write(pending.Bytes())
						_, _ = io.Copy(sc, cc)
						return
					}
					if f.Type == wire.FrameRequest {
						ft.mu.Lock()
						ft.writes = append(ft.writes, wire.Frame{Method: f.Method, Seq: f.Seq, AckBelow: f.AckBelow})
						ft.mu.Unlock()
					}
					if _, err := sc.Write(pending.Bytes()); err != nil {
						return
					}
					pending.Reset()
				}
			}()
		}
	}()
	return ft
}

func (ft *frameTap) frames() []wire.Frame {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return append([]wire.Frame(nil), ft.writes...)
}

// TestQueueWaitingDequeueKeepsAckWatermark: a consumer blocked in
// Dequeue does not hold back its client's acknowledgement watermark, so
// the 3,000 other writes the client makes meanwhile are acknowledged as
// they finish (its exactly-once record stays small, and none of them is
// ever answered "duplicate"); the blocked Dequeue still gets the next item.
func TestQueueWaitingDequeueKeepsAckWatermark(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 60*time.Second)
	tap := newFrameTap(t, tc.Config(0).ListenClient)
	c := tc.client(tap.ln.Addr().String())
	cons := queue.New(c, "idle")
	defer cons.Close()
	got := make(chan *queue.Item, 1)
	errc := make(chan error, 1)
	go func() {
		it, err := cons.Dequeue(ctx)
		if err != nil {
			errc <- err
			return
		}
		got <- it
	}()
	// The consumer has asked for an item.
	require.Eventually(t, func() bool {
		for _, f := range tap.frames() {
			if f.Method == wire.MethodDequeue {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)

	const writes, workers = 3000, 16
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := c.Put(ctx, fmt.Sprintf("k%d", i%50), "v"); err != nil {
					t.Errorf("put %d: %v", i, err)
				}
			}
		}()
	}
	for i := 0; i < writes; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	require.False(t, t.Failed())

	var last wire.Frame
	puts := 0
	for _, f := range tap.frames() {
		if f.Method == wire.MethodPut {
			puts++
			if f.Seq > last.Seq {
				last = f
			}
		}
	}
	require.Equal(t, writes, puts, "each put sent once")
	// At most `workers` puts were unfinished when the last was sent: the
	// watermark trails it by about that much, not by every write since the
	// Dequeue began.
	require.GreaterOrEqual(t, last.AckBelow+2*workers, last.Seq,
		"the last put (seq %d) acknowledges only below %d: the waiting Dequeue holds the watermark back", last.Seq, last.AckBelow)

	select {
	case err := <-errc:
		t.Fatalf("Dequeue: %v", err)
	default:
	}
	_, err := queue.New(tc.client(), "idle").Enqueue(ctx, "x")
	require.NoError(t, err)
	select {
	case it := <-got:
		require.Equal(t, "x", string(it.Value))
		require.NoError(t, cons.Ack(ctx, it))
	case err := <-errc:
		t.Fatalf("Dequeue: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Dequeue did not get the item")
	}
}

// TestQueueWaitCutOffLosesNothing: a consumer waiting in Dequeue whose
// wait is cut off (its connection breaks, twice) waits again and gets the
// next item, delivered once; nothing was taken for it while it waited.
func TestQueueWaitCutOffLosesNothing(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 60*time.Second)
	tap := newFrameTap(t, tc.Config(0).ListenClient)
	cons := queue.New(tc.client(tap.ln.Addr().String()), "cut")
	defer cons.Close()
	got := make(chan *queue.Item, 1)
	errc := make(chan error, 1)
	go func() {
		it, err := cons.Dequeue(ctx)
		if err != nil {
			errc <- err
			return
		}
		got <- it
	}()
	for waits := 1; waits <= 3; waits++ {
		require.Eventually(t, func() bool { return tap.count(wire.MethodQueueWait) >= waits }, 10*time.Second, 5*time.Millisecond,
			"wait call %d", waits)
		if waits < 3 {
			tap.cut()
		}
	}
	q := queue.New(tc.client(), "cut")
	ready, inFlight, err := q.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, ready+inFlight, "nothing taken while waiting")
	_, err = q.Enqueue(ctx, "x")
	require.NoError(t, err)
	select {
	case it := <-got:
		require.Equal(t, "x", string(it.Value))
		require.EqualValues(t, 1, it.Deliveries)
		require.NoError(t, cons.Ack(ctx, it))
	case err := <-errc:
		t.Fatalf("Dequeue: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Dequeue did not get the item")
	}
	ready, inFlight, err = q.Len(ctx)
	require.NoError(t, err)
	require.Zero(t, ready+inFlight)
}

// TestQueueLateDequeueRetryNotReported: a Dequeue retried (same sequence
// number) after its delivery ended — the answer was lost and the
// visibility timeout ran out meanwhile, so the item is back in the queue
// for others — is not answered with that delivery (the client would work
// on an item it no longer holds) but with ErrNotFound, on which the client
// dequeues again.
func TestQueueLateDequeueRetryNotReported(t *testing.T) {
	tc := newTestCluster(t, 1, 1)
	ctx := ctxT(t, 30*time.Second)
	c := tc.client()
	q := queue.New(c, "late")
	_, err := q.Enqueue(ctx, "a")
	require.NoError(t, err)
	g, err := c.Grant(ctx, 30)
	require.NoError(t, err)

	nc, err := net.Dial("tcp", tc.Config(0).ListenClient)
	require.NoError(t, err)
	defer nc.Close()
	fr := wire.NewFrameReader(nc, 0)
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 4444})
	require.Nil(t, rawCall(t, nc, fr, &wire.Frame{Type: wire.FrameHello, Body: hello}).Err)
	body, _ := wire.Marshal(&wire.DequeueRequest{Name: "late", Lease: g.ID, VisibilitySeconds: 1})
	deq := &wire.Frame{Type: wire.FrameRequest, ID: 1, Method: wire.MethodDequeue, Seq: 1, AckBelow: 1, TimeoutMillis: 5000, Body: body}
	r1 := rawCall(t, nc, fr, deq)
	require.Nil(t, r1.Err)
	require.Eventually(t, func() bool {
		ready, _, err := q.Len(ctx)
		return err == nil && ready == 1
	}, 10*time.Second, 20*time.Millisecond, "back in the queue after the visibility timeout")

	deq.ID = 2
	r2 := rawCall(t, nc, fr, deq)
	require.NotNil(t, r2.Err, "the ended delivery must not be reported")
	require.Equal(t, wire.CodeNotFound, r2.Err.Code, "%v", r2.Err)
	require.Contains(t, r2.Err.Message, "dequeue again")
	ready, inFlight, err := q.Len(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, ready)
	require.Zero(t, inFlight)
}
