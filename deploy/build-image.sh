#!/usr/bin/env bash
# Build the denytrail container image from a release binary that is already
# built, with no registry: the image is FROM scratch and holds the stripped
# binary, the shared libraries it links (found with ldd, copied at the same
# paths), the CA bundle, /etc/passwd and /etc/group with the nonroot user
# (65532) and the empty state directory /var/lib/denytrail.
#
#   bash deploy/build-image.sh TAG [BINARY]
#
# BINARY defaults to $CARGO_TARGET_DIR/release/denytrail, else
# target/release/denytrail (build it with `cargo build --release`). The
# debug info stripped from the binary is kept in DEBUG_FILE (default: the
# binary's path + .debug), linked from the binary with a .gnu_debuglink.
# The image has the runtime layout of deploy/Dockerfile: same paths, user,
# volume and entrypoint.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "usage: $0 TAG [BINARY]" >&2
  exit 2
fi
tag=$1
binary=${2:-}
if [ -z "$binary" ]; then
  if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -x "$CARGO_TARGET_DIR/release/denytrail" ]; then
    binary=$CARGO_TARGET_DIR/release/denytrail
  else
    binary=$repo/target/release/denytrail
  fi
fi
if [ ! -x "$binary" ]; then
  echo "$0: no executable at $binary: run \`cargo build --release\` or pass the binary" >&2
  exit 1
fi
for tool in docker ldd objcopy; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is not installed" >&2; exit 1; }
done
ca=/etc/ssl/certs/ca-certificates.crt
if [ ! -s "$ca" ]; then
  echo "$0: no CA bundle at $ca: apt-get install ca-certificates" >&2
  exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
install -d -m 0755 "$root/usr/local/bin" "$root/etc/ssl/certs"
# The state directory, 0750 and owned by nonroot (as in deploy/Dockerfile):
# a tar that ADD unpacks with its owner and mode, whoever runs this script.
install -d -m 0750 "$ctx/state/var/lib/denytrail"
tar --numeric-owner --owner=65532 --group=65532 --no-recursion \
  -cf "$ctx/state.tar" -C "$ctx/state" var/lib/denytrail

# The binary, stripped; its debug info beside it on the host.
debug=${DEBUG_FILE:-$binary.debug}
objcopy --only-keep-debug "$binary" "$debug"
objcopy --strip-all --remove-section=.gnu_debuglink "$binary" "$root/usr/local/bin/denytrail"
objcopy --add-gnu-debuglink="$debug" "$root/usr/local/bin/denytrail"
chmod 0755 "$root/usr/local/bin/denytrail"

# Its shared libraries at the paths the loader looks for them (the loader
# itself at the binary's PT_INTERP path). glibc >= 2.34 has the files and dns
# NSS modules and libresolv inside libc.so.6, so /etc/hosts and DNS work
# without libnss_* files.
libs=$(ldd "$binary" | awk '
  $2 == "=>" && $3 ~ /^\// { print $3; next }
  $1 ~ /^\// { print $1 }')
if [ -z "$libs" ]; then
  echo "$0: ldd found no shared library in $binary (a static binary needs none; this script expects glibc)" >&2
fi
for lib in $libs; do
  install -d -m 0755 "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

cp -L "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' \
  'root:x:0:0:root:/root:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$root/etc/group"
# Names from /etc/hosts first, then DNS (glibc's default without this file
# asks DNS first).
printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"

cp "$repo/deploy/Dockerfile.scratch" "$ctx/Dockerfile"
docker build --quiet -t "$tag" "$ctx" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "$tag $size bytes"
