#!/usr/bin/env bash
# Runs podman with the container tests' own storage, so that the images cached
# here (the base image stand-in, build layers) neither disturb nor depend on any
# other podman use on the machine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
storage=${SSE_GATEWAY_PODMAN_STORAGE:-/var/tmp/sse-gateway-podman}
export CONTAINERS_CONF="$here/containers.conf"
exec podman \
  --root "$storage/graph" \
  --runroot /run/sse-gateway-podman/storage \
  --tmpdir /run/sse-gateway-podman/libpod \
  --storage-driver overlay \
  --cgroup-manager cgroupfs \
  --runtime runc \
  "$@"
