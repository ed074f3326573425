package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coord-io/coord/coord"
)

// TestCLIGetWatchLarge is the scenario of issue 11 item 6: 24 values of
// 512 KiB under one prefix, more than one response frame may carry. `get
// --prefix` prints all 24, `watch --prefix --rev 1` prints all 24 events,
// and the member keeps serving.
func TestCLIGetWatchLarge(t *testing.T) {
	ep := startMemberShards(t, 1)
	c := cliAt{t, ep}
	cl, err := coord.New(coord.Config{Endpoints: []string{ep}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var want strings.Builder
	var events strings.Builder
	for i := 0; i < 24; i++ {
		k := fmt.Sprintf("big/%02d", i)
		v := string(bytes.Repeat([]byte{byte('a' + i)}, 512<<10))
		if _, err := cl.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
		want.WriteString(k + "\n" + v + "\n")
		events.WriteString(watchBlock("PUT", k, v))
	}

	if out := c.ok("*", "get", "big/", "--prefix"); out != want.String() {
		t.Fatalf("get --prefix printed %d lines, want %d", strings.Count(out, "\n"), 48)
	}
	c.ok("24\n", "get", "big/", "--prefix", "--count-only", "-w", "simple")

	w := startBG(t, ep, "watch", "big/", "--prefix", "--rev", "1")
	waitFor(t, 30*time.Second, "24 events", func() bool {
		w.running(t)
		return len(w.stdout.String()) >= events.Len()
	})
	c.ok("OK\n", "put", "small", "x")
	if code := w.stop(t); code != 0 {
		t.Fatalf("watch exit %d, stderr %q", code, w.stderr.String())
	}
	if out := w.stdout.String(); out != events.String() {
		t.Fatalf("watch printed %d lines, want %d", strings.Count(out, "\n"), 72)
	}
}
