#!/usr/bin/env bash
# Builds the Docker image coord:latest from this tree with Go and Docker only:
#
#   deploy/docker/build.sh [TAG]          (TAG defaults to coord:latest)
#
# The image is FROM scratch (no base image is pulled): one static binary at
# /usr/local/bin/coord, on the PATH (so `docker compose exec coord1 coord ...`
# works). It is built WITH cgo (Pebble, under Dragonboat, corrupts memory
# without it; a CGO_ENABLED=0 coord refuses to serve), linked statically
# against glibc with Go's own user and DNS lookups (osusergo, netgo). The
# build context is a temporary directory holding only the binary and the
# Dockerfile, so the context is a few tens of megabytes whatever the tree holds.
#
# The container runs `coord serve` configured from COORD_* variables (every
# serve flag has one: COORD_NAME, COORD_INITIAL_CLUSTER, ...). The image sets
# the data directory to /data and the client, HTTP and etcd listeners to
# 0.0.0.0; the Raft peer address (COORD_LISTEN_PEER) must be an address the
# other members reach this container at. compose.yaml beside this file runs
# three members.
set -euo pipefail

tag=${1:-coord:latest}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# COORD_VERSION, when set, is the version `coord version` and the members
# report; the image is labelled with the tree's commit either way.
revision=$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo unknown)
ldflags="-linkmode external -extldflags -static"
if [[ -n "${COORD_VERSION:-}" ]]; then
	ldflags="-X main.version=$COORD_VERSION -X github.com/coord-io/coord/coord/server.Version=$COORD_VERSION $ldflags"
fi

ctx=$(mktemp -d "${TMPDIR:-/tmp}/coord-image-XXXXXX")
trap 'rm -rf "$ctx"' EXIT

(
	cd "$root"
	CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
		-ldflags "$ldflags" \
		-o "$ctx/coord" ./cmd/coord
)
# A dynamic binary would not start in an empty image.
if command -v file >/dev/null && ! file "$ctx/coord" | grep -q 'statically linked'; then
	echo "build.sh: $ctx/coord is not statically linked" >&2
	exit 1
fi

cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY coord /usr/local/bin/coord
ENV PATH=/usr/local/bin \
    COORD_DATA_DIR=/data \
    COORD_LISTEN_CLIENT=0.0.0.0:7379 \
    COORD_LISTEN_HTTP=0.0.0.0:7381 \
    COORD_LISTEN_ETCD=0.0.0.0:2379
VOLUME /data
# client, Raft peer, HTTP (/metrics, /healthz, /readyz, /status), etcd door
EXPOSE 7379 7380 7381 2379
ENTRYPOINT ["/usr/local/bin/coord"]
CMD ["serve"]
DOCKERFILE

# The classic builder needs nothing beyond the engine (BuildKit may be
# missing: `docker buildx` is a separate plugin).
DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --quiet \
	--label "org.opencontainers.image.revision=$revision" -t "$tag" "$ctx" >/dev/null
echo "built $tag ($("$ctx/coord" version), tree $revision)"
