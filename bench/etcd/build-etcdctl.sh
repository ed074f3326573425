#!/usr/bin/env bash
# Builds etcdctl from the Go module proxy, for the tests that run etcd's own
# command line against Coord's etcd door:
#
#   bench/etcd/build-etcdctl.sh OUT [VERSION]     (VERSION defaults to v3.6.5)
#
# As build.sh does for the server: a tiny main package calling
# go.etcd.io/etcd/etcdctl/v3/ctlv3.MustStart in a temporary module, built to
# OUT, the module removed. Nothing but Go is needed; no binary is committed.
set -euo pipefail

out=${1:?usage: $0 OUT [VERSION]}
version=${2:-v3.6.5}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

# No pipe into grep -q: with pipefail, the writer's SIGPIPE when grep exits
# early fails the test (exit 141).
if [[ -x "$out" ]] && [[ "$("$out" version 2>/dev/null)" == *"etcdctl version: ${version#v}"* ]]; then
	exit 0 # already built
fi

mod=$(mktemp -d "${TMPDIR:-/tmp}/etcdctl-build-XXXXXX")
trap 'rm -rf "$mod"' EXIT
cat >"$mod/main.go" <<'GO'
// Command etcdctl is etcd's command line, built from the module proxy for
// Coord's tests.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
GO
(
	cd "$mod"
	export GOFLAGS=-mod=mod GOWORK=off
	go mod init coord-test/etcdctl >/dev/null 2>&1
	go get "go.etcd.io/etcd/etcdctl/v3@$version" >/dev/null 2>&1 || go get "go.etcd.io/etcd/etcdctl/v3@$version"
	go mod tidy >/dev/null 2>&1 || go mod tidy
	go build -trimpath -o "$out" .
)
