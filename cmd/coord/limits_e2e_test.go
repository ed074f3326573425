package main

import (
	"net"
	"strings"
	"testing"
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

	// A connection that holds the member's only slot (until its handshake
	// times out).
	nc, err := net.Dial("tcp", ep)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	code, _, errOut = runCLI(t, "", "get", "a", "--endpoints", ep, "--timeout", "3s")
	if code != exitError || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, "too many client connections (limit 1)") || strings.Contains(errOut, "is a member running") {
		t.Fatalf("get against a member at its connection limit: exit %d stderr %q", code, errOut)
	}
}
