package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord/wire"
)

// TestCLILimits: what the user sees when a member's limits refuse a
// request: one line naming the limit, exit 1, and no hint that the member
// is not running when it answered.
func TestCLILimits(t *testing.T) {
	metrics := freeAddr(t)
	ep := startServe(t, nil, "--max-connections", "1", "--max-lease-ttl", "1h", "--listen-http", metrics)

	// Every CLI run closes its connection as it exits, but the member
	// frees the slot only once it has read that close: wait for it before
	// each request that needs the slot.
	slotFree := func() {
		t.Helper()
		waitFor(t, 10*time.Second, "the member to count no client connection", func() bool {
			return clientConnections(t, metrics) == "0"
		})
	}
	slotFree() // the connection of startServe's ready check
	code, _, errOut := runCLI(t, "", "lease", "grant", "7200", "--endpoints", ep)
	if code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "lease TTL 7200 s is over the maximum of 3600 s (coord serve --max-lease-ttl)") {
		t.Fatalf("lease grant over the maximum TTL: exit %d stderr %q", code, errOut)
	}

	// A connection that holds the member's only slot: its handshake is
	// answered, so the member has counted it before the CLI dials.
	slotFree()
	nc, err := net.Dial("tcp", ep)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hello, _ := wire.Marshal(&wire.Hello{Magic: wire.Magic, Version: wire.ProtocolVersion, ClientID: 1})
	b, _ := wire.AppendFrame(nil, &wire.Frame{Type: wire.FrameHello, Body: hello})
	var reply wire.Frame
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := wire.NewFrameReader(nc, 0).Read(&reply); err != nil || reply.Err != nil {
		t.Fatalf("handshake of the slot-holding connection: %v %v", err, reply.Err)
	}
	code, _, errOut = runCLI(t, "", "get", "a", "--endpoints", ep, "--timeout", "3s")
	if code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "too many client connections (limit 1)") || strings.Contains(errOut, "is a member running") {
		t.Fatalf("get against a member at its connection limit: exit %d stderr %q", code, errOut)
	}
}

// clientConnections reads the coord_client_connections gauge of the
// member whose HTTP address is addr ("" if it cannot).
func clientConnections(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "coord_client_connections "); ok {
			return v
		}
	}
	return ""
}
