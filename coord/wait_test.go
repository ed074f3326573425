package coord

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// waitingMember answers the handshake, leaves every Lock write waiting after
// its intermediate response, and answers every other call at once; it
// records the AckBelow of the writes it sees.
type waitingMember struct {
	ln      net.Listener
	mu      sync.Mutex
	lockSeq uint64
	acks    []uint64 // AckBelow of each put
}

func startWaitingMember(t *testing.T) *waitingMember {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &waitingMember{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go m.serve(nc)
		}
	}()
	return m
}

func (m *waitingMember) serve(nc net.Conn) {
	defer nc.Close()
	fr := wire.NewFrameReader(nc, 0)
	send := func(f *wire.Frame) bool {
		b, _ := wire.AppendFrame(nil, f)
		_, err := nc.Write(b)
		return err == nil
	}
	var f wire.Frame
	if fr.Read(&f) != nil {
		return
	}
	hello, _ := wire.Marshal(&wire.HelloResponse{Version: wire.ProtocolVersion, Member: "fake", Shards: 1, ClusterID: 1})
	if !send(&wire.Frame{Type: wire.FrameHello, Body: hello}) {
		return
	}
	for {
		f := new(wire.Frame)
		if fr.Read(f) != nil || f.Type != wire.FrameRequest && f.Type != wire.FrameCancel {
			return
		}
		if f.Type == wire.FrameCancel {
			continue
		}
		m.mu.Lock()
		switch f.Method {
		case wire.MethodLock:
			m.lockSeq = f.Seq
		case wire.MethodPut:
			m.acks = append(m.acks, f.AckBelow)
		}
		m.mu.Unlock()
		if f.Method == wire.MethodLock {
			body, _ := wire.Marshal(&wire.LockResponse{Key: []byte("owner")})
			if !send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID, More: true, Body: body}) {
				return
			}
			continue
		}
		if !send(&wire.Frame{Type: wire.FrameResponse, ID: f.ID, Body: []byte{0x80}}) {
			return
		}
	}
}

// TestWaitFinishesItsWriteWhenQueued: once the server says a waiting
// call's write is applied (its intermediate response), the client's
// acknowledgement watermark moves past it although the call still waits:
// later writes carry an AckBelow above its sequence number.
func TestWaitFinishesItsWriteWhenQueued(t *testing.T) {
	m := startWaitingMember(t)
	c, err := New(Config{Endpoints: []string{m.ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Wait(ctx, Waiting{
			Method: wire.MethodLock,
			Write:  &wire.LockRequest{Name: "L", Lease: 1},
			Resume: func(key []byte) any { return &wire.LockRequest{Name: "L", Lease: 1, Resume: key} },
			Key:    func([]byte) ([]byte, error) { return []byte("owner"), nil },
		}, &wire.LockResponse{})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m.mu.Lock()
		seq := m.lockSeq
		m.mu.Unlock()
		if seq != 0 && c.ackBelow() > seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiting write (seq %d) still holds the watermark at %d", seq, c.ackBelow())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	seq, acks := m.lockSeq, append([]uint64(nil), m.acks...)
	m.mu.Unlock()
	for _, a := range acks {
		if a <= seq {
			t.Fatalf("a write sent AckBelow %d while the Lock (seq %d) waits", a, seq)
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the wait returned no error when cancelled")
	}
}
