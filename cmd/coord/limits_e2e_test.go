package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// TestCLILimits: what the user sees when a member's limits refuse a
// request: one line naming the limit, exit 1, and no hint that the member
// is not running when it answered.
func TestCLILimits(t *testing.T) {
	ep := startServe(t, nil, "--max-connections", "1", "--max-lease-ttl", "1h")

	code, _, errOut := runCLI(t, "", "lease", "grant", "7200", "--endpoints", ep)
	if code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "lease TTL 7200 s is over the maximum of 3600 s (coord serve --max-lease-ttl)") {
		t.Fatalf("lease grant over the maximum TTL: exit %d stderr %q", code, errOut)
	}

	// A connection that holds the member's only slot: its handshake is
	// answered, so the member has counted it before the CLI dials. (The
	// member may still be closing the connection of the command above:
	// try again until the slot is ours.)
	var nc net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if nc, err = net.Dial("tcp", ep); err != nil {
			t.Fatal(err)
		}
		hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 1})
		b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: hello})
		var reply wire.Frame
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
		err = wire.NewFrameReader(nc, 0).Read(&reply)
		if err == nil && reply.Err == nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatalf("handshake of the slot-holding connection: %v %v", err, reply.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer nc.Close()
	code, _, errOut = runCLI(t, "", "get", "a", "--endpoints", ep, "--timeout", "3s")
	if code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "too many client connections (limit 1)") || strings.Contains(errOut, "is a member running") {
		t.Fatalf("get against a member at its connection limit: exit %d stderr %q", code, errOut)
	}
}
