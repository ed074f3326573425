#!/usr/bin/env bash
# Builds an etcd server binary from the Go module proxy, for benchmarks:
#
#   bench/etcd/build.sh OUT [VERSION]     (VERSION defaults to v3.6.5)
#
# It writes a tiny main package calling go.etcd.io/etcd/server/v3/etcdmain.Main
# into a temporary module, builds it to OUT, and removes the module. Nothing
# but Go is needed; no binary is ever committed.
set -euo pipefail

out=${1:?usage: $0 OUT [VERSION]}
version=${2:-v3.6.5}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

# No pipes into grep -q or head: with pipefail, the writer's SIGPIPE when
# they exit early fails the script (exit 141, seen in CI).
if [[ -x "$out" ]] && [[ "$("$out" --version 2>/dev/null)" == *"etcd Version: ${version#v}"* ]]; then
	exit 0 # already built
fi

mod=$(mktemp -d "${TMPDIR:-/tmp}/etcd-build-XXXXXX")
trap 'rm -rf "$mod"' EXIT
cat >"$mod/main.go" <<'GO'
// Command etcd is etcd's server, built from the module proxy for Coord's
// benchmarks.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
(
	cd "$mod"
	export GOFLAGS=-mod=mod GOWORK=off
	go mod init coord-bench/etcd >/dev/null 2>&1
	go get "go.etcd.io/etcd/server/v3@$version" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@$version"
	go mod tidy >/dev/null 2>&1 || go mod tidy
	go build -trimpath -o "$out" .
)
v=$("$out" --version)
echo "${v%%$'\n'*}"
