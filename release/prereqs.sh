#!/usr/bin/env bash
# The Debian packages the full release build needs besides Rust and Python, checked before
# its first build step (release/build.sh runs this first): Debian's musl, through which
# auditwheel resolves the musllinux wheel's C library, and qemu-user-static, which runs the
# arm64 artifacts for their checks. As root the missing ones are installed, as .ci/run and the
# tests install their tools; otherwise all of them are named in one line.
#
#   bash release/prereqs.sh          check, and install what is missing (as root)
#   bash release/prereqs.sh --list   print the missing packages, one a line; install nothing
set -euo pipefail
missing=()
[ -e "${UIDGATE_MUSL_LIBC:-/usr/lib/x86_64-linux-musl/libc.so}" ] || missing+=(musl)
command -v qemu-aarch64-static > /dev/null || missing+=(qemu-user-static)
if [ "${1:-}" = --list ]; then
  [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
  exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "release: the full build needs Debian's ${missing[*]}: apt-get install ${missing[*]} (as root), then run it again" >&2
  exit 1
fi
echo "release: installing Debian's ${missing[*]} before the first build step (apt-get)" >&2
apt-get update -qq > /dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}" > /dev/null
