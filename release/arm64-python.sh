#!/usr/bin/env bash
# An arm64 CPython 3.11 to test the aarch64 wheel with on an x86_64 machine: Debian bookworm's
# own packages for arm64, fetched by apt (signatures and hashes checked as usual) into a
# private state directory (the machine's apt configuration is not changed), unpacked under
# target/arm64-python/root, and run through Debian's qemu-user-static. Prints the path of a
# `python` wrapper script; idempotent.
#
#   bash release/arm64-python.sh   then: "$(bash release/arm64-python.sh)" -c 'import platform; print(platform.machine())'
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/target/arm64-python
wrapper=$dir/python
if [ -x "$wrapper" ] && "$wrapper" -c 'import ssl, sqlite3' 2> /dev/null; then
  echo "$wrapper"
  exit 0
fi
if [ ! -x /usr/bin/qemu-aarch64-static ]; then
  echo "arm64-python: qemu-aarch64-static is missing: apt-get install qemu-user-static" >&2
  exit 1
fi
# The interpreter, its standard library, and what the standard library's C modules link.
packages=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 zlib1g
  libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libcrypt1
  libncursesw6 libtinfo6 libreadline8 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 media-types tzdata)
rm -rf "$dir"
mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/root"
touch "$dir/state/status"
apt_opts=(-o "Dir::State=$dir/state" -o "Dir::State::status=$dir/state/status" -o "Dir::Cache=$dir/cache"
  -o APT::Architecture=arm64 -o "APT::Architectures::=arm64" -o APT::Sandbox::User=root)
echo "arm64-python: fetching Debian's arm64 CPython 3.11 (about 15 MB)..." >&2
apt-get "${apt_opts[@]}" -qq update >&2
(cd "$dir/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}" >&2)
for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
cat > "$wrapper" << EOF
#!/bin/sh
# arm64 CPython under qemu (release/arm64-python.sh)
exec /usr/bin/qemu-aarch64-static -L "$dir/root" "$dir/root/usr/bin/python3.11" "\$@"
EOF
chmod +x "$wrapper"
machine=$("$wrapper" -c 'import platform, ssl, sqlite3; print(platform.machine())')
[ "$machine" = aarch64 ] || { echo "arm64-python: the interpreter reports $machine" >&2; exit 1; }
echo "$wrapper"
