package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesBuildWithoutCgo builds coord with CGO_ENABLED=0 and
// checks that `coord serve` refuses to start, naming the reason and the
// static cgo build to use instead: without cgo the Pebble version
// Dragonboat v3.3.8 pins corrupts its heap under load
// (server.ErrBuiltWithoutCgo). The build takes a minute on two cores, so
// it runs without -short only.
func TestServeRefusesBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds coord without cgo (about a minute): runs without -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "coord-nocgo")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build without cgo: %v\n%s", err, out)
	}
	serve := exec.CommandContext(ctx, bin, "serve", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client", freeAddr(t), "--listen-peer", freeAddr(t), "--listen-http", "", "--listen-etcd", "")
	out, err := serve.CombinedOutput()
	if err == nil {
		t.Fatalf("coord serve built without cgo started and exited cleanly:\n%s", out)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-extldflags -static"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("coord serve's error does not name %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("coord serve created its data directory before refusing")
	}
}
